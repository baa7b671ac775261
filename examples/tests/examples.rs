//! Runs each example binary so they cannot rot.

use std::process::Command;

#[test]
fn helloworld_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_helloworld"))
        .output()
        .expect("run helloworld");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("reply: Hello world!"), "{stdout}");
}
