//! Kill the server process while calls are in flight: every call ends with UNAVAILABLE (none
//! hangs), and after a restart on the same port the same channel works again.

use interop::pb::test_service_client::TestServiceClient;
use interop::pb::{ResponseParameters, SimpleRequest, StreamingOutputCallRequest};
use rpc_core::tls::dev::SelfSigned;
use rpc_core::{Code, Endpoint};
use std::time::Duration;
use support::{pem_files, ServerProcess};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_fails_calls_with_unavailable_and_channel_recovers() {
    let cert = SelfSigned::generate(&["localhost", "127.0.0.1"]).unwrap();
    let (cert_path, key_path) = pem_files(&cert, "server-death");

    let mut server = ServerProcess::start(0, &cert_path, &key_path);
    let addr = server.addr;
    // A dead peer sends no close: the client learns from the idle timeout.
    let channel = Endpoint::from_addr(addr)
        .tls_config(cert.client_config())
        .idle_timeout(Duration::from_secs(2))
        .keep_alive_interval(Some(Duration::from_millis(500)))
        .handshake_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    let client = TestServiceClient::new(channel.clone());
    client.empty_call(interop::pb::Empty {}).await.unwrap();

    // Calls in flight: server streams that answer once, then pause for a minute.
    let mut calls = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        let req = StreamingOutputCallRequest {
            response_parameters: vec![
                ResponseParameters {
                    size: 10,
                    interval_us: 0,
                    ..Default::default()
                },
                ResponseParameters {
                    size: 10,
                    interval_us: 60_000_000,
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
        stream.message().await.unwrap().unwrap();
        calls.push(tokio::spawn(async move { stream.message().await }));
    }
    server.kill(); // SIGKILL: no CONNECTION_CLOSE reaches the client.
    for call in calls {
        let res = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("a call hung after the server died")
            .unwrap();
        assert_eq!(res.unwrap_err().code(), Code::Unavailable);
    }

    // Restart on the same port; the same channel reconnects on demand.
    let _server = ServerProcess::start(addr.port(), &cert_path, &key_path);
    let mut recovered = false;
    for _ in 0..100 {
        match client
            .unary_call(SimpleRequest {
                response_size: 5,
                ..Default::default()
            })
            .await
        {
            Ok(r) => {
                assert_eq!(r.into_inner().payload.unwrap().body.len(), 5);
                recovered = true;
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(
        recovered,
        "the channel did not reconnect to the restarted server"
    );
    if let Some(dir) = cert_path.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
