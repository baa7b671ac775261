fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The standard `grpc.health.v1` service, field numbers as upstream.
    // Its descriptors too, so a server's reflection service can list it.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    rpc_codegen::configure()
        .file_descriptor_set_path(out_dir.join("grpc.health.v1.bin"))
        .compile_protos(&["grpc/health/v1/health.proto"], &["../proto"])?;
    Ok(())
}
