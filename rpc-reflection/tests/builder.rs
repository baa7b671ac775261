//! Builder::build_v1: which descriptors make a consistent whole.

use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use rpc_reflection::{Builder, Error};

const TEST_SET: &[u8] = rpc_reflection::include_file_descriptor_set!("reflection_test");

fn file(name: &str, package: &str, messages: &[&str], deps: &[&str]) -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(name.into()),
        package: Some(package.into()),
        dependency: deps.iter().map(|d| d.to_string()).collect(),
        message_type: messages
            .iter()
            .map(|m| DescriptorProto {
                name: Some(m.to_string()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn set(files: Vec<FileDescriptorProto>) -> FileDescriptorSet {
    FileDescriptorSet { file: files }
}

#[test]
fn the_same_set_twice_and_a_shared_import_are_fine() {
    Builder::configure()
        .register_encoded_file_descriptor_set(TEST_SET)
        .register_encoded_file_descriptor_set(TEST_SET)
        .build_v1()
        .unwrap();
    // The same file, decoded: equal once source info is set aside.
    let decoded = FileDescriptorSet::decode(TEST_SET).unwrap();
    Builder::configure()
        .register_encoded_file_descriptor_set(TEST_SET)
        .register_file_descriptor_set(decoded)
        .build_v1()
        .unwrap();
}

#[test]
fn inconsistent_descriptors_are_refused() {
    let err = Builder::configure()
        .register_encoded_file_descriptor_set(b"\x0a\x05ab")
        .build_v1()
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err}");

    let err = Builder::configure()
        .register_file_descriptor_set(set(vec![file("a.proto", "p", &["A"], &["b.proto"])]))
        .build_v1()
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingDependency { file, dependency } if file == "a.proto" && dependency == "b.proto"),
        "{err}"
    );

    let err = Builder::configure()
        .register_file_descriptor_set(set(vec![file("a.proto", "p", &["A"], &[])]))
        .register_file_descriptor_set(set(vec![file("a.proto", "p", &["B"], &[])]))
        .build_v1()
        .unwrap_err();
    assert!(
        matches!(&err, Error::ConflictingFile(name) if name == "a.proto"),
        "{err}"
    );

    let err = Builder::configure()
        .register_file_descriptor_set(set(vec![
            file("a.proto", "p", &["A"], &[]),
            file("b.proto", "p", &["A"], &[]),
        ]))
        .build_v1()
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateSymbol { symbol, first, second }
            if symbol == "p.A" && first == "a.proto" && second == "b.proto"),
        "{err}"
    );

    let err = Builder::configure()
        .register_encoded_file_descriptor_set(TEST_SET)
        .with_service_name("testpkg.Nope")
        .build_v1()
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownService(name) if name == "testpkg.Nope"),
        "{err}"
    );
}
