//! Readable errors for invalid `.proto` input.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, SourceCode, SourceSpan};

/// A `.proto` file could not be compiled: the message names the file and,
/// where known, the line and column, and quotes the offending line.
///
/// Reached through [`Error::proto_error`] on the error
/// [`Builder::compile_protos`](crate::Builder::compile_protos) returns. Its
/// `Debug` output is the same text as `Display`, so a build script returning
/// the error from `main` prints it readably.
#[derive(Clone)]
pub struct ProtoError {
    file: Option<PathBuf>,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
    rendered: String,
}

impl ProtoError {
    /// The file the error is in (resolved to a path on disk when possible).
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// 1-based line, when the error points into a file.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// 1-based column, when the error points into a file.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// The error message without location or snippet.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// One line: `file:line:column: message`.
    pub(crate) fn summary(&self) -> String {
        let mut s = String::new();
        if let Some(file) = &self.file {
            s.push_str(&file.display().to_string());
            if let Some(line) = self.line {
                s.push_str(&format!(":{line}"));
                if let Some(col) = self.column {
                    s.push_str(&format!(":{col}"));
                }
            }
            s.push_str(": ");
        }
        s.push_str(&self.message);
        s
    }

    pub(crate) fn with_note(mut self, note: String) -> Self {
        self.rendered.push_str("\nnote: ");
        self.rendered.push_str(&note);
        self
    }

    pub(crate) fn from_protox(err: &protox::Error, includes: &[PathBuf]) -> Self {
        let name = err.file().map(str::to_owned);
        let file = name.as_deref().map(|name| resolve(name, includes));
        let message = err.to_string();

        let mut line = None;
        let mut column = None;
        let mut snippets = Vec::new();
        if let (Some(source), Some(labels)) = (err.source_code(), err.labels()) {
            for label in labels {
                if let Some((l, c)) = locate(source, label.inner()) {
                    if line.is_none() {
                        line = Some(l);
                        column = Some(c);
                    }
                    snippets.push((l, c, label.label().map(str::to_owned)));
                }
            }
        }
        if line.is_none() {
            // Fall back on protox's own `file:line:col: msg` debug form.
            let debug = format!("{err:?}");
            if let Some((l, c)) = parse_location(&debug, name.as_deref()) {
                line = Some(l);
                column = Some(c);
            }
        }

        if let (true, Some(l), Some(c)) = (snippets.is_empty(), line, column) {
            snippets.push((l, c, None));
        }

        let mut this = ProtoError {
            file,
            line,
            column,
            message,
            rendered: String::new(),
        };
        let mut rendered = this.summary();
        for (l, c, label) in snippets {
            let Some(text) = line_text(this.file.as_deref(), l) else {
                continue;
            };
            let gutter = l.to_string().len();
            rendered.push_str(&format!(
                "\n{:gutter$} |\n{l} | {text}\n{:gutter$} | ",
                "", ""
            ));
            rendered.push_str(&" ".repeat(c.saturating_sub(1)));
            rendered.push('^');
            if let Some(label) = label {
                rendered.push(' ');
                rendered.push_str(&label);
            }
        }
        if let Some(help) = err.help() {
            rendered.push_str(&format!("\nhelp: {help}"));
        }
        for related in err.related().into_iter().flatten() {
            let related = related.to_string();
            if related != this.message {
                rendered.push_str(&format!("\nnote: {related}"));
            }
        }
        if err.is_file_not_found() {
            rendered.push_str("\nnote: ");
            rendered.push_str(&super::searched_note(includes));
        }
        this.rendered = rendered;
        this
    }
}

/// `name` as imported, resolved to `include/name` if that exists.
fn resolve(name: &str, includes: &[PathBuf]) -> PathBuf {
    includes
        .iter()
        .map(|inc| inc.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// 1-based line and column of a span.
fn locate(source: &dyn SourceCode, span: &SourceSpan) -> Option<(usize, usize)> {
    let contents = source.read_span(span, 0, 0).ok()?;
    Some((contents.line() + 1, contents.column() + 1))
}

/// The text of 1-based `line` of `file`, if it can be read.
fn line_text(file: Option<&Path>, line: usize) -> Option<String> {
    let text = std::fs::read_to_string(file?).ok()?;
    text.lines().nth(line.checked_sub(1)?).map(str::to_owned)
}

/// Finds `name:LINE:COL:` in protox's debug output.
fn parse_location(debug: &str, name: Option<&str>) -> Option<(usize, usize)> {
    let rest = debug.strip_prefix(name?)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let line = parts.next()?.trim().parse().ok()?;
    let col = parts.next()?.trim().parse().ok()?;
    Some((line, col))
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered)
    }
}

impl fmt::Debug for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Multi-line and unescaped on purpose: this is what `cargo` shows when
        // a build script returns the error from `main`.
        f.write_str("\n")?;
        f.write_str(&self.rendered)?;
        f.write_str("\n")
    }
}

impl std::error::Error for ProtoError {}

impl From<ProtoError> for io::Error {
    fn from(err: ProtoError) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, err)
    }
}

/// The error of [`compile_protos`](crate::compile_protos) and
/// [`Builder::compile_protos`](crate::Builder::compile_protos).
///
/// `Display` and `Debug` print the same readable text (for a `.proto` error:
/// `file:line:column: message`, the quoted line, and notes such as the include
/// folders searched), so a build script whose `main` returns
/// `Result<(), Box<dyn std::error::Error>>` shows it as is, without
/// `Custom { kind: .. }` noise. Converts into [`io::Error`] for build scripts
/// that return `std::io::Result`.
pub struct Error {
    kind: io::ErrorKind,
    repr: Repr,
}

enum Repr {
    Proto(ProtoError),
    Message(String),
    Io(io::Error),
}

impl Error {
    pub(crate) fn new(kind: io::ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            repr: Repr::Message(message.into()),
        }
    }

    pub(crate) fn proto(err: ProtoError) -> Self {
        Error {
            kind: io::ErrorKind::InvalidInput,
            repr: Repr::Proto(err),
        }
    }

    /// The category, as an [`io::ErrorKind`]: `NotFound` for a missing input
    /// file, `InvalidInput` for invalid `.proto` input or options, ...
    pub fn kind(&self) -> io::ErrorKind {
        self.kind
    }

    /// The `.proto` error with its file, line and column, when the input
    /// could not be compiled by protox.
    pub fn proto_error(&self) -> Option<&ProtoError> {
        match &self.repr {
            Repr::Proto(err) => Some(err),
            _ => None,
        }
    }

    /// Adds a `note: ...` line to the message.
    pub(crate) fn with_note(self, note: &str) -> Self {
        let kind = self.kind;
        let repr = match self.repr {
            Repr::Proto(err) => Repr::Proto(err.with_note(note.to_string())),
            Repr::Message(msg) => Repr::Message(format!("{}\nnote: {note}", msg.trim_end())),
            Repr::Io(err) => Repr::Message(format!("{}\nnote: {note}", err.to_string().trim_end())),
        };
        Error { kind, repr }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error {
            kind: err.kind(),
            repr: Repr::Io(err),
        }
    }
}

impl From<ProtoError> for Error {
    fn from(err: ProtoError) -> Self {
        Error::proto(err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err.repr {
            Repr::Io(io) => io,
            Repr::Proto(proto) => io::Error::new(err.kind, proto),
            Repr::Message(msg) => io::Error::new(err.kind, msg),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Proto(err) => fmt::Display::fmt(err, f),
            Repr::Message(msg) => f.write_str(msg),
            // An `io::Error`'s `Display` is its message (no kind, no escaping).
            Repr::Io(err) => fmt::Display::fmt(err, f),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // What `cargo` shows when a build script returns the error from `main`
        // (`Error: {:?}`): the readable text, unescaped; a multi-line message
        // starts on its own line so quoted source lines stay aligned.
        let text = self.to_string();
        if text.contains('\n') {
            write!(f, "\n{text}\n")
        } else {
            f.write_str(&text)
        }
    }
}

// No `source()`: the message already contains the underlying error's text, and
// reporters that walk the chain would print it twice.
impl std::error::Error for Error {}
