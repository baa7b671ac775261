//! The error of setting up transports: connecting a channel, binding a server.
//!
//! Call outcomes are [`Status`](crate::Status) values; this type is for what happens before and
//! around calls. It is opaque, like hyper's: ask it with the `is_*` predicates.

use std::fmt;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A transport setup error.
pub struct Error {
    kind: Kind,
    message: String,
    source: Option<BoxError>,
    /// The message already says what the source does: Display does not repeat it.
    source_told: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    InvalidAddress,
    Tls,
    Io,
    Connect,
    Handshake,
    Timeout,
}

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
            source_told: false,
        }
    }

    pub(crate) fn with(
        kind: Kind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error {
            kind,
            message: message.into(),
            source: Some(source.into()),
            source_told: false,
        }
    }

    /// An error whose `message` already describes `source` (kept for `source()`).
    pub(crate) fn told(
        kind: Kind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Error {
            source_told: true,
            ..Error::with(kind, message, source)
        }
    }

    /// A connection attempt that failed, for [`Connector`](crate::transport::Connector)s of
    /// other transports ([`is_connect`](Self::is_connect) holds).
    pub fn connect_failed(message: impl Into<String>) -> Self {
        Error::new(Kind::Connect, message)
    }

    /// A connection attempt that took too long, for
    /// [`Connector`](crate::transport::Connector)s of other transports
    /// ([`is_timeout`](Self::is_timeout) holds).
    pub fn connect_timed_out(message: impl Into<String>) -> Self {
        Error::new(Kind::Timeout, message)
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The address could not be parsed or resolved.
    pub fn is_invalid_address(&self) -> bool {
        self.kind == Kind::InvalidAddress
    }

    /// The TLS configuration was rejected (bad certificate, key or PEM).
    pub fn is_tls(&self) -> bool {
        self.kind == Kind::Tls
    }

    /// A socket operation failed.
    pub fn is_io(&self) -> bool {
        self.kind == Kind::Io
    }

    /// The connection could not be established (refused, unreachable, closed during setup).
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::Connect | Kind::Handshake | Kind::Timeout)
    }

    /// The handshake failed: certificate not trusted, or the peer does not speak this protocol
    /// version (ALPN mismatch).
    pub fn is_handshake(&self) -> bool {
        self.kind == Kind::Handshake
    }

    /// Connecting took longer than the handshake timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match &self.source {
            Some(s) if !self.source_told => write!(f, ": {s}")?,
            _ => {}
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::tls::TlsError> for Error {
    fn from(e: crate::tls::TlsError) -> Self {
        Error::with(Kind::Tls, "invalid tls configuration", e)
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}
