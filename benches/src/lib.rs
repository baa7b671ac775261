//! Benchmarks of rpc-core (unpublished crate).
//!
//! * `benches/serialization.rs`, `benches/roundtrip.rs`: criterion benches
//!   (`cargo bench -p benches`), each group with the raw quinn and tonic baselines.
//! * `examples/quinn_echo.rs`, `examples/tonic_echo.rs`: the baselines as load generators with
//!   the same options as `rpc-bench` (`serve` subcommand, `--target`), driven by the same loop.
//! * [`quinn_echo`]: the raw quinn baseline (one stream per call, length-prefixed prost
//!   messages, no framework), a floor for any RPC framework on QUIC.
//! * [`messages`]: the messages of the serialization benches.
#![deny(missing_docs)]

pub mod messages;
pub mod quinn_echo;

/// A single-threaded tokio runtime on a new thread, running `f`'s future until it ends;
/// used to keep a server off the client's thread.
pub fn spawn_runtime_thread<F, Fut>(
    name: &str,
    f: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(f());
        })
}
