//! `compile_protos` as a build script calls it: from the package's folder (the current
//! directory), with paths relative to it. A test binary of its own, because it changes the
//! process's current directory and `OUT_DIR`; everything runs in one test, in sequence.
#![cfg(feature = "build")]

use std::path::{Path, PathBuf};

/// A package-like folder: `proto/inventory/v1/inventory.proto` imports a file of its own
/// package and one of another package, both by paths relative to `proto/`.
fn package(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("rpc-codegen-build-script")
        .join(name);
    let _ = std::fs::remove_dir_all(&root);
    let files = [
        (
            "proto/common/v1/money.proto",
            "syntax = \"proto3\";\npackage common.v1;\n\nmessage Money {\n  int64 cents = 1;\n}\n",
        ),
        (
            "proto/inventory/v1/item.proto",
            "syntax = \"proto3\";\npackage inventory.v1;\n\nmessage Item {\n  string sku = 1;\n}\n",
        ),
        (
            "proto/inventory/v1/inventory.proto",
            "syntax = \"proto3\";\npackage inventory.v1;\n\nimport \"common/v1/money.proto\";\n\
             import \"inventory/v1/item.proto\";\n\nservice Inventory {\n  rpc Price(Item) returns (common.v1.Money);\n}\n",
        ),
    ];
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    root
}

fn out_dir(root: &Path, name: &str) -> PathBuf {
    let out = root.join("out").join(name);
    std::fs::create_dir_all(&out).unwrap();
    std::env::set_var("OUT_DIR", &out);
    out
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

#[test]
fn relative_paths_from_the_package_folder() {
    let root = package("relative");
    std::env::set_current_dir(&root).unwrap();

    // The one-file shortcut finds the sibling and the other package (under `proto/`).
    let out = out_dir(&root, "shortcut");
    rpc_codegen::compile_protos("proto/inventory/v1/inventory.proto").unwrap();
    assert!(read(&out, "inventory.v1.rs").contains("super::super::common::v1::Money"));
    assert!(read(&out, "common.v1.rs").contains("pub struct Money"));

    // The file relative to the include folder, as `protoc -I proto inventory/v1/inventory.proto`.
    let out = out_dir(&root, "builder");
    rpc_codegen::configure()
        .compile_protos(&["inventory/v1/inventory.proto"], &["proto"])
        .unwrap();
    assert!(read(&out, "inventory.v1.rs").contains("pub mod inventory_client"));

    // No include folders: the current directory, as for `protoc`.
    let out = out_dir(&root, "no-includes");
    rpc_codegen::configure()
        .compile_protos(&["proto/common/v1/money.proto"], &[] as &[&str])
        .unwrap();
    assert!(read(&out, "common.v1.rs").contains("pub struct Money"));

    // A missing import: the error lists the folders the shortcut searched, in order.
    std::fs::remove_file("proto/common/v1/money.proto").unwrap();
    out_dir(&root, "missing");
    let err = rpc_codegen::compile_protos("proto/inventory/v1/inventory.proto").unwrap_err();
    let msg = format!("{err:?}");
    eprintln!("Error: {msg}");
    assert!(
        msg.contains(
            "proto/inventory/v1/inventory.proto:4:1: import 'common/v1/money.proto' not found"
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "include folders searched, in order: \"proto/inventory/v1\", \"proto/inventory\", \"proto\", \".\""
        ),
        "{msg}"
    );
}
