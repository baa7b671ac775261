use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    // The standard `grpc.reflection.v1` service, field numbers as upstream; its own
    // descriptors are embedded so that the service describes itself.
    rpc_codegen::configure()
        .file_descriptor_set_path(out_dir.join("grpc.reflection.v1.bin"))
        .compile_protos(&["grpc/reflection/v1/reflection.proto"], &["../proto"])?;

    // The descriptors the tests register (tests/reflection.rs): only the set is used, the
    // generated code goes aside.
    let test_out = out_dir.join("reflection_test");
    std::fs::create_dir_all(&test_out)?;
    rpc_codegen::configure()
        .build_client(false)
        .build_server(false)
        .out_dir(&test_out)
        .file_descriptor_set_path(out_dir.join("reflection_test.bin"))
        .compile_protos(
            &["testpkg/shop.proto", "testpkg/ext.proto"],
            &["tests/protos"],
        )?;
    Ok(())
}
