fn main() -> Result<(), Box<dyn std::error::Error>> {
    rpc_codegen::compile_protos("../proto/helloworld.proto")?;
    rpc_codegen::compile_protos("../proto/macro_echo.proto")?;
    rpc_codegen::compile_protos("../proto/route_guide.proto")?;
    rpc_codegen::compile_protos("../proto/chat.proto")?;
    Ok(())
}
