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
    assert!(clash.contains("::rpc_core::codegen::prost_types::Timestamp"));
    assert!(clash.contains("IntoRequest<()>"));
    assert!(clash.contains("type ListThings2Stream"));

    let nopkg = read(&out, "_.rs");
    assert!(nopkg.contains("\"/Lonely/Ping\""), "{nopkg}");
    assert!(nopkg.contains("const NAME: &'static str = \"Lonely\""));

    let deep = read(&out, "tricky.nested.deep.rs");
    assert!(deep.contains("super::thing::Inner"), "{deep}");
    assert!(deep.contains("::rpc_core::codegen::prost_types::Duration"));

    let fds = std::fs::read(&fds).unwrap();
    assert!(fds.len() > 100);
}

#[test]
fn compile_protos_shortcut_uses_the_file_folder() {
    let out = scratch("shortcut");
    // `compile_protos` writes to OUT_DIR; emulate a build script.
    shortcut(&out, &proto_dir().join("helloworld.proto")).unwrap();
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

fn compile_err(dir: &Path, proto: &Path) -> rpc_codegen::Error {
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(dir)
        .emit_rerun_if_changed(false)
        .compile_protos(&[proto], &[dir])
        .unwrap_err()
}

fn proto_error(err: &rpc_codegen::Error) -> &ProtoError {
    err.proto_error()
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

// --- Generated code depends on rpc-core only -----------------------------------------------

/// Every `prost` / `prost_types` path in `text` goes through `<via>`; returns how many there are.
fn prost_paths_go_through(text: &str, via: &str) -> usize {
    let mut n = 0;
    for needle in ["prost::", "prost_types::"] {
        for (at, _) in text.match_indices(needle) {
            let before = &text[..at];
            // `prost_types::` also matches `prost::`'s search at a different offset; skip
            // `foo_prost::`-like identifiers by requiring a path separator or quote before.
            if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            assert!(
                before.ends_with(via),
                "a `{needle}` path not through `{via}`: ...{}",
                &text[at.saturating_sub(80)..(at + 40).min(text.len())]
            );
            n += 1;
        }
    }
    n
}

#[test]
fn generated_code_names_prost_and_well_known_types_through_rpc_core() {
    let out = scratch("prost-path");
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .bytes(["."])
        .compile_protos(&tricky_protos(), &[proto_dir()])
        .unwrap();
    let mut total = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        total += prost_paths_go_through(&text, "::rpc_core::codegen::");
    }
    assert!(total > 20, "only {total} prost paths");

    let common = read(&out, "tricky.common.rs");
    assert!(
        common.contains("::rpc_core::codegen::prost::Message)]"),
        "{common}"
    );
    assert!(common.contains("#[prost(prost_path = \"::rpc_core::codegen::prost\")]"));
    let clash = read(&out, "tricky.collisions.rs");
    // Well-known types come from the prost-types rpc-core re-exports; wrappers stay primitives.
    assert!(clash.contains("::rpc_core::codegen::prost_types::Timestamp"));
    assert!(clash.contains("::rpc_core::codegen::prost::alloc::string::String"));
}

#[test]
fn prost_paths_follow_the_crate_path_and_user_overrides() {
    let protos = [proto_dir().join("tricky/collisions.proto")];

    let out = scratch("prost-path-crate");
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .crate_path("crate::rt")
        .compile_protos(&protos, &[proto_dir()])
        .unwrap();
    let clash = read(&out, "tricky.collisions.rs");
    assert!(prost_paths_go_through(&clash, "crate::rt::codegen::") > 0);
    assert!(
        clash.contains("crate::rt::codegen::prost_types::Timestamp"),
        "{clash}"
    );

    // The user's own choices win: `prost_path`, and `extern_path(".google.protobuf", ..)` (which
    // must not clash with the default mapping: prost-build rejects duplicate extern paths).
    let out = scratch("prost-path-user");
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .prost_path("::prost")
        .extern_path(".google.protobuf", "::my_wkt")
        .compile_protos(&protos, &[proto_dir()])
        .unwrap();
    let clash = read(&out, "tricky.collisions.rs");
    assert!(clash.contains("::my_wkt::Timestamp"), "{clash}");
    assert!(clash.contains(" ::prost::alloc::string::String"), "{clash}");
    assert!(!clash.contains("codegen::prost"), "{clash}");
}

// --- Include folders and file arguments ------------------------------------------------------

/// `proto/inventory/v1/inventory.proto` (package `inventory.v1`) imports a sibling
/// (`item.proto`) and another package (`common/v1/money.proto`, relative to `proto/`).
fn two_package_tree(name: &str) -> PathBuf {
    let root = scratch(name);
    let proto = root.join("proto");
    std::fs::create_dir_all(proto.join("inventory/v1")).unwrap();
    std::fs::create_dir_all(proto.join("common/v1")).unwrap();
    write(
        &proto.join("common/v1"),
        "money.proto",
        "syntax = \"proto3\";\npackage common.v1;\n\nmessage Money {\n  int64 cents = 1;\n}\n",
    );
    write(
        &proto.join("inventory/v1"),
        "item.proto",
        "syntax = \"proto3\";\npackage inventory.v1;\n\nmessage Item {\n  string sku = 1;\n}\n",
    );
    write(
        &proto.join("inventory/v1"),
        "inventory.proto",
        "syntax = \"proto3\";\npackage inventory.v1;\n\nimport \"common/v1/money.proto\";\nimport \"item.proto\";\n\n\
         service Inventory {\n  rpc Price(Item) returns (common.v1.Money);\n}\n",
    );
    root
}

/// `compile_protos` writes to `$OUT_DIR`: tests that set it take this lock.
static OUT_DIR_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn shortcut(out: &Path, proto: &Path) -> Result<(), rpc_codegen::Error> {
    let _guard = OUT_DIR_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("OUT_DIR", out);
    rpc_codegen::compile_protos(proto)
}

#[test]
fn compile_protos_shortcut_finds_imports_in_the_folders_above_the_file() {
    let root = two_package_tree("shortcut-tree");
    let out = scratch("shortcut-tree-out");
    shortcut(&out, &root.join("proto/inventory/v1/inventory.proto")).unwrap();
    let inventory = read(&out, "inventory.v1.rs");
    assert!(inventory.contains("pub struct Item"), "{inventory}");
    assert!(
        inventory.contains("super::super::common::v1::Money"),
        "{inventory}"
    );
    let money = read(&out, "common.v1.rs");
    assert!(money.contains("pub struct Money"), "{money}");
}

#[test]
fn missing_import_lists_the_folders_searched() {
    let root = two_package_tree("shortcut-missing");
    let inv = root.join("proto/inventory/v1");
    std::fs::remove_file(root.join("proto/common/v1/money.proto")).unwrap();
    let out = scratch("shortcut-missing-out");
    let err = shortcut(&out, &inv.join("inventory.proto")).unwrap_err();
    let msg = err.to_string();
    eprintln!("{err:?}");
    assert!(msg.contains("inventory.proto:4:1"), "{msg}");
    assert!(
        msg.contains("import 'common/v1/money.proto' not found"),
        "{msg}"
    );
    let searched = [
        inv.clone(),
        root.join("proto/inventory"),
        root.join("proto"),
        root.clone(),
    ]
    .iter()
    .map(|p| format!("\"{}\"", p.display()))
    .collect::<Vec<_>>()
    .join(", ");
    assert!(
        msg.contains(&format!("include folders searched, in order: {searched}")),
        "{msg}"
    );

    // The same through protoc (no protox diagnostics there: the note is added to its output).
    let err = rpc_codegen::configure()
        .protoc(Protoc::Vendored)
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile_protos(&[inv.join("inventory.proto")], &[&inv, &root.join("proto")])
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{err:?}");
    assert!(msg.contains("common/v1/money.proto"), "{msg}");
    assert!(
        msg.contains(&format!(
            "include folders searched, in order: \"{}\", \"{}\"",
            inv.display(),
            root.join("proto").display()
        )),
        "{msg}"
    );
}

#[test]
fn file_argument_relative_to_an_include_folder_is_found() {
    let root = two_package_tree("relative-arg");
    let include = root.join("proto");
    // As `protoc -I proto inventory/v1/inventory.proto`, with protox and with protoc.
    for (name, protoc) in [("protox", Protoc::Protox), ("protoc", Protoc::Vendored)] {
        let out = scratch(&format!("relative-arg-{name}"));
        rpc_codegen::configure()
            .protoc(protoc)
            .out_dir(&out)
            .emit_rerun_if_changed(false)
            .compile_protos(&["inventory/v1/item.proto"], &[&include])
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(read(&out, "inventory.v1.rs").contains("pub struct Item"));
    }
    // The cross-package import resolves against the same include folder.
    let out = scratch("relative-arg-imports");
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(&out)
        .emit_rerun_if_changed(false)
        .compile_protos(
            &["inventory/v1/item.proto", "common/v1/money.proto"],
            &[&include],
        )
        .unwrap();
    assert!(read(&out, "common.v1.rs").contains("pub struct Money"));

    // Not found anywhere: the error says where it looked.
    let err = rpc_codegen::configure()
        .out_dir(&out)
        .compile_protos(&["inventory/v2/nope.proto"], &[&include])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(
        msg.contains("inventory/v2/nope.proto: file not found"),
        "{msg}"
    );
    assert!(msg.contains(&format!("\"{}\"", include.display())), "{msg}");
}

// --- Errors print cleanly from a build script's `main` ----------------------------------------

/// What a README build script does: `fn main() -> Result<(), Box<dyn std::error::Error>>`.
fn build_script_main(proto: &Path, include: &Path) -> Result<(), Box<dyn std::error::Error>> {
    rpc_codegen::configure()
        .protoc(Protoc::Protox)
        .out_dir(include)
        .emit_rerun_if_changed(false)
        .compile_protos(&[proto], &[include])?;
    Ok(())
}

#[test]
fn errors_returned_from_main_print_without_debug_noise() {
    let dir = scratch("main-debug");
    let proto = write(
        &dir,
        "bad.proto",
        "syntax = \"proto3\";\npackage bad;\n\nmessage Foo {\n  string name = 1\n}\n",
    );
    // `Error: {:?}` is what the standard library prints when `main` returns `Err`.
    let debug = format!("{:?}", build_script_main(&proto, &dir).unwrap_err());
    eprintln!("Error: {debug}");
    assert!(
        debug.contains(&format!("{}:6:1: ", proto.display())),
        "{debug}"
    );
    assert!(debug.contains("6 | }"), "{debug}");
    for noise in ["Custom", "kind:", "InvalidInput", "\\n", "\\\""] {
        assert!(!debug.contains(noise), "{noise:?} in {debug}");
    }

    // Not a `.proto` error: the plain message.
    let missing = dir.join("missing.proto");
    let debug = format!("{:?}", build_script_main(&missing, &dir).unwrap_err());
    assert_eq!(debug, format!("{}: file not found", missing.display()));
    let debug = format!(
        "{:?}",
        rpc_codegen::configure()
            .crate_path("not a path")
            .out_dir(&dir)
            .compile_protos(&[&proto], &[&dir])
            .unwrap_err()
    );
    assert!(
        debug.starts_with("invalid crate path `not a path`"),
        "{debug}"
    );
    assert!(!debug.contains("Custom"), "{debug}");
}

// --- The descriptor set (for reflection) -----------------------------------------------------

/// `file_descriptor_set_path` writes what a reflection service needs, whichever compiler
/// runs: every compiled file, its transitive imports (well-known types too) and the source
/// info (comments) of each.
#[test]
fn file_descriptor_set_holds_imports_and_source_info() {
    use protox::prost::Message;

    for (name, protoc) in [("protox", Protoc::Protox), ("protoc", Protoc::Vendored)] {
        let root = scratch(&format!("fds-{name}"));
        let proto = root.join("proto");
        std::fs::create_dir_all(proto.join("a/v1")).unwrap();
        std::fs::create_dir_all(proto.join("b/v1")).unwrap();
        write(
            &proto.join("b/v1"),
            "types.proto",
            "syntax = \"proto3\";\npackage b.v1;\n\nimport \"google/protobuf/timestamp.proto\";\n\n\
             // A point in time.\nmessage When {\n  google.protobuf.Timestamp at = 1;\n}\n",
        );
        let svc = write(
            &proto.join("a/v1"),
            "svc.proto",
            "syntax = \"proto3\";\npackage a.v1;\n\nimport \"b/v1/types.proto\";\nimport \"google/protobuf/empty.proto\";\n\n\
             // Tells the time.\nservice Clock {\n  rpc Now(google.protobuf.Empty) returns (b.v1.When);\n}\n",
        );
        let out = root.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let fds = out.join("set.bin");
        rpc_codegen::configure()
            .protoc(protoc)
            .out_dir(&out)
            .file_descriptor_set_path(&fds)
            .emit_rerun_if_changed(false)
            .compile_protos(&[svc], &[proto])
            .unwrap();

        let set = prost_types::FileDescriptorSet::decode(&*std::fs::read(&fds).unwrap()).unwrap();
        let mut names: Vec<_> = set.file.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "a/v1/svc.proto",
                "b/v1/types.proto",
                "google/protobuf/empty.proto",
                "google/protobuf/timestamp.proto"
            ],
            "{name}"
        );
        for (file, comment) in [
            ("a/v1/svc.proto", " Tells the time.\n"),
            ("b/v1/types.proto", " A point in time.\n"),
        ] {
            let file = set.file.iter().find(|f| f.name() == file).unwrap();
            let info = file.source_code_info.as_ref().expect("no source info");
            assert!(
                info.location
                    .iter()
                    .any(|l| l.leading_comments() == comment),
                "{name}: no comment {comment:?} in {}",
                file.name()
            );
        }
    }
}

// --- qrpc's method options ------------------------------------------------------------------

#[path = "support/options_model.rs"]
mod options_model;

/// `(qrpc.priority)` and `(qrpc.datagrams)` in a `.proto` give exactly the code of the model
/// with the same options (what `#[rpc(priority = N, datagrams)]` fills), with protox and
/// with protoc, and `qrpc/options.proto` is found without a copy in the user's folders.
#[test]
fn qrpc_options_fill_the_model() {
    let src = scratch("qrpc-options-src");
    let proto = write(
        &src,
        "telemetry.proto",
        r#"syntax = "proto3";
package telemetry;
import "qrpc/options.proto";
message Sample { uint64 at = 1; }
message Ack {}
service Telemetry {
  rpc Stream(stream Sample) returns (stream Ack) {
    option (qrpc.priority) = 3;
    option (qrpc.datagrams) = true;
  }
  rpc Watch(Sample) returns (stream Ack) { option (qrpc.datagrams) = true; }
  rpc Report(Sample) returns (Ack) { option (qrpc.priority) = -1; }
}
"#,
    );
    let expected = rpc_codegen::generate_string(
        &options_model::telemetry_service(),
        &rpc_codegen::GenConfig::default(),
    );
    let protoc = if std::env::var_os("PROTOC").is_some() {
        Protoc::System
    } else {
        Protoc::Vendored
    };
    for (name, which) in [("protox", Protoc::Protox), ("protoc", protoc)] {
        let out = scratch(&format!("qrpc-options-{name}"));
        rpc_codegen::configure()
            .protoc(which)
            .out_dir(&out)
            .emit_rerun_if_changed(false)
            .compile_protos(&[&proto], &[&src])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let generated = read(&out, "telemetry.rs");
        assert!(generated.contains(&expected), "{name}:\n{generated}");
    }
}

/// The descriptor set keeps the options too (for reflection), from the embedded file.
#[test]
fn descriptor_set_has_qrpc_options() {
    let src = scratch("qrpc-options-set");
    let proto = write(
        &src,
        "p.proto",
        "syntax = \"proto3\";\npackage p;\nimport \"qrpc/options.proto\";\nmessage M {}\n\
         service S { rpc Go(M) returns (stream M) { option (qrpc.datagrams) = true; } }\n",
    );
    let set = rpc_codegen::compile_descriptor_set(&[&proto], &[&src]).unwrap();
    let set = <prost_types::FileDescriptorSet as prost::Message>::decode(&set[..]).unwrap();
    let names: Vec<_> = set.file.iter().filter_map(|f| f.name.clone()).collect();
    assert!(
        names.contains(&"qrpc/options.proto".to_owned()),
        "{names:?}"
    );
}
