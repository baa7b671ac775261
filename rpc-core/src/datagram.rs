//! Datagrams bound to calls (PROTOCOL.md §18): unreliable, unordered messages that travel
//! beside a call's stream, for data that is useless when late (telemetry, game state, media
//! control).
//!
//! A method opts in (`#[rpc(datagrams)]`, or `option (qrpc.datagrams) = true;` in a
//! `.proto`); its calls then carry a [`Datagrams`] handle on both sides: the client's
//! [`Response::datagrams`](crate::Response::datagrams), the server's
//! [`Request::datagrams`](crate::Request::datagrams). A datagram arrives once or never, in
//! any order; what the path cannot carry is refused with a [`DatagramError`], never cut.
//!
//! Each connection reads its datagrams in one task, which runs only while calls with
//! datagrams are open on it, and hands each to its call's inbox: a bounded queue that drops
//! its oldest datagram when full (the newest is the freshest). A datagram for a call that
//! has ended, or that never existed or did not opt in, is dropped and counted. Calls that do
//! not use datagrams pay nothing: no task, no allocation, no lock.

pub use crate::transport::DatagramError;

use crate::transport::AnyConn;
use crate::wire::datagram::{self as wire, Inbox};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::sync::Notify;

/// Default [`max_datagram_queue`](crate::Endpoint::max_datagram_queue): datagrams a call
/// holds for its application before it drops the oldest.
pub const DEFAULT_MAX_DATAGRAM_QUEUE: usize = 64;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection's datagram demultiplexer: the calls that take datagrams, by stream id,
/// and the task that reads the connection's datagrams while any exists.
struct Router {
    conn: AnyConn,
    calls: Mutex<HashMap<u64, Arc<Slot>>>,
    /// Datagrams for no open call of this connection (ended, unknown, or a bad prefix).
    unroutable: AtomicU64,
    queue: usize,
    reader: tokio::task::AbortHandle,
}

impl Drop for Router {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Router {
    fn start(conn: AnyConn, queue: usize) -> Arc<Router> {
        Arc::new_cyclic(|weak: &Weak<Router>| {
            let (weak, reading) = (weak.clone(), conn.clone());
            let reader = tokio::spawn(async move {
                // Ends with the connection, or when the last call with datagrams is gone.
                while let Ok(datagram) = reading.read_datagram().await {
                    let Some(router) = weak.upgrade() else { return };
                    router.deliver(datagram);
                }
            });
            Router {
                conn,
                calls: Mutex::new(HashMap::new()),
                unroutable: AtomicU64::new(0),
                queue,
                reader: reader.abort_handle(),
            }
        })
    }

    /// Hands a received datagram to its call (PROTOCOL.md §18.2), or drops and counts it.
    fn deliver(&self, datagram: Bytes) {
        let slot = wire::decode(datagram)
            .ok()
            .and_then(|(id, payload)| Some((lock(&self.calls).get(&id)?.clone(), payload)));
        match slot {
            Some((slot, payload)) => slot.push(payload),
            None => {
                self.unroutable.fetch_add(1, Ordering::Relaxed);
                tracing::trace!("datagram for no open call dropped");
            }
        }
    }
}

/// Where calls of one connection find its [`Router`]: made by the first call with
/// datagrams, gone with the last.
#[derive(Default)]
pub(crate) struct Hub(Mutex<Weak<Router>>);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

impl Hub {
    /// Registers the call on `stream_id` of `conn` for datagrams; `None` when the stream
    /// cannot name a call (PROTOCOL.md §18.1).
    pub(crate) fn register(
        &self,
        conn: &AnyConn,
        stream_id: Option<u64>,
        queue: usize,
    ) -> Option<Registration> {
        let stream_id = stream_id?;
        let prefix = wire::prefix_len(stream_id)?;
        let router = {
            let mut current = lock(&self.0);
            match current.upgrade().filter(|r| r.conn.same(conn)) {
                Some(router) => router,
                None => {
                    let router = Router::start(conn.clone(), queue);
                    *current = Arc::downgrade(&router);
                    router
                }
            }
        };
        let slot = Arc::new(Slot {
            inbox: Mutex::new(Inbox::new(router.queue)),
            notify: Notify::new(),
            ended: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            stream_id,
            prefix,
            router,
        });
        lock(&slot.router.calls).insert(stream_id, slot.clone());
        Some(Registration(slot))
    }
}

/// A server connection's [`Hub`], with the connection and the inbox size, shared by the
/// connection's calls (in their `PeerInfo`).
pub(crate) struct ConnHub {
    conn: AnyConn,
    hub: Hub,
    queue: usize,
}

impl std::fmt::Debug for ConnHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnHub")
    }
}

impl ConnHub {
    pub(crate) fn new(conn: AnyConn, queue: usize) -> Self {
        ConnHub {
            conn,
            hub: Hub::default(),
            queue,
        }
    }

    /// Registers the call on `stream_id` of this connection (see [`Hub::register`]).
    pub(crate) fn register(&self, stream_id: Option<u64>) -> Option<Registration> {
        self.hub.register(&self.conn, stream_id, self.queue)
    }
}

/// One call's datagram state, shared by the call and its [`Datagrams`] handles.
struct Slot {
    inbox: Mutex<Inbox>,
    notify: Notify,
    ended: AtomicBool,
    sent: AtomicU64,
    stream_id: u64,
    prefix: usize,
    router: Arc<Router>,
}

impl Slot {
    fn push(&self, payload: Bytes) {
        if lock(&self.inbox).push(payload) {
            tracing::trace!("datagram queue full: the oldest dropped");
        }
        self.notify.notify_one();
    }
}

/// A call's place in its connection's router, held by the call: dropped when the call ends,
/// after which its datagrams are dropped and counted, and its handles refuse to send.
pub(crate) struct Registration(Arc<Slot>);

impl Registration {
    /// A handle for the application.
    pub(crate) fn handle(&self) -> Datagrams {
        Datagrams(self.0.clone())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let slot = &self.0;
        lock(&slot.router.calls).remove(&slot.stream_id);
        slot.ended.store(true, Ordering::Release);
        // Wakes a receiver waiting for more: there will be none.
        slot.notify.notify_waiters();
        slot.notify.notify_one();
    }
}

/// A call's datagrams (PROTOCOL.md §18): unreliable, unordered messages beside the call's
/// stream. Cloning it is a reference count; clones share the call's inbox (each datagram
/// goes to one receiver).
///
/// Sending never waits: a datagram goes out now, or the sender is told why not. Received
/// datagrams wait in a bounded inbox ([`max_datagram_queue`](crate::Endpoint::max_datagram_queue),
/// default [`DEFAULT_MAX_DATAGRAM_QUEUE`]); when it is full the oldest is dropped and
/// counted in [`DatagramStats::dropped`].
#[derive(Clone)]
pub struct Datagrams(Arc<Slot>);

impl std::fmt::Debug for Datagrams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagrams")
            .field("stream_id", &self.0.stream_id)
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}

/// What happened to a call's datagrams so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatagramStats {
    /// Datagrams this side sent on the call (handed to the transport; the network may still
    /// lose them: see [`ConnectionStats`](crate::transport::ConnectionStats)).
    pub sent: u64,
    /// Datagrams received for the call, including those dropped from a full inbox.
    pub received: u64,
    /// Received datagrams dropped because the call's inbox was full.
    pub dropped: u64,
    /// Datagrams the connection received for no open call (ended, never opened, not taking
    /// datagrams, or a malformed prefix), dropped: counted per connection while calls with
    /// datagrams are open on it.
    pub unroutable: u64,
}

impl Datagrams {
    /// The largest payload that fits in one datagram now, from the path MTU less QUIC's
    /// overhead and the call's prefix (PROTOCOL.md §18.3); `None` when the connection
    /// carries no datagrams (the peer did not negotiate them). It may grow or shrink with
    /// the path.
    pub fn max_size(&self) -> Option<usize> {
        let slot = &self.0;
        let max = slot.router.conn.max_datagram_size()?;
        Some(max.saturating_sub(slot.prefix))
    }

    /// Sends `payload` as one datagram: delivered once or never, in any order.
    ///
    /// Fails with [`DatagramError::TooLarge`] over [`max_size`](Self::max_size),
    /// [`DatagramError::Unsupported`] when the peer did not negotiate datagrams,
    /// [`DatagramError::CallEnded`] once the call is over, and
    /// [`DatagramError::ConnectionLost`]. A datagram that does not fit the transport's send
    /// buffer replaces the oldest one waiting there (QUIC).
    pub fn send(&self, payload: impl Into<Bytes>) -> Result<(), DatagramError> {
        let slot = &self.0;
        if self.is_ended() {
            return Err(DatagramError::CallEnded);
        }
        let payload = payload.into();
        let max = self.max_size().ok_or(DatagramError::Unsupported)?;
        if payload.len() > max {
            return Err(DatagramError::TooLarge {
                size: payload.len(),
                max,
            });
        }
        let mut buf = BytesMut::with_capacity(slot.prefix + payload.len());
        wire::encode_prefix(slot.stream_id, &mut buf);
        buf.extend_from_slice(&payload);
        slot.router.conn.send_datagram(buf.freeze())?;
        slot.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The next datagram received for the call, oldest first; `None` once the call has
    /// ended and none is left.
    ///
    /// # Cancel safety
    /// Cancel safe: no datagram is lost if the future is dropped before it completes.
    pub async fn recv(&self) -> Option<Bytes> {
        let slot = &self.0;
        loop {
            let notified = slot.notify.notified();
            if let Some(payload) = lock(&slot.inbox).pop() {
                return Some(payload);
            }
            if self.is_ended() {
                return None;
            }
            notified.await;
        }
    }

    /// The received datagrams as a stream (see [`recv`](Self::recv)).
    pub fn into_stream(self) -> impl Stream<Item = Bytes> + Send + 'static {
        futures_util::stream::unfold(self, |d| async move { d.recv().await.map(|b| (b, d)) })
    }

    /// Whether the call has ended: nothing more is sent or received.
    pub fn is_ended(&self) -> bool {
        self.0.ended.load(Ordering::Acquire)
    }

    /// The call's datagram counters so far.
    pub fn stats(&self) -> DatagramStats {
        let slot = &self.0;
        let inbox = lock(&slot.inbox);
        DatagramStats {
            sent: slot.sent.load(Ordering::Relaxed),
            received: inbox.received(),
            dropped: inbox.dropped(),
            unroutable: slot.router.unroutable.load(Ordering::Relaxed),
        }
    }
}
