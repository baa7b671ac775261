// What `#[derive(Descriptor)]` cannot describe, each a compile error on the offending code.

#[derive(rpc_macros::Descriptor)]
pub struct Required {
    #[prost(int32, required, tag = "1")]
    pub x: i32,
}

#[derive(rpc_macros::Descriptor)]
pub struct WithDefault {
    #[prost(int32, optional, default = "5", tag = "1")]
    pub x: Option<i32>,
}

#[derive(rpc_macros::Descriptor)]
pub struct Group {
    #[prost(group, optional, tag = "1")]
    pub g: Option<Required>,
}

#[derive(rpc_macros::Descriptor)]
pub struct NoProst {
    pub x: i32,
}

#[derive(rpc_macros::Descriptor)]
pub struct BadMapKey {
    #[prost(map = "double, string", tag = "1")]
    pub m: std::collections::HashMap<String, String>,
}

#[derive(rpc_macros::Descriptor)]
pub struct BadNumber {
    #[prost(string, tag = "19500")]
    pub s: String,
}

#[derive(rpc_macros::Descriptor)]
pub struct NotAnOption {
    #[prost(message, optional, tag = "1")]
    pub m: Required,
}

#[derive(rpc_macros::Descriptor)]
pub struct Tuple(#[prost(int32, tag = "1")] i32);

#[derive(rpc_macros::Descriptor)]
pub struct Generic<T> {
    #[prost(int32, tag = "1")]
    pub x: T,
}

#[derive(rpc_macros::Descriptor)]
#[descriptor(package = "not a package", version = 2)]
pub struct BadArgs {}

#[derive(rpc_macros::Descriptor)]
#[descriptor(name = "Choice")]
pub enum NamedOneof {
    #[prost(string, tag = "1")]
    A(String),
}

#[derive(rpc_macros::Descriptor)]
pub enum Mixed {
    #[prost(string, tag = "1")]
    A(String),
    B { x: i32 },
}

fn main() {}
