//! SIGTERM (what `kill`, systemd, Docker and Kubernetes send) drains the interop server
//! gracefully, as Ctrl-C does (`rpc_core::server::shutdown_signal`): the client is told
//! (drain notice, PROTOCOL.md §12.1), a call in flight completes, the connection closes
//! cleanly and the process exits with status 0.

#![cfg(unix)]

use interop::pb::test_service_client::TestServiceClient;
use interop::pb::{ResponseParameters, StreamingOutputCallRequest};
use rpc_core::client::ConnectivityState;
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Code, Endpoint};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A hang guard, never a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

/// Kills the server if the test fails half-way.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero() {
    let dir = std::env::temp_dir().join(format!("sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert_pem()).unwrap();
    std::fs::write(&key_path, cert.key_pem()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_interop-server"))
        .args(["--port", "0", "--tls_cert"])
        .arg(&cert_path)
        .arg("--tls_key")
        .arg(&key_path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("server prints its address").unwrap();
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    let pid = child.id();
    let mut server = Server(child);
    // The rest of the output, drained so the server never blocks on a full pipe.
    let output = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    let channel = Endpoint::from_addr(addr)
        .tls_config(cert.client_config())
        .connect()
        .await
        .unwrap();
    let client = TestServiceClient::new(channel.clone());
    client.empty_call(interop::pb::Empty {}).await.unwrap();

    // A call in flight: a server stream that answers once, then again after a second.
    let req = StreamingOutputCallRequest {
        response_parameters: vec![
            ResponseParameters {
                size: 10,
                ..Default::default()
            },
            ResponseParameters {
                size: 20,
                interval_us: 1_000_000,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let mut stream = client
        .streaming_output_call(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stream
            .message()
            .await
            .unwrap()
            .unwrap()
            .payload
            .unwrap()
            .body
            .len(),
        10
    );

    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // Told to go elsewhere: the channel turns Idle while the call still runs.
    let mut state = channel.watch_state();
    tokio::time::timeout(GUARD, state.wait_for(|s| *s == ConnectivityState::Idle))
        .await
        .expect("no drain notice")
        .unwrap();
    // The call in flight completes normally.
    let last = tokio::time::timeout(GUARD, stream.message())
        .await
        .expect("the call in flight hung")
        .unwrap()
        .expect("the call in flight lost its last message");
    assert_eq!(last.payload.unwrap().body.len(), 20);
    assert!(tokio::time::timeout(GUARD, stream.message())
        .await
        .unwrap()
        .unwrap()
        .is_none());

    // The process exits by itself, with status 0.
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + GUARD;
        loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "exit status {status:?}");
    let output = output.join().unwrap();
    assert!(
        output.iter().any(|l| l.starts_with("calls:")),
        "the server did not shut down through its graceful path: {output:?}"
    );
    // Gone: a new call fails with UNAVAILABLE (nobody answers).
    let err = client.empty_call(interop::pb::Empty {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
