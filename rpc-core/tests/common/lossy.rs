//! A UDP socket wrapper that loses, delays and blackholes datagrams, deterministically.
//! The kernel here has no netem; quinn takes any `AsyncUdpSocket`.

use rpc_core::transport::quic::quinn::udp::{RecvMeta, Transmit};
use rpc_core::transport::quic::quinn::{AsyncUdpSocket, UdpPoller};
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Shared switches and counters of a [`Lossy`] socket.
#[derive(Default)]
pub struct Faults {
    /// Drop every datagram, both ways.
    pub blackhole: AtomicBool,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
}

pub struct Lossy {
    /// The socket datagrams go through now; replaced by [`Lossy::nat_rebind`].
    inner: Mutex<Arc<dyn AsyncUdpSocket>>,
    /// Sockets replaced by a NAT rebinding, kept open (a poller may still refer to them)
    /// but no longer read: what arrives there is lost, as at a NAT's expired mapping.
    retired: Mutex<Vec<Arc<dyn AsyncUdpSocket>>>,
    /// Out of 1000 datagrams sent, how many to drop.
    loss_per_mille: u64,
    delay: Duration,
    rng: Mutex<u64>,
    pub faults: Arc<Faults>,
}

impl fmt::Debug for Lossy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lossy").finish_non_exhaustive()
    }
}

impl Lossy {
    /// Binds 127.0.0.1:`port` (0 for any) and wraps it.
    pub fn bind(port: u16, loss_per_mille: u64, delay: Duration, seed: u64) -> Arc<Lossy> {
        let std = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
        let runtime = rpc_core::transport::quic::quinn::default_runtime().unwrap();
        Arc::new(Lossy {
            inner: Mutex::new(runtime.wrap_udp_socket(std).unwrap()),
            retired: Mutex::default(),
            loss_per_mille,
            delay,
            rng: Mutex::new(seed | 1),
            faults: Arc::default(),
        })
    }

    fn inner(&self) -> Arc<dyn AsyncUdpSocket> {
        self.inner.lock().unwrap().clone()
    }

    /// A NAT rebinding: from now on datagrams leave from (and are read at) a new local port,
    /// unknown to the QUIC stack above, as when a NAT on the path forgets its mapping and
    /// picks a new source port. Returns the new address.
    pub fn nat_rebind(&self) -> SocketAddr {
        let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let runtime = rpc_core::transport::quic::quinn::default_runtime().unwrap();
        let fresh = runtime.wrap_udp_socket(std).unwrap();
        let addr = fresh.local_addr().unwrap();
        let old = std::mem::replace(&mut *self.inner.lock().unwrap(), fresh);
        self.retired.lock().unwrap().push(old);
        addr
    }

    fn lose(&self) -> bool {
        if self.faults.blackhole.load(Ordering::Relaxed) {
            return true;
        }
        // xorshift64: deterministic for a given seed and send order.
        let mut x = self.rng.lock().unwrap();
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x % 1000 < self.loss_per_mille
    }
}

impl AsyncUdpSocket for Lossy {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.faults.sent.fetch_add(1, Ordering::Relaxed);
        if self.lose() {
            self.faults.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if self.delay.is_zero() {
            return self.inner().try_send(transmit);
        }
        let (inner, delay) = (self.inner(), self.delay);
        let (destination, ecn, src_ip) = (transmit.destination, transmit.ecn, transmit.src_ip);
        let contents = transmit.contents.to_vec();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // A full socket buffer here is one more lost datagram.
            let _ = inner.try_send(&Transmit {
                destination,
                ecn,
                contents: &contents,
                segment_size: None,
                src_ip,
            });
        });
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            let n = match self.inner().poll_recv(cx, bufs, meta) {
                Poll::Ready(Ok(n)) => n,
                other => return other,
            };
            if !self.faults.blackhole.load(Ordering::Relaxed) {
                return Poll::Ready(Ok(n));
            }
            // Blackholed: discard and keep polling, so the waker stays registered.
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner().local_addr()
    }

    // One datagram per transmit (no GSO batches), so loss applies per datagram.
    fn max_transmit_segments(&self) -> usize {
        1
    }

    fn max_receive_segments(&self) -> usize {
        self.inner().max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner().may_fragment()
    }
}
