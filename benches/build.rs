//! Generates the tonic echo client and server (for the tonic baseline) from
//! `proto/echo.proto`, with protox so no `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto/echo.proto");
    let fds = protox::compile(["echo.proto"], ["../proto"])?;
    tonic_prost_build::configure()
        .bytes(".")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
