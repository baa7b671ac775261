//! W3C Trace Context (`traceparent`), parsed strictly: a header that is not exactly
//! version 00 with valid ids is garbage, and garbage is ignored, never an error.

/// The metadata key of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The metadata key of the W3C trace state: vendor data that travels with the trace.
pub const TRACESTATE: &str = "tracestate";

/// A W3C `tracestate` value, carried along a trace unchanged: the server layer puts an
/// incoming one in the call's extensions (next to its [`TraceContext`]) and the client
/// layer sends the one in a request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceState(std::sync::Arc<str>);

impl TraceState {
    /// Checks a `tracestate` value as W3C Trace Context §3.3 bounds it: at most 512
    /// characters, 32 comma-separated `key=value` members, printable ASCII. Anything else
    /// is `None` (and is dropped, not forwarded).
    pub fn parse(value: &str) -> Option<Self> {
        let printable = value.bytes().all(|b| (0x20..0x7f).contains(&b));
        let members: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        let valid = printable
            && value.len() <= 512
            && !members.is_empty()
            && members.len() <= 32
            && members.iter().all(|m| {
                m.split_once('=')
                    .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
            });
        valid.then(|| TraceState(value.into()))
    }

    /// The value, as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A position in a trace: the trace id, the id of the span that is the parent of what
/// comes next, and the trace flags (bit 0: sampled).
///
/// A client puts one in a request's extensions to continue that trace; the server layer
/// puts the incoming one's [`child`](TraceContext::child) in a call's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl TraceContext {
    /// A new trace: random ids, sampled.
    pub fn new_root() -> Self {
        TraceContext {
            trace_id: nonzero_id(),
            span_id: nonzero_id(),
            flags: 1,
        }
    }

    /// Parses a `traceparent` value: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, ids not all
    /// zero. Anything else (another version, extra fields, uppercase) is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split('-');
        let version = parts.next()?;
        let trace_id = hex::<16>(parts.next()?)?;
        let span_id = hex::<8>(parts.next()?)?;
        let [flags] = hex::<1>(parts.next()?)?;
        let valid =
            version == "00" && parts.next().is_none() && trace_id != [0; 16] && span_id != [0; 8];
        valid.then_some(TraceContext {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The `traceparent` value of this context (version 00).
    pub fn to_traceparent(&self) -> String {
        // Built by hand: `format!` with `{:02x}` per byte costs more than the rest of a call.
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        push_hex(&mut s, &self.trace_id);
        s.push('-');
        push_hex(&mut s, &self.span_id);
        s.push('-');
        push_hex(&mut s, &[self.flags]);
        s
    }

    /// The same trace, under a new span of this one.
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: nonzero_id(),
            ..*self
        }
    }

    /// The trace id, as 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The span id, as 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        to_hex(&self.span_id)
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// The trace id as a span field: written out only if a subscriber formats it.
    pub(crate) fn trace_id_field(&self) -> tracing::field::DisplayValue<Hex<'_>> {
        tracing::field::display(Hex(&self.trace_id))
    }

    /// The span id as a span field, likewise.
    pub(crate) fn span_id_field(&self) -> tracing::field::DisplayValue<Hex<'_>> {
        tracing::field::display(Hex(&self.span_id))
    }
}

/// Bytes displayed as lowercase hex digits, without an allocation.
pub(crate) struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 32];
        for chunk in self.0.chunks(16) {
            let digits = &mut buf[..2 * chunk.len()];
            for (pair, b) in digits.chunks_exact_mut(2).zip(chunk) {
                pair[0] = DIGITS[usize::from(b >> 4)];
                pair[1] = DIGITS[usize::from(b & 0xf)];
            }
            // Only ASCII digits were written.
            f.write_str(std::str::from_utf8(digits).map_err(|_| std::fmt::Error)?)?;
        }
        Ok(())
    }
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Random bytes, not all zero (an all-zero id is invalid).
fn nonzero_id<const N: usize>() -> [u8; N] {
    loop {
        let mut id = [0; N];
        fastrand::fill(&mut id);
        if id != [0; N] {
            return id;
        }
    }
}

/// Exactly `2 * N` lowercase hex digits.
fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// W3C allows lowercase only.
fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    push_hex(&mut s, bytes);
    s
}

/// Appends `bytes` as lowercase hex digits, two per byte.
fn push_hex(s: &mut String, bytes: &[u8]) {
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_writes_back() {
        let ctx = TraceContext::parse(VALID).unwrap();
        assert_eq!(ctx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id(), "00f067aa0ba902b7");
        assert_eq!(ctx.flags(), 1);
        assert_eq!(ctx.to_traceparent(), VALID);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn hex_fields_match_the_strings() {
        let ctx = TraceContext::parse(VALID).unwrap();
        assert_eq!(ctx.trace_id_field().to_string(), ctx.trace_id());
        assert_eq!(ctx.span_id_field().to_string(), ctx.span_id());
    }

    #[test]
    fn child_keeps_the_trace() {
        let ctx = TraceContext::new_root();
        let child = ctx.child();
        assert_eq!(child.trace_id(), ctx.trace_id());
        assert_ne!(child.span_id(), ctx.span_id());
        assert_eq!(TraceContext::parse(&child.to_traceparent()), Some(child));
    }
}
