//! Relative type names resolve as `protoc` resolves them: among the file's own
//! imports, so a package from a file it does not import cannot shadow a name.
//! protox alone resolves against every file it has loaded and rejects such
//! trees (Envoy's `common.dynamic_forward_proxy.v3.DnsCacheConfig`).
#![cfg(feature = "build")]

use std::path::{Path, PathBuf};

use prost_types::{FileDescriptorProto, FileDescriptorSet};
use protox::prost::Message;
use rpc_codegen::Protoc;

/// A fresh directory under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("rpc-codegen-name-scoping")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(root: &Path, name: &str, text: &str) -> PathBuf {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Envoy's shape, small. `x/y/clusters/v3/cluster.proto` (package
/// `x.y.clusters.v3`) names `common.v3.Foo`, meaning `x.common.v3.Foo`, which
/// it imports. Two packages it does not import lie in between: protoc looks
/// for `x.y.clusters.common`, then `x.y.common`, then `x.common`, and skips the
/// first two because no file `cluster.proto` imports is in them.
/// `x.y.clusters.common.v3` even reaches it through an import of an import
/// (as in Envoy), `x.y.common.v3` not at all. Cluster comes last, so protox has
/// seen both packages by then. Returns the root and the files.
fn shadowed_tree(root: &Path, cluster_imports_y_common: bool) -> Vec<PathBuf> {
    let foo_proto = write(
        root,
        "x/common/v3/foo.proto",
        "syntax = \"proto3\";\npackage x.common.v3;\n\nmessage Foo {\n  string id = 1;\n}\n",
    );
    let shadow = write(
        root,
        "x/y/clusters/common/v3/shadow.proto",
        "syntax = \"proto3\";\npackage x.y.clusters.common.v3;\n\nmessage Unrelated {}\n",
    );
    let dns = write(
        root,
        "x/y/clusters/dns/v3/dns.proto",
        "syntax = \"proto3\";\npackage x.y.clusters.dns.v3;\n\n\
         import \"x/y/clusters/common/v3/shadow.proto\";\n\n\
         message Dns {\n  common.v3.Unrelated unrelated = 1;\n}\n",
    );
    let other = write(
        root,
        "x/y/common/v3/other.proto",
        "syntax = \"proto3\";\npackage x.y.common.v3;\n\nmessage Other {}\n",
    );
    let extra_import = if cluster_imports_y_common {
        "import \"x/y/common/v3/other.proto\";\n"
    } else {
        ""
    };
    let cluster = write(
        root,
        "x/y/clusters/v3/cluster.proto",
        &format!(
            "syntax = \"proto3\";\npackage x.y.clusters.v3;\n\n\
             import \"x/common/v3/foo.proto\";\n\
             import \"x/y/clusters/dns/v3/dns.proto\";\n{extra_import}\n\
             // A cluster.\n\
             message Cluster {{\n  common.v3.Foo foo = 1;\n  dns.v3.Dns dns = 2;\n}}\n\n\
             service Clusters {{\n  rpc Get(common.v3.Foo) returns (Cluster);\n}}\n"
        ),
    );
    vec![foo_proto, shadow, dns, other, cluster]
}

fn cluster_file(set: &FileDescriptorSet) -> &FileDescriptorProto {
    set.file
        .iter()
        .find(|f| f.name() == "x/y/clusters/v3/cluster.proto")
        .expect("cluster.proto is in the set")
}

/// The resolved names protoc-style scoping must give (and protoc gives).
fn assert_resolved(set: &FileDescriptorSet, which: &str) {
    let cluster = cluster_file(set);
    let message = &cluster.message_type[0];
    assert_eq!(message.field[0].type_name(), ".x.common.v3.Foo", "{which}");
    assert_eq!(
        message.field[1].type_name(),
        ".x.y.clusters.dns.v3.Dns",
        "{which}"
    );
    let method = &cluster.service[0].method[0];
    assert_eq!(method.input_type(), ".x.common.v3.Foo", "{which}");
    assert_eq!(method.output_type(), ".x.y.clusters.v3.Cluster", "{which}");
}

/// What the fix works around: protox alone, all files in one pool.
#[test]
fn protox_alone_rejects_the_tree() {
    let root = scratch("protox-alone");
    let files = shadowed_tree(&root, false);
    let err = protox::compile(&files, [&root]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("resolves to 'x.y.clusters.common.v3.Foo'"),
        "{msg}"
    );
}

#[test]
fn descriptor_set_resolves_names_among_the_file_imports() {
    let root = scratch("descriptor-set");
    let files = shadowed_tree(&root, false);
    let bytes = rpc_codegen::compile_descriptor_set(&files, &[&root]).unwrap();
    let set = FileDescriptorSet::decode(bytes.as_slice()).unwrap();
    assert_resolved(&set, "compile_descriptor_set");
    // Comments survive the second pass.
    let info = cluster_file(&set).source_code_info.as_ref().unwrap();
    assert!(info
        .location
        .iter()
        .any(|l| l.leading_comments() == " A cluster.\n"));
    // Dependencies come first.
    let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert!(
        position("x/y/clusters/common/v3/shadow.proto") < position("x/y/clusters/dns/v3/dns.proto")
    );
    assert!(position("x/y/clusters/dns/v3/dns.proto") < position("x/y/clusters/v3/cluster.proto"));
}

/// `Protoc::Protox` (no protoc anywhere) generates code for the tree, with the
/// same names as protoc.
#[test]
fn builder_with_protox_matches_protoc() {
    let mut sets = Vec::new();
    for (name, protoc) in [("protox", Protoc::Protox), ("protoc", Protoc::Vendored)] {
        let root = scratch(&format!("builder-{name}"));
        let files = shadowed_tree(&root, false);
        let out = root.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let fds = out.join("set.bin");
        rpc_codegen::configure()
            .protoc(protoc)
            .out_dir(&out)
            .file_descriptor_set_path(&fds)
            .emit_rerun_if_changed(false)
            .compile_protos(&files, &[&root])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let set = FileDescriptorSet::decode(&*std::fs::read(&fds).unwrap()).unwrap();
        assert_resolved(&set, name);
        let code = std::fs::read_to_string(out.join("x.y.clusters.v3.rs")).unwrap();
        assert!(
            code.contains("super::super::super::common::v3::Foo"),
            "{name}: {code}"
        );
        sets.push(code);
    }
    assert_eq!(sets[0], sets[1], "protox and protoc generate the same code");
}

/// When the file does import a file of `x.y.common`, protoc stops there
/// (`x.y.common.v3.Foo` is not defined), and so does rpc-codegen, with the
/// file, line and column.
#[test]
fn an_imported_package_still_shadows() {
    let root = scratch("imported-shadow");
    let files = shadowed_tree(&root, true);
    let err = rpc_codegen::compile_descriptor_set(&files, &[&root]).unwrap_err();
    let msg = err.to_string();
    eprintln!("{err:?}");
    let proto = err.proto_error().unwrap_or_else(|| panic!("{msg}"));
    assert!(msg.contains("x.y.common.v3.Foo"), "{msg}");
    assert!(
        proto
            .file()
            .unwrap()
            .ends_with("x/y/clusters/v3/cluster.proto"),
        "{msg}"
    );
    assert_eq!(proto.line(), Some(10), "{msg}");
    assert!(msg.contains("cluster.proto:10:"), "{msg}");
    assert!(msg.contains("common.v3.Foo foo = 1;"), "{msg}");
}

/// A genuinely unknown type in a tree that needed protoc's scoping is still
/// reported with its location.
#[test]
fn unknown_type_after_scoping_names_file_and_line() {
    let root = scratch("unknown");
    let mut files = shadowed_tree(&root, false);
    files.push(write(
        &root,
        "x/y/clusters/v3/broken.proto",
        "syntax = \"proto3\";\npackage x.y.clusters.v3;\n\n\
         import \"x/common/v3/foo.proto\";\n\n\
         message Broken {\n  common.v3.Missing missing = 1;\n}\n",
    ));
    let err = rpc_codegen::compile_descriptor_set(&files, &[&root]).unwrap_err();
    let msg = err.to_string();
    eprintln!("{err:?}");
    let proto = err.proto_error().unwrap_or_else(|| panic!("{msg}"));
    assert!(proto.file().unwrap().ends_with("broken.proto"), "{msg}");
    assert_eq!(proto.line(), Some(7), "{msg}");
    assert!(msg.contains("Missing"), "{msg}");
}
