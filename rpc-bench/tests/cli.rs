//! The `rpc-bench` binary end to end, on loopback, with tiny request counts. Behaviour only:
//! fields present, calls made, no errors; never timing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rpc-bench");

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("rpc-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rpc-bench {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs rpc-bench expecting it to fail; returns its stderr.
fn run_failing(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("rpc-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "rpc-bench {args:?} succeeded\nstdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The one line rpc-bench printed on stderr.
fn reason(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr:\n{stderr}");
    lines[0]
}

/// An rpc-core server with no services at all (every call is UNIMPLEMENTED), presenting the
/// development certificate that `--insecure-dev` trusts; stops when dropped.
struct BareServer {
    addr: String,
    handle: rpc_core::server::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BareServer {
    fn start() -> Self {
        let tls = rpc_core::tls::dev::SelfSigned::loopback()
            .expect("dev certificate")
            .server_config()
            .expect("server TLS");
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = rpc_bench::server::runtime(0).expect("runtime");
            rt.block_on(async move {
                let server = rpc_core::Server::builder()
                    .tls_config(tls)
                    .bind("127.0.0.1:0".parse().unwrap())
                    .expect("server binds");
                tx.send((server.local_addr(), server.handle())).unwrap();
                server.serve().await;
            });
        });
        let (addr, handle) = rx.recv().expect("server started");
        BareServer {
            addr: addr.to_string(),
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json(args: &[&str]) -> serde_json::Value {
    let stdout = run(args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

#[test]
fn default_suite_prints_json_with_every_field_and_no_errors() {
    let v = json(&[
        "--requests",
        "200",
        "--warmup",
        "0ms",
        "--stream-messages",
        "2",
        "--json",
    ]);
    assert!(v["cpu_scope"].as_str().unwrap().contains("whole process"));
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{v:#}");
    let calls: Vec<&str> = results
        .iter()
        .map(|r| r["call"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["unary", "unary", "unary", "server-stream"]);
    for r in results {
        assert_eq!(r["ok"], 200, "{r:#}");
        assert_eq!(r["error_count"], 0, "{r:#}");
        assert!(r["errors"].as_object().unwrap().is_empty());
        for key in [
            "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us", "mean_us",
        ] {
            assert!(r["latency"][key].as_f64().unwrap() > 0.0, "{key}: {r:#}");
        }
        for key in ["calls_per_sec", "mb_per_sec", "elapsed_s"] {
            assert!(r[key].as_f64().unwrap() > 0.0, "{key}: {r:#}");
        }
        assert!(r.get("cpu_per_call_us").is_some());
        assert!(r.get("cpu_per_mb_ms").is_some());
    }
    assert_eq!(results[1]["concurrency"], 64);
    // Server-streaming: 200 calls x 2 messages x 64 KiB received.
    assert_eq!(results[3]["payload_bytes_total"], 200 * 2 * 65536);
}

#[test]
fn table_has_the_expected_columns_and_svg_is_written() {
    let svg = std::env::temp_dir().join(format!("rpc-bench-test-{}.svg", std::process::id()));
    let out = run(&[
        "--call",
        "client-stream",
        "--requests",
        "50",
        "--stream-messages",
        "3",
        "-c",
        "4",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    for col in [
        "calls/s",
        "MB/s",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "CPU/call µs",
    ] {
        assert!(out.contains(col), "missing {col}:\n{out}");
    }
    let row = out
        .lines()
        .find(|l| l.starts_with("client-stream 64 B x3 c=4"))
        .unwrap_or_else(|| panic!("no row:\n{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[5], "50", "calls: {row}");
    assert_eq!(cells[6], "0", "errors: {row}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(chart.starts_with("<svg") && chart.contains("polyline"));
}

#[test]
fn separate_server_process_with_target_and_dev_trust() {
    let mut server = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--exit-after", "60s"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let pid = server.id().to_string();
    let v = json(&[
        "--target",
        &addr,
        "--insecure-dev",
        "--call",
        "bidi",
        "--requests",
        "100",
        "-c",
        "2",
        "--server-pid",
        &pid,
        "--json",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    let r = &v["results"][0];
    assert_eq!(r["call"], "bidi");
    assert_eq!(r["ok"], 100, "{v:#}");
    assert_eq!(r["error_count"], 0);
    assert!(v["cpu_scope"].as_str().unwrap().contains("server process"));
}

#[test]
fn a_target_without_the_echo_service_fails_with_the_reason() {
    let server = BareServer::start();
    let base = [
        "--target",
        &server.addr,
        "--insecure-dev",
        "--warmup",
        "0ms",
    ];

    let args = [
        &base[..],
        &["--call", "unary", "--requests", "20", "-c", "2"],
    ]
    .concat();
    let stderr = run_failing(&args);
    let line = reason(&stderr);
    assert!(
        line.contains(&format!("{} does not serve echo.Echo/Unary", server.addr)),
        "{line}"
    );
    assert!(line.contains("Unimplemented"), "{line}");
    assert!(
        line.contains("rpc-bench drives only the echo.Echo service"),
        "{line}"
    );

    // The suite names every method it tried; JSON still goes to stdout.
    let args = [
        &base[..],
        &["--requests", "5", "--stream-messages", "2", "--json"],
    ]
    .concat();
    let out = Command::new(BIN).args(&args).output().unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["ok"], 0, "{r:#}");
        assert_eq!(r["errors"]["Unimplemented"], 5, "{r:#}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = reason(&stderr);
    assert!(
        line.contains("does not serve echo.Echo/Unary, echo.Echo/ServerStream"),
        "{line}"
    );

    for (call, method) in [
        ("bidi", "Bidi"),
        ("client-stream", "ClientStream"),
        ("connect", "Unary"),
    ] {
        let args = [&base[..], &["--call", call, "--requests", "3"]].concat();
        let stderr = run_failing(&args);
        let line = reason(&stderr);
        assert!(
            line.contains(&format!("does not serve echo.Echo/{method}")),
            "{call}: {line}"
        );
    }
}

#[test]
fn an_unreachable_target_fails_with_could_not_reach() {
    // A UDP port that is bound (so nothing else takes it) but never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let base = [
        "--target",
        &addr,
        "--insecure-dev",
        "--connect-timeout",
        "300ms",
        "--warmup",
        "0ms",
    ];

    // The first connection of the run fails.
    let args = [&base[..], &["--call", "unary", "-z", "1s"]].concat();
    let stderr = run_failing(&args);
    let line = reason(&stderr);
    assert!(
        line.contains(&format!("could not reach {addr}: ")),
        "{line}"
    );

    // Every call of the connect scenario fails to connect.
    let args = [&base[..], &["--call", "connect", "--requests", "2"]].concat();
    let stderr = run_failing(&args);
    let line = reason(&stderr);
    assert!(
        line.contains(&format!("could not reach {addr}: ")),
        "{line}"
    );
    drop(silent);
}

#[test]
fn help_takes_the_udp_payload_default_from_rpc_core() {
    let help = run(&["--help"]);
    let text = help
        .split("--max-udp-payload")
        .nth(1)
        .and_then(|rest| rest.split("--initial-mtu").next())
        .unwrap_or_else(|| panic!("no --max-udp-payload in:\n{help}"));
    assert_eq!(rpc_core::DEFAULT_MAX_UDP_PAYLOAD_SIZE, 6000);
    assert!(text.contains("default 6000"), "{text}");
    assert!(!help.contains("1472"), "{help}");
}
