//! The `.proto` front end: generation through protox (and protoc when one is
//! available), and readable errors for bad input.
#![cfg(feature = "build")]

use std::io;
use std::path::{Path, PathBuf};

use rpc_codegen::{ProtoError, Protoc};

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto")
}

/// A fresh directory under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("rpc-codegen-front-end")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tricky_protos() -> Vec<PathBuf> {
    let d = proto_dir();
    [
        "tricky/common.proto",
        "tricky/keywords.proto",
        "tricky/collisions.proto",
        "tricky/multi_a.proto",
        "tricky/multi_b.proto",
        "tricky/nested/deep.proto",
        "tricky/nopkg.proto",
    ]
    .iter()
    .map(|p| d.join(p))
    .collect()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

#[test]
fn generates_one_file_per_package_with_protox() {
    let out = scratch("protox");
    let fds = out.join("fds.bin");
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(&out)
        .file_descriptor_set_path(&fds)
        .emit_rerun_if_changed(false)
        .compile_protos(&tricky_protos(), &[proto_dir()])
        .unwrap();

    let multi = read(&out, "tricky.multi.rs");
    assert!(multi.contains("pub mod echo_client"), "{multi}");
    assert!(multi.contains("pub mod second_server"));
    assert!(multi.contains("pub mod empty_server"));
    assert!(multi.contains("\"/tricky.multi.Echo/Echo\""));
    // Comments became sanitized docs.
    assert!(multi.contains("Echoes \\[points\\] back; see <https://example.invalid/docs>"));
    assert!(multi.contains("```text"));
    // Deprecation.
    assert!(multi.contains("#[deprecated]"));
    // Types from other packages are resolved by prost and prefixed with super::.
    assert!(multi.contains("super::super::common::Point"), "{multi}");
    assert!(multi.contains("super::super::nested::deep::Thing"));

    let keywords = read(&out, "tricky.r#type.rs");
    assert!(keywords.contains("pub mod self_client"), "{keywords}");
    assert!(keywords.contains("pub async fn r#type("));
    assert!(keywords.contains("pub trait Self_:"));
    assert!(keywords.contains("fn self_("));
    assert!(keywords.contains("fn super_("));
    assert!(keywords.contains("pub mod loop_client"));
    assert!(keywords.contains("pub trait Loop:"));
    assert!(keywords.contains("\"/tricky.type.self/type\""));

    let clash = read(&out, "tricky.collisions.rs");
    for name in [
        "get_foo(",
        "get_foo_2(",
        "get_foo_3(",
        "new_2(",
        "connect_2(",
        "channel_2(",
        "clone_2(",
        "list_things(",
        "list_things_2(",
    ] {
        assert!(
            clash.contains(&format!("pub async fn {name}")),
            "{name}\n{clash}"
        );
    }
    assert!(clash.contains("::prost_types::Timestamp"));
    assert!(clash.contains("IntoRequest<()>"));
    assert!(clash.contains("type ListThings2Stream"));

    let nopkg = read(&out, "_.rs");
    assert!(nopkg.contains("\"/Lonely/Ping\""), "{nopkg}");
    assert!(nopkg.contains("const NAME: &'static str = \"Lonely\""));

    let deep = read(&out, "tricky.nested.deep.rs");
    assert!(deep.contains("super::thing::Inner"), "{deep}");
    assert!(deep.contains("::prost_types::Duration"));

    let fds = std::fs::read(&fds).unwrap();
    assert!(fds.len() > 100);
}

#[test]
fn compile_protos_shortcut_uses_the_file_folder() {
    let out = scratch("shortcut");
    // `compile_protos` writes to OUT_DIR; emulate a build script.
    // SAFETY-free: tests in this file don't read OUT_DIR concurrently except here.
    std::env::set_var("OUT_DIR", &out);
    rpc_codegen::compile_protos(proto_dir().join("helloworld.proto")).unwrap();
    let hello = read(&out, "helloworld.rs");
    assert!(hello.contains("pub struct HelloRequest"));
    assert!(hello.contains("pub mod greeter_client"));
    assert!(hello.contains("pub mod greeter_server"));
    assert!(hello.contains("/// Sends a greeting."));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn compile_err(dir: &Path, proto: &Path) -> io::Error {
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(dir)
        .emit_rerun_if_changed(false)
        .compile_protos(&[proto], &[dir])
        .unwrap_err()
}

fn proto_error(err: &io::Error) -> &ProtoError {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<ProtoError>())
        .unwrap_or_else(|| panic!("not a ProtoError: {err:?}"))
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let dir = scratch("syntax");
    let proto = write(
        &dir,
        "bad.proto",
        "syntax = \"proto3\";\npackage bad;\n\nmessage Foo {\n  string name = 1\n}\n",
    );
    let err = compile_err(&dir, &proto);
    let msg = err.to_string();
    eprintln!("{err:?}");
    let debug = format!("{err:?}");
    let pe = proto_error(&err);
    assert_eq!(pe.file(), Some(proto.as_path()), "{msg}");
    assert_eq!(pe.line(), Some(6), "{msg}");
    assert!(msg.contains(&format!("{}:6:1:", proto.display())), "{msg}");
    assert!(msg.contains("expected"), "{msg}");
    // The offending line is quoted, and Debug (what cargo prints) is not escaped.
    assert!(msg.contains("6 | }"), "{msg}");
    assert!(debug.contains("bad.proto:6:1"), "{debug}");
    assert!(!debug.contains("\\n"), "{debug}");
}

#[test]
fn unresolved_import_names_the_importing_line() {
    let dir = scratch("import");
    let proto = write(
        &dir,
        "imports.proto",
        "syntax = \"proto3\";\npackage imp;\n\nimport \"does/not/exist.proto\";\n",
    );
    let err = compile_err(&dir, &proto);
    let msg = err.to_string();
    eprintln!("{err:?}");
    let pe = proto_error(&err);
    assert_eq!(pe.line(), Some(4), "{msg}");
    assert!(msg.contains("imports.proto:4:1"), "{msg}");
    assert!(msg.contains("does/not/exist.proto"), "{msg}");
    assert!(msg.contains("imported here"), "{msg}");
}

#[test]
fn unresolved_type_names_file_and_line() {
    let dir = scratch("type");
    let proto = write(
        &dir,
        "types.proto",
        "syntax = \"proto3\";\npackage ty;\n\nservice S {\n  rpc M(Missing) returns (Missing);\n}\n",
    );
    let err = compile_err(&dir, &proto);
    let msg = err.to_string();
    eprintln!("{err:?}");
    let pe = proto_error(&err);
    assert_eq!(pe.line(), Some(5), "{msg}");
    assert!(msg.contains("types.proto:5:"), "{msg}");
    assert!(msg.contains("Missing"), "{msg}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = scratch("missing");
    let missing = dir.join("nope.proto");
    let err = compile_err(&dir, &missing);
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let msg = err.to_string();
    eprintln!("{err:?}");
    assert!(msg.contains("nope.proto"), "{msg}");
    assert!(msg.contains("not found"), "{msg}");
}

#[test]
fn bad_crate_path_is_an_error_not_a_panic() {
    let dir = scratch("crate_path");
    let err = rpc_codegen::configure()
        .out_dir(&dir)
        .crate_path("not a path")
        .compile_protos(&[proto_dir().join("helloworld.proto")], &[proto_dir()])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("invalid crate path"));
}

/// protoc and protox agree on our own protos. The protoc is `$PROTOC` when set, else the
/// vendored one (this crate's dev-dependency on itself turns `vendored-protoc` on), so the
/// test always runs: a missing protoc fails it.
#[test]
fn protoc_and_protox_agree() {
    let protoc = if std::env::var_os("PROTOC").is_some() {
        Protoc::System
    } else {
        Protoc::Vendored
    };
    let a = scratch("agree-protox");
    let b = scratch("agree-protoc");
    for (dir, which) in [(&a, Protoc::Protox), (&b, protoc)] {
        rpc_codegen::configure()
            .protoc(which)
            .out_dir(dir)
            .emit_rerun_if_changed(false)
            .compile_protos(&tricky_protos(), &[proto_dir()])
            .unwrap();
    }
    for file in [
        "tricky.multi.rs",
        "tricky.r#type.rs",
        "tricky.collisions.rs",
        "_.rs",
    ] {
        assert_eq!(read(&a, file), read(&b, file), "{file}");
    }
}
