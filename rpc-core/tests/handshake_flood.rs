//! Handshake floods (issue 13): attempts from one address that fail or never finish, and
//! sprays from many addresses. The flood is refused, a client at another address is served
//! throughout, the admission table stays bounded and nothing is left in progress.
//! Assertions are on counters and outcomes, never on timings.

mod common;

use common::*;
use futures_util::future::join_all;
use rpc_core::server::{AddressValidation, AdmissionStats};
use rpc_core::transport::quic::quinn;
use rpc_core::transport::quic::quinn::udp::{RecvMeta, Transmit};
use rpc_core::transport::quic::quinn::{AsyncUdpSocket, UdpPoller};
use rpc_core::Request;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(120);

/// A client config that trusts no certificate: every handshake fails at the client, after the
/// server did its whole part (key exchange, certificate, signature).
fn distrusting_client() -> quinn::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    tls.alpn_protocols = vec![rpc_core::wire::ALPN.to_vec()];
    let qc = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    quinn::ClientConfig::new(Arc::new(qc))
}

/// A raw quinn client endpoint at `ip`; `deaf`: it hears nothing back, so its handshakes
/// never finish (the server holds each until its handshake timeout).
fn flood_endpoint(ip: &str, deaf: bool) -> quinn::Endpoint {
    let std = std::net::UdpSocket::bind((ip, 0)).unwrap();
    let runtime = quinn::default_runtime().unwrap();
    let socket = runtime.wrap_udp_socket(std).unwrap();
    let socket: Arc<dyn AsyncUdpSocket> = if deaf { Arc::new(Deaf(socket)) } else { socket };
    let mut ep =
        quinn::Endpoint::new_with_abstract_socket(Default::default(), None, socket, runtime)
            .unwrap();
    ep.set_default_client_config(distrusting_client());
    ep
}

fn is_refused(r: &Result<quinn::Connection, quinn::ConnectionError>) -> bool {
    matches!(r, Err(quinn::ConnectionError::ConnectionClosed(c))
        if c.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED)
}

/// A well-behaved client at `local` making `calls` calls; returns how many succeeded.
async fn good_client(server: SocketAddr, local: &str, calls: u64) -> u64 {
    let ch = endpoint(server)
        .local_address(local.parse().unwrap())
        .connect()
        .await
        .expect("the good client could not connect");
    let mut ok = 0;
    for i in 0..calls {
        let call = ch.unary("/test.Test/Unary", Request::new(msg(i)), Codec::new());
        let r = tokio::time::timeout(GUARD, call)
            .await
            .expect("a good call hung");
        if r.unwrap().into_inner().seq == i {
            ok += 1;
        }
    }
    ok
}

fn decided(s: &AdmissionStats) -> u64 {
    s.admitted + s.retries_sent + s.refused_by_rate + s.refused_by_cap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handshake_flood_is_refused_while_another_address_is_served() {
    // Default limits.
    let srv = start();
    let flood = flood_endpoint("127.0.0.1", false);
    const ATTEMPTS: usize = 400;
    let attempts: Vec<_> = (0..ATTEMPTS)
        .map(|_| flood.connect(srv.addr, "localhost").unwrap())
        .collect();
    let good = tokio::spawn(good_client(srv.addr, "127.0.0.2:0", 50));
    let results = tokio::time::timeout(GUARD, join_all(attempts))
        .await
        .expect("flood attempts hung");
    let refused = results.iter().filter(|r| is_refused(r)).count();
    assert!(
        results.iter().all(Result::is_err),
        "a distrusting client connected"
    );
    assert_eq!(good.await.unwrap(), 50);

    let stats = srv.handle.admission_stats();
    eprintln!("{ATTEMPTS} attempts, {refused} refused at the client, server: {stats:?}");
    assert!(refused > 0, "{stats:?}");
    assert!(stats.refused_by_rate + stats.refused_by_cap >= refused as u64);
    // Every attempt (and the good client's) met a decision.
    assert!(decided(&stats) > ATTEMPTS as u64, "{stats:?}");
    // Nothing left behind: no handshake in progress, only the good client's connection.
    assert!(eventually(|| srv.handle.admission_stats().handshakes_in_progress == 0).await);
    assert!(eventually(|| srv.handle.active_connections() <= 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_handshakes_are_capped_per_address_and_released() {
    let srv = start_with(
        builder()
            .max_handshakes_per_address(8)
            .handshake_timeout(Duration::from_secs(2)),
    );
    let flood = flood_endpoint("127.0.0.1", true);
    const ATTEMPTS: u64 = 100;
    // Held: dropping one would close it.
    let held: Vec<_> = (0..ATTEMPTS)
        .map(|_| flood.connect(srv.addr, "localhost").unwrap())
        .collect();
    let mut most = 0;
    assert!(
        eventually(|| {
            let s = srv.handle.admission_stats();
            most = most.max(s.handshakes_in_progress);
            decided(&s) >= ATTEMPTS
        })
        .await
    );
    // The flood holds at most its own share; another address is served meanwhile.
    assert_eq!(good_client(srv.addr, "127.0.0.2:0", 20).await, 20);
    let stats = srv.handle.admission_stats();
    eprintln!("{ATTEMPTS} abandoned attempts, at most {most} in progress, server: {stats:?}");
    assert!(most <= 8 + 1, "{most} handshakes in progress");
    assert!(stats.refused_by_cap > 0, "{stats:?}");
    // Released by the handshake timeout (or the client's close): nothing leaks.
    drop(held);
    assert!(eventually(|| srv.handle.admission_stats().handshakes_in_progress == 0).await);
    assert!(eventually(|| srv.handle.active_connections() <= 1).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_unvalidated_attempts_get_a_retry_and_real_clients_pass_it() {
    let srv = start_with(
        builder()
            .max_handshakes_per_address(8)
            .validate_addresses(AddressValidation::UnderLoad { handshakes: 4 })
            .handshake_timeout(Duration::from_secs(5)),
    );
    // A deaf flood never answers the Retry: past 4 in progress it costs one packet each.
    let flood = flood_endpoint("127.0.0.1", true);
    let held: Vec<_> = (0..50)
        .map(|_| flood.connect(srv.addr, "localhost").unwrap())
        .collect();
    assert!(eventually(|| decided(&srv.handle.admission_stats()) >= 50).await);
    let before = srv.handle.admission_stats();
    assert!(before.retries_sent > 0, "{before:?}");
    assert!(before.handshakes_in_progress <= 4 + 1, "{before:?}");
    // A real client answers the Retry (its QUIC stack does) and is served.
    assert_eq!(good_client(srv.addr, "127.0.0.2:0", 10).await, 10);
    let after = srv.handle.admission_stats();
    eprintln!("deaf flood of 50 under load: {before:?}; after a good client: {after:?}");
    assert!(after.retries_sent > before.retries_sent, "{after:?}");
    drop(held);
    assert!(eventually(|| srv.handle.admission_stats().handshakes_in_progress == 0).await);
}

#[tokio::test]
async fn always_validating_costs_one_retry_per_connection() {
    let srv = start_with(builder().validate_addresses(AddressValidation::Always));
    assert_eq!(good_client(srv.addr, "127.0.0.1:0", 3).await, 3);
    let stats = srv.handle.admission_stats();
    assert!(stats.retries_sent >= 1, "{stats:?}");
    assert_eq!(stats.admitted, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spray_of_source_addresses_keeps_the_table_bounded() {
    const TABLE: usize = 32;
    const ADDRESSES: u8 = 200;
    let srv = start_with(
        builder()
            .validate_addresses(AddressValidation::Never)
            .max_tracked_addresses(TABLE)
            .handshake_rate(1, 1),
    );
    // Connected before the spray: calls need no handshake, so the spray cannot touch them.
    let good = endpoint(srv.addr)
        .local_address("127.0.0.2:0".parse().unwrap())
        .connect()
        .await
        .unwrap();
    let floods: Vec<_> = (1..=ADDRESSES)
        .map(|i| flood_endpoint(&format!("127.0.1.{i}"), false))
        .collect();
    let mut attempts = Vec::new();
    for ep in &floods {
        for _ in 0..2 {
            attempts.push(ep.connect(srv.addr, "localhost").unwrap());
        }
    }
    let mut largest = 0;
    let results = {
        let all = join_all(attempts);
        tokio::pin!(all);
        loop {
            largest = largest.max(srv.handle.admission_stats().tracked_addresses);
            tokio::select! {
                r = &mut all => break r,
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    };
    let refused = results.iter().filter(|r| is_refused(r)).count();
    let stats = srv.handle.admission_stats();
    eprintln!(
        "{} attempts from {ADDRESSES} addresses, table of {TABLE}: at most {largest} tracked, \
         {refused} refused at the client, server: {stats:?}",
        results.len()
    );
    assert!(
        largest <= TABLE && stats.tracked_addresses <= TABLE,
        "{largest}"
    );
    // Addresses past the table shared one allowance: limited, not let through.
    assert!(stats.refused_by_rate > 0, "{stats:?}");
    for i in 0..10 {
        good_call(&good, i).await;
    }
    // Once the allowances refilled, idle entries are swept and a new address gets its own.
    let mut late = None;
    for _ in 0..100 {
        match endpoint(srv.addr)
            .local_address("127.0.0.3:0".parse().unwrap())
            .connect()
            .await
        {
            Ok(ch) => {
                late = Some(ch);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    good_call(&late.expect("a new address was never admitted"), 1).await;
    assert!(srv.handle.admission_stats().tracked_addresses <= TABLE);
    assert!(eventually(|| srv.handle.admission_stats().handshakes_in_progress == 0).await);
}

async fn good_call(ch: &rpc_core::Channel, seq: u64) {
    let call = ch.unary("/test.Test/Unary", Request::new(msg(seq)), Codec::new());
    let r = tokio::time::timeout(GUARD, call)
        .await
        .expect("a good call hung");
    assert_eq!(r.unwrap().into_inner().seq, seq);
}

/// A socket that sends but discards everything it receives.
#[derive(Debug)]
struct Deaf(Arc<dyn AsyncUdpSocket>);

impl AsyncUdpSocket for Deaf {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.0.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.0.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        // Discard and keep polling, so the waker stays registered.
        loop {
            match self.0.poll_recv(cx, bufs, meta) {
                Poll::Ready(Ok(_)) => continue,
                other => return other,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}
