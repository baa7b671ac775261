use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The test service (tests/): its code and descriptors, for the in-process server the
    // tests start. The `qrpc` binary itself uses none of it.
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    rpc_codegen::configure()
        .file_descriptor_set_path(out_dir.join("qrpctest.bin"))
        .compile_protos(&["tests/protos/qrpctest/echo.proto"], &["tests/protos"])?;
    Ok(())
}
