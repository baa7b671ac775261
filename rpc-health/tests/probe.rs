//! The `rpc-health-probe` command against a real server: its exit codes and messages.

mod common;

use common::{cert, start, start_with, Greeter};
use rpc_core::tls::dev::SelfSigned;
use rpc_health::ServingStatus;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The test certificate in a PEM file, for `--ca-cert`.
fn ca_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("rpc-health-probe-test-{}.pem", std::process::id()));
        std::fs::write(&path, cert().cert_pem()).unwrap();
        path
    })
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the probe with `args` (off the runtime's threads) and returns its exit code and output.
async fn probe(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_rpc-health-probe"))
            .args(&args)
            .output()
            .unwrap();
        Run {
            code: out.status.code().expect("the probe was killed by a signal"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// `--addr localhost:PORT --ca-cert FILE`, then `extra`.
fn args(addr: SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--addr".to_owned(),
        format!("localhost:{}", addr.port()),
        "--ca-cert".to_owned(),
        ca_file().display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_0_when_serving_and_4_when_not() {
    let server = start();
    server.reporter.set_serving::<Greeter>();

    let run = probe(args(server.addr, &[])).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout.trim(), "status: SERVING");

    let run = probe(args(server.addr, &["--service", "helloworld.Greeter"])).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    server.reporter.set_not_serving::<Greeter>();
    let run = probe(args(server.addr, &["--service", "helloworld.Greeter"])).await;
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "service unhealthy (responded with \"NOT_SERVING\")"
    );

    server
        .reporter
        .set_service_status("", ServingStatus::NotServing);
    let run = probe(args(server.addr, &[])).await;
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_3_for_an_unknown_service() {
    let server = start();
    let run = probe(args(server.addr, &["--service", "no.Such"])).await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("code=NotFound"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_2_without_a_server_or_with_an_untrusted_certificate() {
    // A port with nothing behind it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = probe(args(port, &["--connect-timeout", "300ms"])).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.starts_with("error: failed to connect"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);

    // A server whose certificate the probe does not trust: the handshake fails.
    let other = SelfSigned::generate(&["localhost"]).unwrap();
    let server = start_with(&other, Duration::from_secs(1));
    let run = probe(args(server.addr, &[])).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_1_for_invalid_arguments() {
    for bad in [
        vec![],
        vec!["--addr", "localhost"],
        vec!["--addr", "localhost:1", "--timeout", "soon"],
        vec!["--addr", "localhost:1", "--connect-timeout", "0s"],
        vec!["--addr", "localhost:1", "--ca-cert", "/nonexistent/ca.pem"],
        vec!["--addr", "localhost:1", "--bogus"],
    ] {
        let run = probe(bad.iter().map(|s| s.to_string()).collect()).await;
        assert_eq!(run.code, 1, "{bad:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "{bad:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{bad:?}: {}", run.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_dev_trusts_the_development_certificate() {
    let dev = SelfSigned::loopback().unwrap();
    let server = start_with(&dev, Duration::from_secs(1));
    let run = probe(vec![
        "--addr".into(),
        format!("localhost:{}", server.addr.port()),
        "--insecure-dev".into(),
    ])
    .await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // The development certificate only: a server with another one is not trusted.
    let run = probe(vec![
        "--addr".into(),
        format!("localhost:{}", start().addr.port()),
        "--insecure-dev".into(),
    ])
    .await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}
