//! Where descriptors come from: the server's reflection service, or `.proto` files
//! compiled on the fly (rpc-codegen's protox front end).

use crate::Failure;
use futures_util::stream;
use prost::Message;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use prost_types::FileDescriptorProto;
use rpc_core::metadata::MetadataMap;
use rpc_core::{Channel, Code, Request};
use rpc_reflection::pb::server_reflection_request::MessageRequest;
use rpc_reflection::pb::server_reflection_response::MessageResponse;
use rpc_reflection::{ServerReflectionClient, ServerReflectionRequest};
use std::path::PathBuf;
use std::time::Duration;

/// How long a reflection call may take without --deadline.
const REFLECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A source of descriptors.
pub enum Source {
    /// The server's `grpc.reflection.v1.ServerReflection` service.
    Reflection {
        client: ServerReflectionClient,
        metadata: MetadataMap,
        timeout: Duration,
    },
    /// Compiled `.proto` files.
    Files(DescriptorPool),
}

impl Source {
    pub fn reflection(channel: Channel, metadata: MetadataMap, timeout: Option<Duration>) -> Self {
        Source::Reflection {
            client: ServerReflectionClient::new(channel),
            metadata,
            timeout: timeout.unwrap_or(REFLECTION_TIMEOUT),
        }
    }

    /// Compiles `files` (looked up in `import_paths`, or in their own folders).
    pub fn files(files: &[PathBuf], import_paths: &[PathBuf]) -> Result<Self, Failure> {
        let mut includes: Vec<PathBuf> = import_paths.to_vec();
        if includes.is_empty() {
            for file in files {
                let dir = match file.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
                    _ => PathBuf::from("."),
                };
                if !includes.contains(&dir) {
                    includes.push(dir);
                }
            }
        }
        // rpc-codegen's protox front end: names resolve as protoc resolves them,
        // which protox alone does not do in large trees (Envoy).
        let set = rpc_codegen::compile_descriptor_set(files, &includes)
            .map_err(|e| Failure::new(format!("Error: {e}")))?;
        DescriptorPool::decode(set.as_slice())
            .map(Source::Files)
            .map_err(|e| Failure::new(format!("Error: invalid descriptors: {e}")))
    }

    /// The full names of the services, sorted.
    pub async fn list_services(&mut self) -> Result<Vec<String>, Failure> {
        let mut names: Vec<String> = match self {
            Source::Files(pool) => pool.services().map(|s| s.full_name().to_owned()).collect(),
            Source::Reflection { .. } => {
                match self
                    .reflect(MessageRequest::ListServices(String::new()))
                    .await?
                {
                    MessageResponse::ListServicesResponse(list) => {
                        list.service.into_iter().map(|s| s.name).collect()
                    }
                    other => return Err(unexpected(&other)),
                }
            }
        };
        names.sort();
        Ok(names)
    }

    /// A pool that declares `symbol` (if anything does), with its dependencies.
    pub async fn pool_for(&mut self, symbol: &str) -> Result<DescriptorPool, Failure> {
        match self {
            Source::Files(pool) => Ok(pool.clone()),
            Source::Reflection { .. } => {
                let request = MessageRequest::FileContainingSymbol(symbol.to_owned());
                match self.reflect(request).await {
                    Ok(MessageResponse::FileDescriptorResponse(files)) => {
                        pool_from(&files.file_descriptor_proto)
                    }
                    Ok(MessageResponse::ErrorResponse(e))
                        if e.error_code == Code::NotFound as i32 =>
                    {
                        Err(Failure::new(format!(
                            "Error: the server does not know the symbol {symbol:?} (see `qrpc list`)"
                        )))
                    }
                    Ok(other) => Err(unexpected(&other)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The method named `pkg.Service/Method` or `pkg.Service.Method`.
    pub async fn method(&mut self, name: &str) -> Result<MethodDescriptor, Failure> {
        let name = name.trim_start_matches('/').trim_start_matches('.');
        let (service_name, method_name) = name
            .rsplit_once('/')
            .or_else(|| name.rsplit_once('.'))
            .filter(|(s, m)| !s.is_empty() && !m.is_empty())
            .ok_or_else(|| {
                Failure::new(format!(
                    "Error: {name:?} is not a method name: expected package.Service/Method"
                ))
            })?;
        let unknown_service = || {
            Failure::new(format!(
                "Error: unknown service {service_name:?} (see `qrpc list`)"
            ))
        };
        let pool = match self.pool_for(service_name).await {
            Ok(pool) => pool,
            Err(e) if e.message.contains("does not know the symbol") => {
                return Err(unknown_service())
            }
            Err(e) => return Err(e),
        };
        let service = pool
            .get_service_by_name(service_name)
            .ok_or_else(unknown_service)?;
        let found = service.methods().find(|m| m.name() == method_name);
        found.ok_or_else(|| {
            let methods: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
            Failure::new(format!(
                "Error: service {service_name} has no method {method_name:?}; its methods: {} \
                 (see `qrpc list {service_name}`)",
                methods.join(", ")
            ))
        })
    }

    /// One request on its own `ServerReflectionInfo` call, and its response.
    async fn reflect(&self, message: MessageRequest) -> Result<MessageResponse, Failure> {
        let Source::Reflection {
            client,
            metadata,
            timeout,
        } = self
        else {
            return Err(Failure::new("Error: not a reflection source"));
        };
        let mut request = Request::new(stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(message),
        }]));
        *request.metadata_mut() = metadata.clone();
        request.set_timeout(*timeout);
        let failed = |status: rpc_core::Status| {
            if status.code() == Code::Unimplemented {
                Failure::new(
                    "Error: the server does not serve reflection (grpc.reflection.v1): \
                     pass its .proto files with --proto",
                )
            } else {
                Failure::new(format!(
                    "Error: server reflection failed: {}: {}",
                    status.code(),
                    status.message()
                ))
            }
        };
        let mut responses = client
            .server_reflection_info(request)
            .await
            .map_err(failed)?
            .into_inner();
        match responses.message().await.map_err(failed)? {
            Some(response) => response
                .message_response
                .ok_or_else(|| Failure::new("Error: server reflection sent an empty response")),
            None => Err(Failure::new(
                "Error: server reflection ended the call without a response",
            )),
        }
    }
}

fn unexpected(response: &MessageResponse) -> Failure {
    match response {
        MessageResponse::ErrorResponse(e) => Failure::new(format!(
            "Error: server reflection failed: {}: {}",
            Code::from_u32(e.error_code as u32),
            e.error_message
        )),
        _ => Failure::new("Error: server reflection sent an unexpected response"),
    }
}

/// A pool of encoded `FileDescriptorProto`s (in any order).
fn pool_from(encoded: &[Vec<u8>]) -> Result<DescriptorPool, Failure> {
    let files = encoded
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(format!("Error: invalid descriptor from the server: {e}")))?;
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .map_err(|e| Failure::new(format!("Error: invalid descriptors from the server: {e}")))?;
    Ok(pool)
}
