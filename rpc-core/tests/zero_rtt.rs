//! 0-RTT gated by idempotency (PROTOCOL.md §3.5), over QUIC on 127.0.0.1: which calls go in
//! early data, what the server runs from it, replays, and servers that turn it down.
//!
//! A UDP relay between client and server holds the server's answers back a little, so the
//! client's first flight (Initial and 0-RTT packets) surely arrives before its handshake can
//! complete; it also records that flight, to replay it.

mod common;

use common::{cert, Codec, Msg};
use rpc_core::server::{self, CallFuture, EarlyData, NamedService, ServerCall, Service};
use rpc_core::{Channel, Endpoint, Request, Response, Server, Status};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;

/// Each handler run: the method and whether its call arrived in early data.
type Runs = Arc<Mutex<Vec<(&'static str, bool)>>>;

/// `Get` is idempotent as far as the server knows; `Put` is not.
#[derive(Clone, Default)]
struct Kv {
    runs: Runs,
}

impl NamedService for Kv {
    const NAME: &'static str = "test.Kv";
}

impl Service for Kv {
    fn call(&self, call: ServerCall) -> CallFuture {
        let runs = self.runs.clone();
        let method: &'static str = match call.method() {
            "Get" => "Get",
            "Put" => "Put",
            _ => return server::unimplemented(call),
        };
        server::unary(call, Codec::new(), move |req: Request<Msg>| async move {
            let early = req.extensions().get::<EarlyData>().is_some();
            runs.lock().unwrap().push((method, early));
            Ok(Response::new(req.into_inner()))
        })
    }

    fn methods(&self) -> Option<&'static [&'static str]> {
        Some(&["Get", "Put"])
    }

    fn idempotent_methods(&self) -> &'static [&'static str] {
        &["Get"]
    }
}

struct Srv {
    addr: SocketAddr,
    handle: rpc_core::server::ServerHandle,
    runs: Runs,
}

/// Waits until `addr` can be bound again (a hang guard, not a timing assertion).
async fn wait_port_free(addr: SocketAddr) {
    for _ in 0..500 {
        if std::net::UdpSocket::bind(addr).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} was never released");
}

fn serve(zero_rtt: bool, addr: SocketAddr) -> Srv {
    let kv = Kv::default();
    let runs = kv.runs.clone();
    let server = Server::builder()
        .tls_config(cert().server_config().unwrap())
        .zero_rtt(zero_rtt)
        .add_service(kv)
        .bind(addr)
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    tokio::spawn(server.serve());
    Srv { addr, handle, runs }
}

/// Relays UDP between one client and `server`; records the client's datagrams sent before
/// the server's first answer since the last [`Relay::capture`], and delays the server's
/// answers by `delay`.
struct Relay {
    addr: SocketAddr,
    state: Arc<Mutex<RelayState>>,
}

#[derive(Default)]
struct RelayState {
    first_flight: Vec<Vec<u8>>,
    answered: bool,
    delay: Duration,
}

impl Relay {
    async fn start(server: SocketAddr) -> Relay {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(server).await.unwrap();
        let addr = front.local_addr().unwrap();
        let state = Arc::new(Mutex::new(RelayState::default()));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let (f, b, s, c) = (front.clone(), back.clone(), state.clone(), client.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = f.recv_from(&mut buf).await {
                *c.lock().unwrap() = Some(from);
                {
                    let mut s = s.lock().unwrap();
                    if !s.answered {
                        s.first_flight.push(buf[..n].to_vec());
                    }
                }
                let _ = b.send(&buf[..n]).await;
            }
        });
        let s = state.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = back.recv(&mut buf).await {
                let delay = {
                    let mut s = s.lock().unwrap();
                    s.answered = true;
                    s.delay
                };
                let Some(to) = *client.lock().unwrap() else {
                    continue;
                };
                let (front, data) = (front.clone(), buf[..n].to_vec());
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = front.send_to(&data, to).await;
                });
            }
        });
        Relay { addr, state }
    }

    /// Records the next connection's first flight; delays the server's answers by `delay`.
    fn capture(&self, delay: Duration) {
        let mut s = self.state.lock().unwrap();
        s.first_flight.clear();
        s.answered = false;
        s.delay = delay;
    }

    fn first_flight(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().first_flight.clone()
    }
}

/// An endpoint to `addr` with 0-RTT on, verifying the server as `localhost`.
fn endpoint(addr: SocketAddr) -> Endpoint {
    let tls = cert().client_config().domain_name("localhost");
    Endpoint::from_addr(addr).tls_config(tls).zero_rtt(true)
}

async fn call(ch: &Channel, method: &str, seq: u64, idempotent: bool) -> Result<Msg, Status> {
    let mut req = Request::new(common::msg(seq));
    req.set_idempotent(idempotent);
    let path = format!("/test.Kv/{method}");
    ch.unary(&path, req, Codec::new())
        .await
        .map(Response::into_inner)
}

/// A first channel makes a full handshake and one call, leaving a session ticket in the
/// endpoint's TLS config for the next channel to resume.
async fn resumable(endpoint: &Endpoint) {
    let first = endpoint.connect().await.unwrap();
    call(&first, "Get", 0, true).await.unwrap();
    // The tickets come right after the handshake; give them a moment to land.
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.close();
}

fn runs(srv: &Srv) -> Vec<(&'static str, bool)> {
    srv.runs.lock().unwrap().clone()
}

const HOLD: Duration = Duration::from_millis(100);

#[tokio::test]
async fn an_idempotent_call_goes_in_early_data() {
    let srv = serve(true, "127.0.0.1:0".parse().unwrap());
    let relay = Relay::start(srv.addr).await;
    let endpoint = endpoint(relay.addr);
    resumable(&endpoint).await;
    assert_eq!(runs(&srv), [("Get", false)]);

    relay.capture(HOLD);
    let ch = endpoint.connect().await.unwrap();
    assert_eq!(call(&ch, "Get", 1, true).await.unwrap().seq, 1);
    // The server ran it from early data, before the handshake completed.
    assert_eq!(runs(&srv)[1..], [("Get", true)]);
}

#[tokio::test]
async fn other_calls_wait_for_the_handshake() {
    let srv = serve(true, "127.0.0.1:0".parse().unwrap());
    let relay = Relay::start(srv.addr).await;
    let endpoint = endpoint(relay.addr);
    resumable(&endpoint).await;

    relay.capture(HOLD);
    let ch = endpoint.connect().await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(call(&ch, "Put", 1, false).await.unwrap().seq, 1);
    // Sent after the handshake: after the server's held-back answer reached the client.
    assert!(started.elapsed() >= HOLD, "{:?}", started.elapsed());
    assert_eq!(runs(&srv)[1..], [("Put", false)]);
    // A request stream never goes early, even marked idempotent (`Get` takes the one
    // message as a unary call).
    relay.capture(HOLD);
    let ch = endpoint.connect().await.unwrap();
    let mut req = Request::new(futures_util::stream::iter([common::msg(2)]));
    req.set_idempotent(true);
    ch.client_streaming("/test.Kv/Get", req, Codec::new())
        .await
        .unwrap();
    assert_eq!(runs(&srv)[2..], [("Get", false)]);
}

/// A call whose client claims it idempotent but whose server knows better: refused in early
/// data (`TOO_EARLY`) and sent again after the handshake, so it runs once, never early. A
/// replay of the first flight runs nothing.
#[tokio::test]
async fn a_replayed_first_flight_runs_no_non_idempotent_call() {
    let srv = serve(true, "127.0.0.1:0".parse().unwrap());
    let relay = Relay::start(srv.addr).await;
    let endpoint = endpoint(relay.addr);
    resumable(&endpoint).await;
    let before = runs(&srv).len();

    relay.capture(HOLD);
    let ch = endpoint.connect().await.unwrap();
    // Forced into early data: the flag says idempotent, the server's table does not.
    assert_eq!(call(&ch, "Put", 7, true).await.unwrap().seq, 7);
    assert_eq!(runs(&srv)[before..], [("Put", false)]);
    let flight = relay.first_flight();
    assert!(!flight.is_empty());

    // The original connection gone, replay its first flight from another address.
    ch.close();
    ch.wait_idle().await;
    assert!(common::eventually(|| srv.handle.active_connections() == 0).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    replay(&flight, srv.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let puts = runs(&srv).iter().filter(|(m, _)| *m == "Put").count();
    assert_eq!(puts, 1, "{:?}", runs(&srv));
}

/// An idempotent call in early data, replayed: it may run again (which is why only
/// idempotent calls go early, PROTOCOL.md §3.5), at most once per replay.
#[tokio::test]
async fn a_replayed_idempotent_call_runs_at_most_once_more() {
    let srv = serve(true, "127.0.0.1:0".parse().unwrap());
    let relay = Relay::start(srv.addr).await;
    let endpoint = endpoint(relay.addr);
    resumable(&endpoint).await;
    let before = runs(&srv).len();

    relay.capture(HOLD);
    let ch = endpoint.connect().await.unwrap();
    call(&ch, "Get", 9, true).await.unwrap();
    assert_eq!(runs(&srv)[before..], [("Get", true)]);
    let flight = relay.first_flight();
    ch.close();
    ch.wait_idle().await;
    assert!(common::eventually(|| srv.handle.active_connections() == 0).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    replay(&flight, srv.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let gets = runs(&srv)[before..].len();
    assert!((1..=2).contains(&gets), "{:?}", runs(&srv));
}

/// Sends `flight` to `server` from a fresh socket, as an attacker who recorded it would.
async fn replay(flight: &[Vec<u8>], server: SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for datagram in flight {
        socket.send_to(datagram, server).await.unwrap();
    }
}

/// A server without 0-RTT (here: restarted, its session cache lost, 0-RTT now off): the
/// client's early data is rejected and its calls are sent again, transparently.
#[tokio::test]
async fn rejected_early_data_is_sent_again() {
    let first = serve(true, "127.0.0.1:0".parse().unwrap());
    let addr = first.addr;
    let endpoint = endpoint(addr);
    resumable(&endpoint).await;
    first.handle.shutdown();
    assert!(common::eventually(|| first.handle.active_connections() == 0).await);
    // The old server's socket goes with its endpoint's last reference: bind again once the
    // port is free (a fixed pause was not always enough on a loaded machine).
    wait_port_free(addr).await;

    let srv = serve(false, addr);
    let ch = endpoint.connect().await.unwrap();
    let (get, put) = tokio::join!(call(&ch, "Get", 1, true), call(&ch, "Put", 2, false));
    assert_eq!((get.unwrap().seq, put.unwrap().seq), (1, 2));
    let mut seen = runs(&srv);
    seen.sort();
    assert_eq!(seen, [("Get", false), ("Put", false)]);

    // And a client with 0-RTT to a server that never offered it: plain resumption.
    let ch = endpoint.connect().await.unwrap();
    call(&ch, "Get", 3, true).await.unwrap();
    assert_eq!(runs(&srv).len(), 3);
}
