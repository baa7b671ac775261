//! Code the example binaries share with the tools' tests.
#![deny(missing_docs)]

pub mod route_guide;
