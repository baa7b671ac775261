//! Balanced runs of the `rpc-bench` binary (`--target a,b`, `--policy`, `--cache`) against
//! echo servers in separate processes on 127.0.0.2 and 127.0.0.3. Behaviour only: calls
//! made, spread, cached; never timing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rpc-bench");

/// An `rpc-bench serve` process on `ip`; stopped when dropped.
struct Serve(Child, String);

impl Serve {
    fn start(ip: &str) -> Self {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", &format!("{ip}:0"), "--exit-after", "60s"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split_whitespace()
            .find(|w| w.starts_with(ip))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Serve(child, addr)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("rpc-bench runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The calls the summary says `addr` got.
fn calls_of(stdout: &str, addr: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(addr))
        .unwrap_or_else(|| panic!("no line for {addr} in:\n{stdout}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_list_of_targets_is_balanced_and_the_distribution_reported() {
    let (a, b) = (Serve::start("127.0.0.2"), Serve::start("127.0.0.3"));
    let target = format!("{},{}", a.1, b.1);
    let common = [
        "--target",
        &target,
        "--insecure-dev",
        "--domain",
        "localhost",
        "--call",
        "unary",
        "--requests",
        "400",
        "--warmup",
        "0s",
        "-c",
        "1",
    ];
    let (ok, stdout, stderr) = run(&[&common[..], &["--policy", "round-robin"]].concat());
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("policy round-robin"), "{stdout}");
    // Round robin, one call at a time, nothing failing: even, but for the calls made while
    // the second server was still connecting (the run starts once one is up).
    let (ca, cb) = (calls_of(&stdout, &a.1), calls_of(&stdout, &b.1));
    assert_eq!(ca + cb, 400, "{stdout}");
    assert!(ca.abs_diff(cb) <= 20, "{stdout}");

    // The cache: 10 distinct requests, every repeat a hit.
    let (ok, stdout, stderr) =
        run(&[&common[..], &["--cache", "1MiB", "--cache-keys", "10"]].concat());
    assert!(ok, "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("response cache: hit ratio"))
        .unwrap_or_else(|| panic!("no cache line in:\n{stdout}"));
    assert!(
        line.contains(" 10 misses") && line.contains("10 entries"),
        "{line}"
    );
    let to_servers = calls_of(&stdout, &a.1) + calls_of(&stdout, &b.1);
    assert_eq!(to_servers, 10, "{stdout}");
}

#[test]
fn bad_balanced_targets_fail_with_the_reason() {
    let (ok, _, stderr) = run(&["--target", ",", "--policy", "p2c", "-n", "1"]);
    assert!(!ok);
    assert!(
        stderr.contains("could not reach ,") && stderr.contains("invalid target"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&["--target", "127.0.0.2:1", "--policy", "sideways", "-n", "1"]);
    assert!(!ok);
    assert!(stderr.contains("unknown policy"), "{stderr}");
}
