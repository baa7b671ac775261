//! A client process killed with SIGKILL sends nothing more (UDP has no FIN or RST): the
//! server must still notice, drop the handler of its open call and the connection, within
//! the default idle timeout (8 s), not the 30 s it once took.

use rpc_bench::cli::NetOptions;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rpc-bench");

#[test]
fn a_killed_client_is_noticed_within_seconds() {
    let tls = rpc_core::tls::dev::SelfSigned::loopback()
        .unwrap()
        .server_config()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = rpc_bench::server::runtime(0).unwrap();
        rt.block_on(async move {
            let server = rpc_bench::server::builder(tls, &NetOptions::default())
                .bind("127.0.0.1:0".parse().unwrap())
                .unwrap();
            tx.send((server.local_addr(), server.handle())).unwrap();
            server.serve().await;
        });
    });
    let (addr, handle) = rx.recv().unwrap();

    // One bidirectional call held open for a minute, no deadline.
    let mut client = Command::new(BIN)
        .args([
            "--target",
            &addr.to_string(),
            "--insecure-dev",
            "--call",
            "bidi",
        ])
        .args(["-c", "1", "-z", "60s", "--timeout", "0", "--warmup", "0s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = |limit: Duration, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !f() {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    };
    assert!(
        until(Duration::from_secs(20), &|| handle.active_calls() == 1),
        "the client's call never started"
    );

    client.kill().unwrap(); // SIGKILL
    client.wait().unwrap();
    // The idle timeout is 8 s; 20 s leaves room for a loaded machine and is still well
    // short of the 30 s the old defaults took.
    assert!(
        until(Duration::from_secs(20), &|| handle.active_connections()
            == 0),
        "the server still serves a killed client ({} calls)",
        handle.active_calls()
    );
    assert_eq!(handle.active_calls(), 0, "its handler was dropped");
    handle.shutdown();
}
