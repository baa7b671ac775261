fn main() -> Result<(), Box<dyn std::error::Error>> {
    rpc_codegen::configure()
        .compile_protos(&["../proto/grpc/testing/test.proto"], &["../proto"])?;
    // tonic's TestService server and client, for the tests of the HTTP/2 channel and port
    // against tonic (tests/h2_interop.rs), with protox so no `protoc` is needed; in its own
    // folder, as the file names would collide.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("tonic");
    std::fs::create_dir_all(&out)?;
    let fds = protox::compile(["grpc/testing/test.proto"], ["../proto"])?;
    tonic_prost_build::configure()
        .emit_rerun_if_changed(false)
        .out_dir(&out)
        .compile_fds(fds)?;
    Ok(())
}
