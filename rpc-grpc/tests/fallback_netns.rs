//! Transport fallback on a network that drops UDP (PROTOCOL.md §20), for real: inside a
//! network namespace of its own, nftables drops every UDP packet on the input hook. Calls
//! then succeed over gRPC/HTTP2, and once the rule is gone new connections use QUIC again
//! (after the memory's TTL, or when a background probe saw QUIC work).
//!
//! Needs root (namespaces, nftables; CI runs as root) and fails loudly without it. The test
//! makes the namespace, runs itself again inside it (`ip netns exec`), where the server and
//! the client run, and deletes the namespace afterwards, whatever happened.

mod fallback_support;

use fallback_support::{call, Running};
use rpc_grpc::Transport;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the copy of the test that runs inside the namespace: the namespace's name.
const CHILD: &str = "QRPC_FALLBACK_NETNS";
/// What the copy inside prints once every check passed, so that a run that checked
/// nothing (a filter matching no test) cannot pass.
const DONE: &str = "fallback-netns: every check passed";
const TEST: &str = "udp_dropped_falls_back_to_http2_and_back";

#[test]
fn udp_dropped_falls_back_to_http2_and_back() {
    if std::env::var_os(CHILD).is_some() {
        return inside();
    }
    assert!(
        is_root(),
        "this test needs root (network namespaces and nftables): run it as root, as CI does"
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/need-nftables.sh");
    let installed = Command::new("bash")
        .arg(script)
        .status()
        .expect("runs bash");
    assert!(
        installed.success(),
        "nftables is missing and could not be installed"
    );

    let ns = Namespace::new();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, &ns.0)
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs ip netns exec");
    // Read while it runs, so a full pipe never blocks it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    // A bound against hangs only.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the test inside the namespace hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    print!("{out}");
    assert!(status.success(), "the test inside the namespace failed");
    assert!(
        out.contains(DONE),
        "the test inside the namespace checked nothing"
    );
}

/// Whether the effective user is root (the second field of `Uid:` in /proc/self/status).
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"));
    uid.and_then(|u| u.split_whitespace().nth(1)) == Some("0")
}

/// A network namespace with its loopback up; deleted when dropped (also on a panic).
struct Namespace(String);

impl Namespace {
    fn new() -> Namespace {
        let name = format!("qrpc-fallback-{}", std::process::id());
        // A namespace left by an earlier run with the same pid (killed before cleaning up).
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        run("ip", &["netns", "add", &name]);
        let ns = Namespace(name);
        run(
            "ip",
            &["netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"],
        );
        ns
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "{program} {args:?}: {status:?}"
    );
}

/// Drops every UDP packet arriving in this namespace (on the input hook: a packet dropped
/// on output would fail the sender's `sendmsg` instead of being lost).
fn drop_udp() {
    run("nft", &["add", "table", "inet", "fallback"]);
    run(
        "nft",
        &[
            "add",
            "chain",
            "inet",
            "fallback",
            "input",
            "{ type filter hook input priority 0 ; }",
        ],
    );
    run(
        "nft",
        &[
            "add", "rule", "inet", "fallback", "input", "meta", "l4proto", "udp", "drop",
        ],
    );
}

fn let_udp_through() {
    run("nft", &["delete", "table", "inet", "fallback"]);
}

/// The copy inside the namespace: server and client, UDP let through, dropped, let through.
fn inside() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let bound = Duration::from_secs(60);
        tokio::time::timeout(bound, scenario())
            .await
            .expect("a step hung");
    });
    println!("{DONE}");
}

async fn scenario() {
    let server = Running::start().await;
    // Comes back through a background probe (the TTL is long).
    let probing = server
        .connector()
        .broken_ttl(Duration::from_secs(3600))
        .probe_interval(Duration::from_millis(200));
    // Comes back when the memory expires (probed once per hour).
    let ttl = Duration::from_secs(1);
    let expiring = server
        .connector()
        .broken_ttl(ttl)
        .probe_interval(Duration::from_secs(3600));

    assert_eq!(call(&probing, "open").await, Transport::Quic);
    assert_eq!(call(&expiring, "open").await, Transport::Quic);

    drop_udp();
    let started = Instant::now();
    assert_eq!(call(&probing, "blocked").await, Transport::Http2);
    println!("fallback-netns: HTTP/2 after {:?}", started.elapsed());
    assert!(probing.is_quic_broken(), "the fallback is remembered");
    assert_eq!(call(&probing, "remembered").await, Transport::Http2);
    assert_eq!(call(&expiring, "blocked").await, Transport::Http2);
    // Marked broken when HTTP/2 won, before this: expired by `marked + ttl`.
    let marked = tokio::time::Instant::now();
    assert!(expiring.is_quic_broken());

    let_udp_through();
    // The probing connector: connects (over HTTP/2) start probes until one sees QUIC.
    let mut connects = 0;
    while probing.is_quic_broken() {
        assert_eq!(call(&probing, "probing").await, Transport::Http2);
        connects += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("fallback-netns: QUIC back after {connects} connects over HTTP/2");
    assert_eq!(call(&probing, "back").await, Transport::Quic);

    // The expiring connector: nothing probed; once the TTL is over, the race again.
    assert!(expiring.is_quic_broken());
    tokio::time::sleep_until(marked + ttl).await;
    assert!(!expiring.is_quic_broken());
    assert_eq!(call(&expiring, "back").await, Transport::Quic);
    server.stop().await;
}
