fn main() -> Result<(), Box<dyn std::error::Error>> {
    // googleapis' `google.rpc.Status` and the standard error detail messages, vendored
    // under proto/google/rpc (Apache-2.0); `Any` and `Duration` map to prost-types.
    rpc_codegen::configure().compile_protos(
        &["google/rpc/status.proto", "google/rpc/error_details.proto"],
        &["../proto"],
    )?;
    Ok(())
}
