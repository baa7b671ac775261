//! Replays the inputs kept under `fuzz/regressions/<target>/` (past bugs, edge cases of
//! `docs/PROTOCOL.md`, and any crash found by fuzzing) and `fuzz/seeds/<target>/` (seed
//! corpus) through the same harnesses the fuzz targets run (`interop::fuzzing`): none may
//! panic, and every target has inputs in both folders, so an emptied or misplaced folder
//! fails instead of replaying nothing.
//!
//! A regression input named `ok-*` must be accepted by its decoder and one named `bad-*`
//! rejected ([`interop::fuzzing::accepts`]); other names (`any-*`: the spec allows either)
//! only must not panic. So an input that no longer reaches the check it was made for (the
//! wire format changed under it) fails here rather than silently testing nothing.

use std::path::{Path, PathBuf};

/// The files of `fuzz/<dir>/<target>/`, sorted.
fn inputs(dir: &str, target: &str) -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
        .join(dir)
        .join(target);
    let entries = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e} (every fuzz target needs inputs)", folder.display()));
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Replays every input of `fuzz/<dir>/` through its harness; returns the count per target.
fn replay(dir: &str) -> Vec<(&'static str, usize)> {
    let mut counts = Vec::new();
    let mut wrong = Vec::new();
    for target in interop::fuzzing::TARGETS {
        let files = inputs(dir, target);
        for file in &files {
            let data = std::fs::read(file).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let accepted = std::panic::catch_unwind(|| interop::fuzzing::accepts(target, &data))
                .unwrap_or_else(|_| panic!("{target}: {} panics", file.display()));
            if dir != "regressions" {
                continue;
            }
            let expected = match name.split('-').next() {
                Some("ok") => Some(true),
                Some("bad") => Some(false),
                Some("any") => None,
                _ => panic!("{target}/{name}: name regression inputs ok-*, bad-* or any-*"),
            };
            if expected.is_some_and(|e| e != accepted) {
                wrong.push(format!("{target}/{name} (accepted: {accepted})"));
            }
        }
        counts.push((target, files.len()));
    }
    assert!(
        wrong.is_empty(),
        "inputs whose outcome does not match their name: {wrong:#?}"
    );
    counts
}

fn assert_every_target_has_inputs(dir: &str, counts: &[(&str, usize)]) {
    let empty: Vec<_> = counts.iter().filter(|(_, n)| *n == 0).collect();
    assert!(
        empty.is_empty(),
        "targets without inputs under fuzz/{dir}: {empty:?}"
    );
}

#[test]
fn regressions_do_not_panic() {
    let counts = replay("regressions");
    assert_every_target_has_inputs("regressions", &counts);
}

#[test]
fn seeds_do_not_panic() {
    let counts = replay("seeds");
    assert_every_target_has_inputs("seeds", &counts);
}

/// Both outcomes occur among every target's regression inputs: the folder holds cases on
/// each side of the decoder's checks, not only inputs rejected at the first byte.
#[test]
fn regressions_cover_accepted_and_rejected_inputs() {
    for target in interop::fuzzing::TARGETS {
        let names: Vec<String> = inputs("regressions", target)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for prefix in ["ok-", "bad-"] {
            assert!(
                names.iter().any(|n| n.starts_with(prefix)),
                "{target}: no {prefix}* input under fuzz/regressions/{target}"
            );
        }
    }
}

/// A few hand-made inputs per harness, so the harnesses themselves run in every test pass.
#[test]
fn harnesses_accept_edge_inputs() {
    let inputs: [&[u8]; 6] = [
        b"",
        b"\x00",
        b"\x80\x00\x00\x00",
        // Plan header (push mode, default limits, 2 cuts of 1 and 3) + a HEADERS frame.
        b"\x80\x00\x00\x02\x01\x03\x01\x00\x00\x00\x00\x05\x0a\x03/a/b",
        b"\x01\xff\xff\x03\x01\x02\x03\x02\x00\x00\x00\x00\x00",
        &[0xff; 64],
    ];
    for target in interop::fuzzing::TARGETS {
        for input in inputs {
            interop::fuzzing::run(target, input);
        }
    }
}
