fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The standard `grpc.health.v1` service, field numbers as upstream.
    rpc_codegen::configure().compile_protos(&["grpc/health/v1/health.proto"], &["../proto"])?;
    Ok(())
}
