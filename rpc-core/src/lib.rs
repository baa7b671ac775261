//! rpc-core
#![deny(missing_docs)]
pub mod metadata;
pub mod status;
pub mod wire;
pub use status::{Code, Status};
