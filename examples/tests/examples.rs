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

#[test]
fn macro_service_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_macro_service"))
        .output()
        .expect("run macro_service");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "reply: Hello world!",
        "streamed reply: Hello stream (#1)!",
        "streamed reply: Hello stream (#2)!",
        "reply to all: Hello Ann, Bob, Cy!",
        "chat reply: Hello Dee!",
        "chat reply: Hello Eve!",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
