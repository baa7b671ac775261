//! Compiles our own tricky protos and three third-party proto trees (fetched
//! from crates.io by `fetch.sh`, never built) through rpc-codegen.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rpc_codegen::Protoc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let crate_path = "::rpc_core";
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=third_party/Cargo.toml");

    // Our own protos.
    let proto = manifest_dir.join("../proto");
    let own: Vec<PathBuf> = [
        "helloworld.proto",
        "route_guide.proto",
        // qrpc's method options (priority, datagrams), from the `qrpc/options.proto` that
        // rpc-codegen provides.
        "game.proto",
        "tricky/common.proto",
        "tricky/keywords.proto",
        "tricky/collisions.proto",
        "tricky/multi_a.proto",
        "tricky/multi_b.proto",
        "tricky/nested/deep.proto",
        "tricky/nopkg.proto",
    ]
    .iter()
    .map(|p| proto.join(p))
    .collect();
    timed("own", || {
        configure(crate_path, &out_dir, "own").compile_protos(&own, &[&proto])
    })?;

    let sources = third_party(&manifest_dir)?;

    // grpc-io: the gRPC interop test services, health, and the examples.
    let grpcio = sources.get("grpcio-proto")?.join("proto");
    let grpc_files = find_protos(&grpcio.join("grpc"))?;
    timed("grpcio", || {
        configure(crate_path, &out_dir, "grpcio").compile_protos(&grpc_files, &[&grpcio])
    })?;

    // OpenTelemetry: the collector services (logs, metrics, traces, profiles).
    let otel = sources
        .get("opentelemetry-proto")?
        .join("src/proto/opentelemetry-proto");
    let otel_files = find_protos(&otel.join("opentelemetry/proto/collector"))?;
    timed("opentelemetry", || {
        configure(crate_path, &out_dir, "otel").compile_protos(&otel_files, &[&otel])
    })?;

    // Envoy: the whole data-plane API (~500 files with its imports), with protox
    // and no protoc. protox alone rejects it (a package from a file that a file
    // does not import shadows one of its type names); rpc-codegen then resolves
    // names as protoc does (a second pass). `Protoc::Protox` rather than the
    // default `Auto`: they run the same code while PROTOC is unset, but `Auto`
    // would quietly fall back on the vendored protoc (this crate enables it) if
    // protox failed again. Measured: ~0.5 s for descriptors (0.15 s for the
    // failed first pass), ~0.9 s to generate, ~30 s to compile on 2 cores.
    let envoy = sources.get("envoy-types")?.join("proto");
    let envoy_includes: Vec<PathBuf> = [
        "data-plane-api",
        "xds",
        "googleapis",
        "protoc-gen-validate",
        "cel-spec/proto",
        "client_model",
        "opentelemetry-proto",
        "ratelimit",
    ]
    .iter()
    .map(|d| envoy.join(d))
    .collect();
    let envoy_files = find_protos(&envoy.join("data-plane-api/envoy"))?;
    timed("envoy", || {
        configure(crate_path, &out_dir, "envoy")
            // TESTS_PROTOS_ENVOY_PROTOC=auto|system|vendored picks another source.
            .protoc(envoy_protoc())
            .compile_protos(&envoy_files, &envoy_includes)
    })?;
    Ok(())
}

fn envoy_protoc() -> Protoc {
    println!("cargo:rerun-if-env-changed=TESTS_PROTOS_ENVOY_PROTOC");
    match std::env::var("TESTS_PROTOS_ENVOY_PROTOC").as_deref() {
        Ok("auto") => Protoc::Auto,
        Ok("system") => Protoc::System,
        Ok("vendored") => Protoc::Vendored,
        _ => Protoc::Protox,
    }
}

fn configure(crate_path: &str, out_dir: &Path, name: &str) -> rpc_codegen::Builder {
    let dir = out_dir.join(name);
    let _ = std::fs::create_dir_all(&dir);
    rpc_codegen::configure()
        .crate_path(crate_path)
        .out_dir(dir)
        .include_file("_includes.rs")
}

fn timed(
    name: &str,
    f: impl FnOnce() -> std::result::Result<(), rpc_codegen::Error>,
) -> std::result::Result<(), rpc_codegen::Error> {
    let start = Instant::now();
    let result = f();
    println!(
        "cargo:warning=tests-protos: {name}: generated in {:.2}s",
        start.elapsed().as_secs_f64()
    );
    result
}

fn find_protos(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "proto") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

struct Sources(Vec<(String, PathBuf)>);

impl Sources {
    fn get(&self, name: &str) -> Result<PathBuf> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| {
                format!("{name} is not listed in tests-protos/third_party/Cargo.toml").into()
            })
    }
}

/// Locates the fetched crates with `cargo metadata` (offline: fetching is
/// fetch.sh's job, so a build never touches the network).
fn third_party(manifest_dir: &Path) -> Result<Sources> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = manifest_dir.join("third_party/Cargo.toml");
    let hint = "run tests-protos/fetch.sh first to download the third-party proto trees";
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}; {hint}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}\n{hint}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let mut found = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let name = pkg["name"].as_str().unwrap_or_default();
        if matches!(name, "grpcio-proto" | "opentelemetry-proto" | "envoy-types") {
            let manifest_path = PathBuf::from(pkg["manifest_path"].as_str().unwrap_or_default());
            let dir = manifest_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            if !dir.is_dir() {
                return Err(format!("{name}: {} is missing; {hint}", dir.display()).into());
            }
            found.push((name.to_string(), dir));
        }
    }
    Ok(Sources(found))
}
