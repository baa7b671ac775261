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
fn metrics_layers_count_every_call_on_both_sides() {
    let out = run(&[
        "--metrics",
        "--call",
        "unary",
        "-c",
        "4",
        "-n",
        "200",
        "--warmup",
        "0ms",
    ]);
    let labels = r#"rpc_service="echo.Echo",rpc_method="Unary""#;
    for side in ["server", "client"] {
        for line in [
            format!("rpc_{side}_calls_finished{{{labels},rpc_grpc_status_code=\"0\"}} 200"),
            format!("rpc_{side}_calls_in_flight{{{labels}}} 0"),
        ] {
            assert!(
                out.lines().any(|l| l.trim() == line),
                "missing {line:?} in:\n{out}"
            );
        }
    }
}

#[test]
fn traced_calls_all_succeed_through_both_trace_layers() {
    let v = json(&[
        "--tracing",
        "--metrics",
        "--call",
        "unary",
        "-c",
        "4",
        "-n",
        "200",
        "--warmup",
        "0ms",
        "--json",
    ]);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{v:#}");
    assert_eq!(results[0]["ok"], 200, "{v:#}");
    assert_eq!(results[0]["error_count"], 0, "{v:#}");
}

#[test]
fn breakdown_prints_each_phase_of_every_call() {
    let out = run(&[
        "--breakdown",
        "--call",
        "unary",
        "-c",
        "4",
        "-n",
        "200",
        "--warmup",
        "0ms",
    ]);
    assert!(out.contains("where the time went (200 calls"), "{out}");
    // Every phase has figures: the server reported its handler time on every call.
    for phase in [
        "encode",
        "queue",
        "network",
        "server handler",
        "network only",
        "decode",
        "total",
    ] {
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with(phase))
            .unwrap_or_else(|| panic!("no {phase} row in:\n{out}"));
        let figures: Vec<u64> = row[phase.len() + 2..]
            .split_whitespace()
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{row:?}")))
            .collect();
        assert_eq!(figures.len(), 5, "{row:?}");
        assert!(
            figures.windows(2).all(|w| w[0] <= w[1]),
            "percentiles ascend: {row:?}"
        );
    }
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

/// The text of the element with `id="{id}"` (up to the next tag).
fn cell<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no element with id {id}"));
    let rest = &html[at + id.len() + 6..];
    &rest[..rest.find('<').expect("element closes")]
}

/// Checks that every element is closed, in order (the report is written as well-formed
/// XML: void elements self-closed, no raw `<` in text), and returns the element names seen.
fn check_well_formed(html: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("tag ends") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name, "</{name}> closes <{top}>");
            continue;
        }
        assert!(!tag.contains('<'), "raw < in a tag or text: {tag}");
        let name = tag.split_whitespace().next().expect("tag name").to_owned();
        seen.push(name.clone());
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    seen
}

#[test]
fn a_step_ramp_follows_its_schedule_and_writes_the_html_report() {
    let html_path =
        std::env::temp_dir().join(format!("rpc-bench-test-{}.html", std::process::id()));
    let label = "ramp <&> \"it's\"";
    let v = json(&[
        "--call",
        "unary",
        "-z",
        "1s",
        "--rps",
        "50..200",
        "--ramp",
        "step",
        "--ramp-steps",
        "3",
        "--label",
        label,
        "--html",
        html_path.to_str().unwrap(),
        "--json",
    ]);
    let r = &v["results"][0];
    assert_eq!(r["label"], label);
    assert_eq!(r["schedule"]["ramp"], "step", "{r:#}");
    assert_eq!(r["schedule"]["steps"], 3);
    assert_eq!(r["rate"], serde_json::Value::Null);
    // 50, 125 and 200 calls/s for a third of a second each: 125 calls, whatever the box.
    let calls = r["ok"].as_u64().unwrap() + r["error_count"].as_u64().unwrap();
    assert!((100..=150).contains(&calls), "{calls} calls: {r:#}");

    let timeline = &r["timeline"];
    assert!(timeline["interval_s"].as_f64().unwrap() > 0.0);
    let intervals = timeline["intervals"].as_array().unwrap();
    let rates: Vec<f64> = intervals
        .iter()
        .filter_map(|i| i["scheduled_rps"].as_f64())
        .collect();
    assert!(rates.len() >= 5, "{timeline:#}");
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    assert_eq!(rates[0], 50.0, "{rates:?}");
    assert_eq!(*rates.last().unwrap(), 200.0, "{rates:?}");
    let ok_in_intervals: u64 = intervals.iter().map(|i| i["ok"].as_u64().unwrap()).sum();
    assert_eq!(ok_in_intervals, r["ok"].as_u64().unwrap());
    for key in ["t_s", "p50_us", "p90_us", "p99_us"] {
        assert!(intervals[0].get(key).is_some(), "{key}: {timeline:#}");
    }

    let html = std::fs::read_to_string(&html_path).expect("HTML report written");
    let _ = std::fs::remove_file(&html_path);
    let elements = check_well_formed(&html);
    for name in ["html", "head", "style", "body", "section", "table", "svg"] {
        assert!(elements.iter().any(|e| e == name), "no <{name}>");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    for forbidden in ["<script", "http://", "https://", "<link", "@import", "url("] {
        // The SVG namespace is the one URL allowed: a name, never fetched.
        let n = html.matches(forbidden).count();
        let allowed = if forbidden == "http://" {
            html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        } else {
            0
        };
        assert_eq!(n, allowed, "{forbidden} in the report");
    }
    for section in [
        "Summary",
        "Latency histogram",
        "Percentiles over time",
        "Throughput over time",
        "Status codes",
    ] {
        assert!(html.contains(&format!("<h3>{section}</h3>")), "{section}");
    }
    assert!(html.contains("ramp &lt;&amp;&gt; &quot;it&#39;s&quot;"));
    assert!(!html.contains(label));
    assert!(html.contains("scheduled"), "no scheduled rate line");
    // The numbers shown are the report's.
    assert_eq!(cell(&html, "s0-ok"), r["ok"].to_string());
    assert_eq!(cell(&html, "s0-errors"), r["error_count"].to_string());
    let p50 = format!("{:.1}", r["latency"]["p50_us"].as_f64().unwrap());
    assert_eq!(cell(&html, "s0-p50"), p50);
    assert_eq!(cell(&html, "s0-load"), "open loop, 50..200/s in 3 steps");
}

#[test]
fn rate_is_an_alias_of_rps() {
    let v = json(&[
        "--call", "unary", "--rate", "200", "-n", "20", "--warmup", "0ms", "--json",
    ]);
    let r = &v["results"][0];
    assert_eq!(r["ok"], 20, "{r:#}");
    assert_eq!(r["rate"], 200.0);
    assert_eq!(r["schedule"]["ramp"], "constant");
    assert!(r["label"].as_str().unwrap().ends_with("@200/s"), "{r:#}");
}

#[test]
fn bad_rates_and_ramps_are_usage_errors() {
    let cases: [(&[&str], &str); 6] = [
        (&["--rps", "0"], "above 0"),
        (&["--rps=-3"], "above 0"),
        (&["--rps", "10.."], "START..END"),
        (
            &["--rps", "100", "--ramp", "step"],
            "--ramp step needs a range",
        ),
        (
            &["--rps", "10..100", "-n", "50"],
            "give -z (a duration), not -n",
        ),
        (
            &["--rps", "10..100", "--ramp", "linear", "--ramp-steps", "3"],
            "--ramp-steps needs --ramp step",
        ),
    ];
    for (args, expected) in cases {
        let args = [&["--call", "unary"][..], args].concat();
        let out = Command::new(BIN).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} ran");
    }
}

#[test]
fn connect_runs_with_zero_rtt_on_both_sides() {
    // Each call is a new connection from one Endpoint: after the first, they resume, and
    // their (idempotent) unary call may go in early data. Every call must succeed either way.
    let v = json(&[
        "--call",
        "connect",
        "--zero-rtt",
        "-n",
        "30",
        "--warmup",
        "0ms",
        "--json",
    ]);
    let r = &v["results"][0];
    assert_eq!(r["ok"], 30, "{r:#}");
    assert_eq!(r["error_count"], 0, "{r:#}");
}

#[test]
fn http2_drives_the_in_process_servers_grpc_port() {
    let v = json(&[
        "--http2",
        "--requests",
        "100",
        "--warmup",
        "0ms",
        "--stream-messages",
        "2",
        "--json",
    ]);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{v:#}");
    for r in results {
        assert_eq!(r["ok"], 100, "{r:#}");
        assert_eq!(r["error_count"], 0, "{r:#}");
    }
}

#[test]
fn http2_drives_a_separate_servers_h2_addr() {
    // The HTTP/2 port of `serve --h2-addr`, on a port of its own: the QUIC port is not used.
    let h2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let h2_addr = h2.local_addr().unwrap().to_string();
    drop(h2);
    let mut server = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--exit-after", "60s"])
        .args(["--h2-addr", &h2_addr])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.contains(&h2_addr), "{line:?}");
    let v = json(&[
        "--http2",
        "--target",
        &h2_addr,
        "--call",
        "client-stream",
        "--requests",
        "50",
        "-c",
        "2",
        "--json",
    ]);
    let _ = server.kill();
    let _ = server.wait();
    let r = &v["results"][0];
    assert_eq!(r["call"], "client-stream");
    assert_eq!(r["ok"], 50, "{v:#}");
    assert_eq!(r["error_count"], 0);
}
