fn main() -> Result<(), Box<dyn std::error::Error>> {
    rpc_codegen::compile_protos("../proto/helloworld.proto")?;
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").ok_or("no OUT_DIR")?);
    // With its descriptors, which `tests/cross_front_end.rs` compares with those that
    // `#[service]` and `#[derive(Descriptor)]` build for the same service.
    rpc_codegen::configure()
        .file_descriptor_set_path(out_dir.join("macroecho.bin"))
        .compile_protos(&["../proto/macro_echo.proto"], &["../proto"])?;
    // route_guide's descriptors too, for its reflection service
    // (`rpc_reflection::include_file_descriptor_set!("routeguide")`).
    rpc_codegen::configure()
        .file_descriptor_set_path(out_dir.join("routeguide.bin"))
        .compile_protos(&["../proto/route_guide.proto"], &["../proto"])?;
    rpc_codegen::compile_protos("../proto/chat.proto")?;
    // Imports `qrpc/options.proto`, which rpc-codegen provides (datagrams, priority).
    rpc_codegen::compile_protos("../proto/game.proto")?;
    // helloworld again for the compression example: its client compresses SayHello's
    // requests with zstd whatever the channel says (a per-method setting, PROTOCOL.md §15).
    let compressed = out_dir.join("compressed");
    std::fs::create_dir_all(&compressed)?;
    rpc_codegen::configure()
        .out_dir(&compressed)
        .send_compressed(
            "helloworld.Greeter/SayHello",
            rpc_codegen::Compression::Zstd,
        )
        .compile_protos(&["../proto/helloworld.proto"], &["../proto"])?;
    Ok(())
}
