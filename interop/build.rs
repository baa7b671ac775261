fn main() -> Result<(), Box<dyn std::error::Error>> {
    rpc_codegen::configure()
        .compile_protos(&["../proto/grpc/testing/test.proto"], &["../proto"])?;
    Ok(())
}
