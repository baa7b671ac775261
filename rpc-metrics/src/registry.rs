//! The metric handles of each method, registered once and kept per layer, so a call's
//! labels are never built again (the `metrics` facade allocates a key for each new label
//! set; a handle is a pointer into the recorder).

use crate::Side;
use metrics::{Counter, Gauge, Histogram, Label};
use rpc_core::call_info::CallBytes;
use rpc_core::Code;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

/// The most methods a layer keeps apart; calls of any more are labelled `_OTHER`. A server
/// layer sees the method names clients send, and an unknown method of a known service
/// reaches it (answered `UNIMPLEMENTED` after it): the cap bounds both memory and the
/// number of series a client can create.
pub(crate) const MAX_METHODS: usize = 1024;

/// The label of methods past [`MAX_METHODS`] (OpenTelemetry's word for the same case).
pub(crate) const OTHER: &str = "_OTHER";

/// `rpc.grpc.status_code` values: the code's number, as OpenTelemetry records it.
const CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// The handles of a method whose calls ended with one code.
struct Finished {
    count: Counter,
    duration: Histogram,
}

/// The handles of one method.
pub(crate) struct MethodMetrics {
    side: Side,
    labels: [Label; 2],
    started: Counter,
    in_flight: Gauge,
    /// Client only: the server layer sees no message.
    request_size: Option<Histogram>,
    bytes_sent: Counter,
    bytes_received: Counter,
    /// By status code, registered on first use: most methods only ever end with a few.
    finished: [OnceLock<Finished>; 17],
}

impl MethodMetrics {
    fn new(side: Side, service: &str, method: &str) -> Self {
        let labels = [
            Label::new("rpc.service", service.to_owned()),
            Label::new("rpc.method", method.to_owned()),
        ];
        let names = side.names();
        MethodMetrics {
            side,
            started: metrics::counter!(names.started, labels.iter()),
            in_flight: metrics::gauge!(names.in_flight, labels.iter()),
            request_size: names
                .request_size
                .map(|name| metrics::histogram!(name, labels.iter())),
            bytes_sent: metrics::counter!(names.bytes_sent, labels.iter()),
            bytes_received: metrics::counter!(names.bytes_received, labels.iter()),
            labels,
            finished: Default::default(),
        }
    }

    fn finished(&self, code: Code) -> &Finished {
        let i = (code as usize).min(CODES.len() - 1);
        self.finished[i].get_or_init(|| {
            let names = self.side.names();
            let code = Label::from_static_parts("rpc.grpc.status_code", CODES[i]);
            let labels = || {
                let mut labels = self.labels.to_vec();
                labels.push(code.clone());
                labels
            };
            Finished {
                count: metrics::counter!(names.finished, labels()),
                duration: metrics::histogram!(names.duration, labels()),
            }
        })
    }

    /// A call's bytes on the wire, each way.
    pub(crate) fn record_bytes(&self, sent: u64, received: u64) {
        self.bytes_sent.increment(sent);
        self.bytes_received.increment(received);
    }

    /// Size of a request message, in bytes.
    pub(crate) fn record_request_size(&self, bytes: usize) {
        if let Some(histogram) = &self.request_size {
            histogram.record(bytes as f64);
        }
    }
}

/// The methods a layer has seen, by path; shared by its clones (all of a server's
/// connections, all of a client stack's clones).
pub(crate) struct Registry {
    side: Side,
    // Fx, not SipHash: a lookup per call, and the keys are at most MAX_METHODS paths (a
    // server's own methods: it refuses others before its layers), so collisions an attacker
    // could aim for are bounded by that cap.
    methods: RwLock<HashMap<Box<str>, Arc<MethodMetrics>, rustc_hash::FxBuildHasher>>,
    other: OnceLock<Arc<MethodMetrics>>,
}

impl Registry {
    pub(crate) fn new(side: Side) -> Self {
        Registry {
            side,
            methods: RwLock::default(),
            other: OnceLock::new(),
        }
    }

    /// The handles of the method at `path` (`/package.Service/Method`).
    pub(crate) fn method(&self, path: &str) -> Arc<MethodMetrics> {
        let read = self.methods.read().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = read.get(path) {
            return m.clone();
        }
        drop(read);
        self.insert(path)
    }

    fn insert(&self, path: &str) -> Arc<MethodMetrics> {
        let mut methods = self.methods.write().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = methods.get(path) {
            return m.clone();
        }
        if methods.len() >= MAX_METHODS {
            let other = || Arc::new(MethodMetrics::new(self.side, OTHER, OTHER));
            return self.other.get_or_init(other).clone();
        }
        let (service, method) = split(path);
        let m = Arc::new(MethodMetrics::new(self.side, service, method));
        methods.insert(path.into(), m.clone());
        m
    }
}

/// `("package.Service", "Method")` from `/package.Service/Method`.
fn split(path: &str) -> (&str, &str) {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.rsplit_once('/').unwrap_or(("", path))
}

/// One call in flight: counted as started when made, as finished when
/// [`finish`](Self::finish)ed, or as `CANCELLED` when dropped before (the caller gave up on
/// the call's future). The in-flight gauge goes back down either way.
pub(crate) struct CallGuard {
    method: Arc<MethodMetrics>,
    start: Instant,
    done: bool,
}

impl CallGuard {
    pub(crate) fn start(method: Arc<MethodMetrics>) -> Self {
        method.started.increment(1);
        method.in_flight.increment(1.0);
        CallGuard {
            method,
            start: Instant::now(),
            done: false,
        }
    }

    pub(crate) fn method(&self) -> &MethodMetrics {
        &self.method
    }

    /// A counter of the call's bytes that records them when the call's streams are gone.
    pub(crate) fn byte_counter(&self) -> Arc<CallBytes> {
        let method = self.method.clone();
        CallBytes::on_end(move |sent, received| method.record_bytes(sent, received))
    }

    /// The call ended with `code`.
    pub(crate) fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let finished = self.method.finished(code);
        finished.count.increment(1);
        finished.duration.record(self.start.elapsed().as_secs_f64());
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
        self.method.in_flight.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_paths() {
        assert_eq!(split("/pkg.Svc/Method"), ("pkg.Svc", "Method"));
        assert_eq!(split("/a.b.C/D"), ("a.b.C", "D"));
        assert_eq!(split("odd"), ("", "odd"));
    }
}
