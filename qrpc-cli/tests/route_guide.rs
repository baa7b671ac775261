//! Every `qrpc` verb against the route_guide example server (served in-process from the
//! examples library, with its health and reflection services): list, describe, call of all
//! four kinds, and bench of all four kinds.

use rpc_core::tls::dev::SelfSigned;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The route_guide server's port, started once on a runtime of its own.
fn port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        // The certificate `--insecure-dev` trusts.
        let cert = SelfSigned::loopback().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let server =
                    examples::route_guide::bind(&cert, "127.0.0.1:0".parse().unwrap()).unwrap();
                tx.send(server.local_addr().port()).unwrap();
                server.serve().await;
            });
        });
        rx.recv().unwrap()
    })
}

/// Runs `qrpc --addr localhost:PORT --insecure-dev ARGS` with `stdin`; returns its exit
/// code, stdout and stderr.
fn qrpc(args: &[&str], stdin: &str) -> (i32, String, String) {
    let addr = format!("localhost:{}", port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_qrpc"))
        .args(["--addr", &addr, "--insecure-dev"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(args: &[&str], stdin: &str) -> String {
    let (code, stdout, stderr) = qrpc(args, stdin);
    assert_eq!(code, 0, "qrpc {args:?} failed:\n{stderr}");
    stdout
}

/// The JSON values of `text`, one after another.
fn values(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect()
}

const PATRIOTS: &str = r#"{"latitude": 407838351, "longitude": -746143763}"#;

#[test]
fn list_and_describe() {
    let services = ok(&["list"], "");
    assert_eq!(
        services.lines().collect::<Vec<_>>(),
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "routeguide.RouteGuide"
        ]
    );
    let methods = ok(&["list", "routeguide.RouteGuide"], "");
    assert_eq!(
        methods.lines().collect::<Vec<_>>(),
        [
            "routeguide.RouteGuide.GetFeature",
            "routeguide.RouteGuide.ListFeatures",
            "routeguide.RouteGuide.RecordRoute",
            "routeguide.RouteGuide.RouteChat"
        ]
    );
    let service = ok(&["describe", "routeguide.RouteGuide"], "");
    assert!(
        service.contains(
            "  rpc RouteChat ( stream .routeguide.RouteNote ) returns ( stream .routeguide.RouteNote );"
        ),
        "{service}"
    );
    // route_guide.proto's comments come through reflection.
    assert!(
        service.contains("  // Obtains the Features available within the given Rectangle."),
        "{service}"
    );
    let point = ok(&["describe", "routeguide.Point"], "");
    assert!(point.contains("message Point {\n"), "{point}");
    assert!(point.contains("  int32 latitude = 1;\n"), "{point}");
}

#[test]
fn call_all_four_kinds() {
    let feature = values(&ok(
        &["call", "routeguide.RouteGuide/GetFeature", "-d", PATRIOTS],
        "",
    ));
    assert_eq!(
        feature[0]["name"], "Patriots Path, Mendham, NJ 07945, USA",
        "{feature:?}"
    );

    let rect = r#"{"lo": {"latitude": 400000000, "longitude": -750000000},
                   "hi": {"latitude": 420000000, "longitude": -730000000}}"#;
    let listed = values(&ok(
        &["call", "routeguide.RouteGuide/ListFeatures", "-d", rect],
        "",
    ));
    assert_eq!(listed.len(), 5, "{listed:?}");

    let points = format!("{PATRIOTS}\n{{\"latitude\": 1, \"longitude\": 2}}\n");
    let summary = values(&ok(
        &["call", "routeguide.RouteGuide/RecordRoute", "-d", "@"],
        &points,
    ));
    assert_eq!(summary[0]["pointCount"], 2, "{summary:?}");
    assert_eq!(summary[0]["featureCount"], 1, "{summary:?}");

    // The second note at a place gets the first one back.
    let notes = r#"{"location": {"latitude": 7, "longitude": 7}, "message": "first"}
                   {"location": {"latitude": 7, "longitude": 7}, "message": "second"}"#;
    let chat = values(&ok(
        &["call", "routeguide.RouteGuide/RouteChat", "-d", notes],
        "",
    ));
    assert_eq!(chat.len(), 1, "{chat:?}");
    assert_eq!(chat[0]["message"], "first");
}

/// `qrpc bench ... --json` for `calls` calls; returns the scenario's report.
fn bench(method: &str, data: &str, calls: u64, extra: &[&str]) -> Value {
    let total = calls.to_string();
    let mut args = vec![
        "bench", method, "-d", data, "-n", &total, "-c", "4", "--json",
    ];
    args.extend_from_slice(extra);
    let report: Value = serde_json::from_str(&ok(&args, "")).unwrap();
    let result = report["results"][0].clone();
    assert_eq!(result["ok"], json!(calls), "{report:#}");
    assert_eq!(result["error_count"], json!(0), "{report:#}");
    result
}

#[test]
fn bench_all_four_kinds() {
    let unary = bench("routeguide.RouteGuide/GetFeature", PATRIOTS, 40, &[]);
    assert_eq!(unary["call"], "unary", "{unary:#}");
    let rect = r#"{"lo": {"latitude": 400000000, "longitude": -750000000},
                   "hi": {"latitude": 420000000, "longitude": -730000000}}"#;
    let stream = bench("routeguide.RouteGuide.ListFeatures", rect, 20, &[]);
    assert_eq!(stream["call"], "server-stream", "{stream:#}");
    let route = format!("{PATRIOTS} {PATRIOTS} {PATRIOTS}");
    let record = bench("routeguide.RouteGuide/RecordRoute", &route, 20, &[]);
    assert_eq!(record["call"], "client-stream", "{record:#}");
    // Templated: each call's note has its own number.
    let note = r#"{"location": {"latitude": {{.RequestNumber}}}, "message": "{{newUUID}}"}"#;
    let chat = bench("routeguide.RouteGuide/RouteChat", note, 20, &[]);
    assert_eq!(chat["call"], "bidi", "{chat:#}");
}

#[test]
fn bench_writes_an_html_report() {
    let dir = std::env::temp_dir().join(format!("qrpc-bench-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    let html_arg = html.to_str().unwrap();
    let result = bench(
        "routeguide.RouteGuide/GetFeature",
        r#"{"latitude": {{randomInt 0 1000}}}"#,
        30,
        &["--html", html_arg, "--label", "get <feature>"],
    );
    assert_eq!(result["label"], "get <feature>");
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(text.starts_with("<!DOCTYPE html>"), "{}", &text[..100]);
    // The label is escaped.
    assert!(text.contains("get &lt;feature&gt;"));
    assert!(!text.contains("get <feature>"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_bad_input_fails_before_any_call() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["bench", "routeguide.RouteGuide/Nope", "-n", "1"],
            "has no method \"Nope\"",
        ),
        (
            &[
                "bench",
                "routeguide.RouteGuide/GetFeature",
                "-d",
                r#"{"latitud": 1}"#,
            ],
            "does not match routeguide.Point",
        ),
        (
            &[
                "bench",
                "routeguide.RouteGuide/GetFeature",
                "-d",
                r#"{"latitude": "north"}"#,
            ],
            "field `latitude`",
        ),
        (
            &["bench", "routeguide.RouteGuide/GetFeature", "-d", "{} {}"],
            "exactly one request message, got 2",
        ),
        (
            &[
                "bench",
                "routeguide.RouteGuide/GetFeature",
                "-d",
                "{{.Nope}}",
            ],
            "unknown placeholder {{.Nope}}",
        ),
        (
            &["bench", "routeguide.RouteGuide/GetFeature", "--rps", "0"],
            "the rate must be above 0",
        ),
        (
            &[
                "bench",
                "routeguide.RouteGuide/GetFeature",
                "--rps",
                "1..5",
                "-n",
                "3",
            ],
            "give -z (a duration), not -n",
        ),
    ];
    for (args, expected) in cases {
        let (code, _, stderr) = qrpc(args, "");
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: {expected:?} not in {stderr}"
        );
    }
}

#[test]
fn bench_counts_requests_the_template_makes_invalid() {
    // Calls 0 to 9 send latitudes up to 1.9e9; from call 10 on, 1.1e10 and more do not fit
    // an int32: those calls fail locally, counted under their own label.
    let stdout = ok(
        &[
            "bench",
            "routeguide.RouteGuide/GetFeature",
            "-d",
            r#"{"latitude": 1{{.RequestNumber}}00000000}"#,
            "-n",
            "15",
            "-c",
            "1",
            "--warmup",
            "0",
            "--json",
        ],
        "",
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let result = &report["results"][0];
    assert_eq!(result["ok"], 10, "{report:#}");
    assert_eq!(result["errors"], json!({"InvalidRequest": 5}), "{report:#}");
}
