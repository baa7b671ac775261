//! A WebTransport session as a connection of rpc-core's transport seam: its bidirectional
//! streams carry one call each, in qrpc/1 framing (PROTOCOL.md §19).
//!
//! The streams' bytes go through quinn's own stream types (wtransport hands them over after
//! the WebTransport stream header); only the error codes differ from qrpc over QUIC, moved
//! into WebTransport's range of HTTP/3 codes ([`crate::codes`]).

use crate::codes::{self, Received};
use bytes::Bytes;
use futures_util::FutureExt as _;
use rpc_core::transport::{
    BidiStream, Connection, ConnectionError, ConnectionStats, RecvStream, SendStream, StreamError,
};
use rpc_core::wire::ErrorCode;
use std::future::Future;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;
use wtransport::VarInt;

/// What the server knows of the WebTransport session a call came on: in the extensions of
/// every call it carries, so a handler can tell, if it asks
/// (`request.extensions().get::<WebTransportCall>()`); calls over QUIC have none.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebTransportCall {
    /// The session request's `:authority`.
    pub authority: String,
    /// The session request's `:path`.
    pub path: String,
    /// The page's origin, as the browser sent it (`None` from non-browser clients).
    pub origin: Option<String>,
}

/// A WebTransport session: client side (from [`WebTransportConnector`](crate::WebTransportConnector))
/// or server side (handed to the rpc-core server by
/// [`BoundWebTransportServer::serve`](crate::BoundWebTransportServer::serve)).
pub struct WebTransportConnection {
    conn: wtransport::Connection,
    /// Server side: put in each call's extensions.
    call: Option<WebTransportCall>,
}

impl std::fmt::Debug for WebTransportConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransportConnection")
            .field("remote", &self.conn.remote_address())
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

impl WebTransportConnection {
    pub(crate) fn new(conn: wtransport::Connection, call: Option<WebTransportCall>) -> Self {
        WebTransportConnection { conn, call }
    }

    fn bidi(
        &self,
        (send, recv): (wtransport::SendStream, wtransport::RecvStream),
    ) -> BidiStream<Self> {
        (
            WebTransportSend(send),
            WebTransportRecv {
                stream: recv,
                extensions: self.call.clone().map(|call| {
                    let mut ext = http::Extensions::new();
                    ext.insert(call);
                    ext
                }),
            },
        )
    }
}

/// The rpc-core view of a wtransport connection error.
fn conn_error(e: wtransport::error::ConnectionError) -> ConnectionError {
    use wtransport::error::ConnectionError as E;
    match &e {
        E::ApplicationClosed(close) => match u32::try_from(close.code().into_inner()) {
            Ok(code) => ConnectionError::closed(ErrorCode(code), e.to_string()),
            Err(_) => ConnectionError::new(e.to_string()),
        },
        _ => ConnectionError::new(e.to_string()),
    }
}

/// The stream error of a received HTTP/3 code (`reset`: of a `RESET_STREAM`, else of a
/// `STOP_SENDING`).
fn received(code: quinn::VarInt, reset: bool) -> StreamError {
    match codes::from_http3(code.into_inner()) {
        Received::Code(c) if reset => StreamError::Reset(c),
        Received::Code(c) => StreamError::Stopped(c),
        Received::SessionGone => {
            StreamError::ConnectionLost(ConnectionError::new("WebTransport session gone"))
        }
    }
}

fn quinn_conn_error(e: quinn::ConnectionError) -> StreamError {
    match e {
        quinn::ConnectionError::ApplicationClosed(close) => {
            let message = format!("closed by the peer: {close}");
            match u32::try_from(close.error_code.into_inner()) {
                Ok(code) => {
                    StreamError::ConnectionLost(ConnectionError::closed(ErrorCode(code), message))
                }
                Err(_) => StreamError::ConnectionLost(ConnectionError::new(message)),
            }
        }
        e => StreamError::ConnectionLost(ConnectionError::new(e.to_string())),
    }
}

fn http3(code: ErrorCode) -> quinn::VarInt {
    // Codes are 32-bit, so their image is far below 2^62.
    quinn::VarInt::from_u64(codes::to_http3(code)).unwrap_or(quinn::VarInt::MAX)
}

impl Connection for WebTransportConnection {
    type SendStream = WebTransportSend;
    type RecvStream = WebTransportRecv;

    async fn open_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        // Dropped before it completes, the stream (if QUIC opened it) is dropped with its
        // WebTransport header at most half written: no call starts on it.
        let opening = self.conn.open_bi().await.map_err(conn_error)?;
        let bidi = opening
            .await
            .map_err(|e| ConnectionError::new(e.to_string()))?;
        Ok(self.bidi(bidi))
    }

    async fn accept_bi(&self) -> Result<BidiStream<Self>, ConnectionError> {
        let bidi = self.conn.accept_bi().await.map_err(conn_error)?;
        Ok(self.bidi(bidi))
    }

    fn close(&self, code: ErrorCode, reason: &[u8]) {
        self.conn.close(VarInt::from_u32(code.0), reason);
    }

    fn close_reason(&self) -> Option<ConnectionError> {
        let reason = self.conn.quic_connection().close_reason()?;
        Some(match quinn_conn_error(reason) {
            StreamError::ConnectionLost(c) => c,
            other => ConnectionError::new(other.to_string()),
        })
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        Some(self.conn.remote_address())
    }

    fn rtt(&self) -> Option<Duration> {
        Some(self.conn.rtt())
    }

    async fn closed(&self) {
        self.conn.closed().await;
    }

    fn stats(&self) -> Option<ConnectionStats> {
        Some(rpc_core::transport::quic::stats(
            self.conn.quic_connection(),
        ))
    }
}

/// The sending half of a call's WebTransport stream.
pub struct WebTransportSend(wtransport::SendStream);

impl std::fmt::Debug for WebTransportSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WebTransportSend")
            .field(&self.0.id())
            .finish()
    }
}

fn write_error(e: quinn::WriteError) -> StreamError {
    match e {
        quinn::WriteError::Stopped(c) => received(c, false),
        quinn::WriteError::ConnectionLost(c) => quinn_conn_error(c),
        quinn::WriteError::ZeroRttRejected => StreamError::ZeroRttRejected,
        quinn::WriteError::ClosedStream => StreamError::Closed,
    }
}

fn read_error(e: quinn::ReadError) -> StreamError {
    match e {
        quinn::ReadError::Reset(c) => received(c, true),
        quinn::ReadError::ConnectionLost(c) => quinn_conn_error(c),
        quinn::ReadError::ZeroRttRejected => StreamError::ZeroRttRejected,
        quinn::ReadError::ClosedStream | quinn::ReadError::IllegalOrderedRead => {
            StreamError::Closed
        }
    }
}

impl SendStream for WebTransportSend {
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Bytes,
    ) -> Poll<Result<(), StreamError>> {
        // As over QUIC: `write_chunks` is a poll function behind an async signature, so a
        // fresh future per poll loses nothing; what it did not take stays in the array.
        let mut bufs = [std::mem::take(data)];
        let res = std::pin::pin!(self.0.quic_stream_mut().write_chunks(&mut bufs)).poll(cx);
        *data = std::mem::take(&mut bufs[0]);
        res.map(|r| r.map(drop).map_err(write_error))
    }

    fn finish(&mut self) {
        let _ = self.0.quic_stream_mut().finish();
    }

    fn reset(&mut self, code: ErrorCode) {
        let _ = self.0.quic_stream_mut().reset(http3(code));
    }

    fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<ErrorCode>, StreamError>> + Send + 'static + use<> {
        self.0.quic_stream().stopped().map(|r| match r {
            Ok(None) => Ok(None),
            Ok(Some(code)) => match received(code, false) {
                StreamError::Stopped(c) => Ok(Some(c)),
                other => Err(other),
            },
            Err(quinn::StoppedError::ConnectionLost(c)) => Err(quinn_conn_error(c)),
            Err(quinn::StoppedError::ZeroRttRejected) => Err(StreamError::ZeroRttRejected),
        })
    }

    fn set_priority(&mut self, priority: i32) {
        self.0.set_priority(priority);
    }
}

/// The receiving half of a call's WebTransport stream.
pub struct WebTransportRecv {
    stream: wtransport::RecvStream,
    extensions: Option<http::Extensions>,
}

impl std::fmt::Debug for WebTransportRecv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebTransportRecv")
            .field("id", &self.stream.id())
            .finish_non_exhaustive()
    }
}

impl RecvStream for WebTransportRecv {
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
        // Chunks are slices of received packets: a frame inside one is never copied.
        let read = std::pin::pin!(self.stream.quic_stream_mut().read_chunk(usize::MAX, true));
        read.poll(cx)
            .map(|r| r.map(|c| c.map(|c| c.bytes)).map_err(read_error))
    }

    fn stop(&mut self, code: ErrorCode) {
        let _ = self.stream.quic_stream_mut().stop(http3(code));
    }

    fn take_extensions(&mut self) -> Option<http::Extensions> {
        self.extensions.take()
    }
}
