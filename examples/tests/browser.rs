//! Browsers call route_guide in real headless Chromium: over WebTransport with the shipped
//! `rpc-webtransport/js/qrpc.mjs` (the certificate pinned by hash), and over gRPC-Web with
//! fetch from another origin (CORS). The page is `rpc-webtransport/js/demo/route_guide.html`,
//! served by this test over HTTP on 127.0.0.1 (a secure context); it posts its results back
//! as JSON, and they must equal what a native client gets over QUIC. The page also calls a
//! WebTransport server with bad answers, each of which must end with the right status.
//!
//! Chromium comes from Debian's `chromium` package, installed by `interop/browser/setup.sh`
//! when missing; if it cannot be installed the test fails.

use bytes::Bytes;
use examples::route_guide::routeguide::route_guide_client::RouteGuideClient;
use examples::route_guide::routeguide::{Point, Rectangle};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use rpc_core::tls::dev::SelfSigned;
use rpc_webtransport::dev::BrowserDevCertificate;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the project's install script: the path of a Chromium, or a failed test.
fn chromium() -> PathBuf {
    let script = workspace().join("interop/browser/setup.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("running interop/browser/setup.sh");
    assert!(
        out.status.success(),
        "interop/browser/setup.sh could not install Chromium ({}): the browser tests need it",
        out.status
    );
    let path = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(
        path.lines()
            .last()
            .expect("setup.sh printed no path")
            .trim(),
    )
}

/// Serves `rpc-webtransport/js/` and takes the page's report at `POST /report`.
async fn page_server(report: oneshot::Sender<Value>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let root = workspace().join("rpc-webtransport/js");
    let report = Arc::new(Mutex::new(Some(report)));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (root, report) = (root.clone(), report.clone());
            let service = hyper::service::service_fn(move |req| {
                let (root, report) = (root.clone(), report.clone());
                async move { Ok::<_, hyper::Error>(serve_page(req, &root, &report).await) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service),
            );
        }
    });
    addr
}

async fn serve_page(
    req: Request<hyper::body::Incoming>,
    root: &Path,
    report: &Mutex<Option<oneshot::Sender<Value>>>,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("cache-control", "no-store")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    if req.method() == hyper::Method::POST && req.uri().path() == "/report" {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let value: Value = serde_json::from_slice(&body).expect("the page's report is JSON");
        if let Some(tx) = report.lock().unwrap().take() {
            let _ = tx.send(value);
        }
        return reply(StatusCode::NO_CONTENT, "text/plain", Vec::new());
    }
    // Only the shipped files, by exact name: nothing outside js/.
    let content_type = match req.uri().path() {
        "/qrpc.mjs" | "/demo/route_guide.mjs" => "text/javascript",
        "/demo/route_guide.html" => "text/html",
        _ => return reply(StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec()),
    };
    let file = root.join(req.uri().path().trim_start_matches('/'));
    let body = tokio::fs::read(&file).await.expect("a shipped file");
    reply(StatusCode::OK, content_type, body)
}

/// A WebTransport server that answers each call with one kind of bad response, chosen by
/// the method name in the request head: the browser client must end each with a clear
/// status.
fn bad_server(cert: &BrowserDevCertificate) -> String {
    let mut tls = cert.server_config().unwrap().to_rustls().unwrap();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let config = wtransport::ServerConfig::builder()
        .with_bind_address("127.0.0.1:0".parse().unwrap())
        .with_custom_tls(tls)
        .build();
    let endpoint = wtransport::Endpoint::server(config).unwrap();
    let url = format!("https://{}/evil", endpoint.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok(request) = endpoint.accept().await.await else {
                continue;
            };
            let Ok(session) = request.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                while let Ok((send, recv)) = session.accept_bi().await {
                    tokio::spawn(answer_badly(send, recv));
                }
            });
        }
    });
    url
}

async fn answer_badly(mut send: wtransport::SendStream, mut recv: wtransport::RecvStream) {
    let mut head = vec![0u8; 6];
    if recv.read_exact(&mut head).await.is_err() {
        return;
    }
    let len = u32::from_be_bytes(head[2..6].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len.min(16 * 1024)];
    if recv.read_exact(&mut payload).await.is_err() {
        return;
    }
    let has = |name: &str| payload.windows(name.len()).any(|w| w == name.as_bytes());
    let message = [0x00, 0, 0, 0, 0, 1, 0x08];
    let ok_trailers = [0x02, 0, 0, 0, 0, 0];
    let bytes: Vec<u8> = if has("Oversize") {
        vec![0x00, 0, 0x00, 0x50, 0x00, 0x00] // a 5 MiB message, never sent
    } else if has("Truncated") {
        vec![0x00, 0, 0, 0, 0, 10, 1, 2, 3] // FIN inside the message
    } else if has("NoStatus") {
        message.to_vec() // FIN without TRAILERS
    } else if has("BadTrailers") {
        vec![0x02, 0, 0, 0, 0, 1, 0xff] // not a Trailers message
    } else if has("TwoMessages") {
        [&message[..], &message[..], &ok_trailers[..]].concat()
    } else {
        // Reset: DEADLINE_EXCEEDED (0x2) in WebTransport's HTTP/3 range (PROTOCOL.md §19.4).
        let _ = send.reset(wtransport::VarInt::try_from_u64(0x52e4_a40f_a8db + 2).unwrap());
        return;
    };
    if send.write_all(&bytes).await.is_ok() && !has("Oversize") {
        let _ = send.finish().await;
    }
    // Keep the stream until the client is done with it.
    let _ = send.stopped().await;
}

/// What a native client gets over QUIC: the page's results must be the same.
async fn native(addr: SocketAddr, cert: &SelfSigned) -> (String, Vec<String>) {
    let channel = rpc_core::Endpoint::new(format!("localhost:{}", addr.port()))
        .unwrap()
        .tls_config(cert.client_config())
        .connect()
        .await
        .unwrap();
    let client = RouteGuideClient::new(channel);
    let feature = client
        .get_feature(Point {
            latitude: 407_838_351,
            longitude: -746_143_763,
        })
        .await
        .unwrap()
        .into_inner();
    let rect = Rectangle {
        lo: Some(Point {
            latitude: 400_000_000,
            longitude: -750_000_000,
        }),
        hi: Some(Point {
            latitude: 420_000_000,
            longitude: -730_000_000,
        }),
    };
    let mut listed = client.list_features(rect).await.unwrap().into_inner();
    let mut names = Vec::new();
    while let Some(f) = listed.message().await.unwrap() {
        names.push(f.name);
    }
    (feature.name, names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_calls_route_guide_over_webtransport_and_grpc_web() {
    let browser = chromium();

    // route_guide on QUIC, WebTransport (a certificate pinned by hash) and gRPC-Web (h2c /
    // HTTP/1.1 on TCP, default CORS: any origin).
    let cert = SelfSigned::loopback().unwrap();
    let server = examples::route_guide::bind(&cert, "127.0.0.1:0".parse().unwrap()).unwrap();
    let quic = server.local_addr();
    let handle = server.handle();
    let wt_cert = BrowserDevCertificate::loopback().unwrap();
    let wt = rpc_webtransport::WebTransportServer::new(handle.clone())
        .bind(
            "127.0.0.1:0".parse().unwrap(),
            wt_cert.server_config().unwrap(),
        )
        .unwrap();
    let wt_url = wt.url();
    let http = rpc_grpc::GrpcServer::new(handle.clone())
        .grpc_web(true)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let grpc_web_url = format!("http://{}", http.local_addr());
    tokio::spawn(wt.serve());
    tokio::spawn(http.serve());
    let serving = tokio::spawn(server.serve());
    let (native_feature, native_list) = native(quic, &cert).await;
    assert_eq!(native_feature, "Patriots Path, Mendham, NJ 07945, USA");
    assert_eq!(native_list.len(), 5, "{native_list:?}");

    let (report_tx, report_rx) = oneshot::channel();
    let page = page_server(report_tx).await;
    let url = format!(
        "http://{page}/demo/route_guide.html?wt={wt_url}&hash={}&grpcweb={grpc_web_url}&evil={}&report=/report",
        wt_cert.sha256_hex(),
        bad_server(&wt_cert),
    );
    let profile = std::env::temp_dir().join(format!("qrpc-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let mut chromium = tokio::process::Command::new(&browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting chromium");
    let report = tokio::time::timeout(Duration::from_secs(45), report_rx).await;
    let _ = chromium.kill().await;
    let _ = std::fs::remove_dir_all(&profile);
    let report = report
        .expect("the page did not report within 45 s")
        .unwrap();
    println!("{report:#}");

    // WebTransport, through qrpc.mjs: the same answers as the native client, and statuses.
    let wt = &report["webTransport"];
    assert_eq!(wt["getFeature"], native_feature.as_str(), "{report:#}");
    assert_eq!(
        wt["listFeatures"],
        serde_json::json!(native_list),
        "{report:#}"
    );
    assert_eq!(wt["firstOnly"], native_list[0].as_str(), "{report:#}");
    assert_eq!(wt["unimplemented"]["code"], 12, "{report:#}");
    assert_eq!(wt["unimplemented"]["codeName"], "UNIMPLEMENTED");
    assert_eq!(wt["deadline"]["code"], 4, "{report:#}");
    assert_eq!(wt["after"], native_feature.as_str());

    // gRPC-Web from another origin (the page's port differs): CORS lets it through.
    let web = &report["grpcWeb"];
    assert_eq!(web["getFeature"], native_feature.as_str(), "{report:#}");
    assert_eq!(
        web["listFeatures"],
        serde_json::json!(native_list),
        "{report:#}"
    );
    assert_eq!(web["unimplemented"]["code"], 12, "{report:#}");

    // A server's bad answers: each a clear status in the page.
    let bad = &report["badServer"];
    for (case, code) in [
        ("Oversize", 8),   // RESOURCE_EXHAUSTED, on the frame header
        ("Truncated", 13), // INTERNAL
        ("NoStatus", 13),  // INTERNAL
        ("BadTrailers", 13),
        ("Reset", 4), // DEADLINE_EXCEEDED, from the reset's code
        ("TwoMessages", 13),
    ] {
        assert_eq!(bad[case]["code"], code, "{case}: {report:#}");
    }

    handle.shutdown();
    serving.await.unwrap();
}

/// `route_guide server ADDR --browser` prints what a page needs, and serves it: a
/// WebTransport session pinned to the printed hash and the gRPC port answer GetFeature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_guide_browser_mode_prints_and_serves_both_ports() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_route_guide"))
        .args(["server", "127.0.0.1:0", "--browser"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut wt, mut hash, mut grpc_web) = (None, None, None);
    while wt.is_none() || grpc_web.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("route_guide printed nothing for 30 s")
            .unwrap()
            .expect("route_guide exited");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["WebTransport:", url, "(certificate", "sha-256", h] => {
                wt = Some(url.to_string());
                hash = Some(h.trim_end_matches(')').to_owned());
            }
            ["gRPC-Web:", url] => grpc_web = Some(url.to_string()),
            _ => {}
        }
    }
    let hex = hash.unwrap();
    let mut sha256 = [0u8; 32];
    for (i, byte) in sha256.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let point = Point {
        latitude: 407_838_351,
        longitude: -746_143_763,
    };
    let connector =
        rpc_webtransport::WebTransportConnector::with_certificate_hash(wt.unwrap(), sha256)
            .unwrap();
    let channel = rpc_core::Endpoint::from_connector(connector)
        .connect()
        .await
        .unwrap();
    let feature = RouteGuideClient::new(channel)
        .get_feature(point)
        .await
        .unwrap();
    assert_eq!(
        feature.into_inner().name,
        "Patriots Path, Mendham, NJ 07945, USA"
    );
    // The gRPC-Web port serves standard gRPC (h2c) too.
    let channel = rpc_grpc::GrpcConnector::new(grpc_web.unwrap())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let feature = RouteGuideClient::new(channel)
        .get_feature(point)
        .await
        .unwrap();
    assert_eq!(
        feature.into_inner().name,
        "Patriots Path, Mendham, NJ 07945, USA"
    );
    let _ = child.kill().await;
}
