//! Runs the lossy-network benchmark script's `--quick` mode (benches/lossy/run.sh): a
//! network namespace whose loopback drops 1 % of packets (nftables), the echo servers and
//! the load client as separate processes in it, rpc-core against tonic h2c and TLS.
//!
//! It fails, never skips, when the script cannot run: the script installs nftables when it
//! is missing and says what else is (root, iproute2). The example binary is the one
//! `cargo test` builds next to this test; without it the script builds it in release mode.

use std::path::PathBuf;
use std::process::Command;

/// The `lossy` example built by this `cargo test` run, if there is one.
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/lossy_script-<hash> -> target/<profile>/examples/lossy
    let bin = exe.parent()?.parent()?.join("examples").join("lossy");
    bin.is_file().then_some(bin)
}

#[test]
fn quick_mode_runs_every_system_through_loss() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("lossy").join("run.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg("--quick");
    if let Some(bin) = example_binary() {
        cmd.env("LOSSY_BIN", bin);
    }
    let out = cmd.output().expect("cannot start bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "benches/lossy/run.sh --quick failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("quick run: ok"), "{stdout}\n{stderr}");
    for system in ["qrpc", "qrpc-1ms", "h2c", "tls"] {
        for workload in ["small+bulk", "16KiB"] {
            let row = format!("| {workload} | {system} |");
            assert!(stdout.contains(&row), "no row {row} in:\n{stdout}");
        }
    }
}
