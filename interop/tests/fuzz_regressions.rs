//! Replays the inputs kept under `fuzz/regressions/<target>/` (crashes found by fuzzing) and
//! `fuzz/seeds/<target>/` (seed corpus) through the same harnesses the fuzz targets run
//! (`interop::fuzzing`): none may panic.

use std::path::Path;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
        .join(dir);
    let mut n = 0;
    for target in interop::fuzzing::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let res = std::panic::catch_unwind(|| interop::fuzzing::run(target, &data));
            assert!(res.is_ok(), "{target}: {} panics", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn regressions_do_not_panic() {
    replay("regressions");
}

#[test]
fn seeds_do_not_panic() {
    assert!(replay("seeds") > 0, "no seed found under fuzz/seeds");
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
