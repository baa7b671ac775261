fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Payloads as `bytes::Bytes`: echoing a request's payload back is then zero-copy.
    rpc_codegen::configure()
        .bytes(["."])
        .compile_protos(&["../proto/echo.proto"], &["../proto"])?;
    Ok(())
}
