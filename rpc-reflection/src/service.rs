//! [`ReflectionService`]: `ServerReflectionInfo` over an [`Index`].

use crate::index::Index;
use crate::pb::server_reflection_request::MessageRequest;
use crate::pb::server_reflection_response::MessageResponse;
use crate::pb::{
    ErrorResponse, ExtensionNumberResponse, ExtensionRequest, FileDescriptorResponse,
    ListServiceResponse, ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
};
use crate::ServerReflection;
use futures_core::Stream;
use rpc_core::{Code, Request, Response, Status, Streaming};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the service answers from: the index and the services to list.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) index: Index,
    pub(crate) services: Vec<String>,
}

/// The `grpc.reflection.v1.ServerReflection` implementation, built by
/// [`Builder::build_v1`](crate::Builder::build_v1). Cheap to clone: the descriptors are
/// shared.
#[derive(Debug, Clone)]
pub struct ReflectionService {
    state: Arc<State>,
}

impl ReflectionService {
    pub(crate) fn new(state: State) -> Self {
        ReflectionService {
            state: Arc::new(state),
        }
    }
}

impl State {
    /// The response to one request; `Err` ends the call (a request with nothing asked).
    fn answer(&self, request: ServerReflectionRequest) -> Result<ServerReflectionResponse, Status> {
        let response = match &request.message_request {
            Some(MessageRequest::FileByFilename(name)) => {
                files(self.index.file_by_name(name), || {
                    format!("file {name:?} not found")
                })
            }
            Some(MessageRequest::FileContainingSymbol(symbol)) => {
                files(self.index.file_containing_symbol(symbol), || {
                    format!("symbol {symbol:?} not found")
                })
            }
            Some(MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type,
                extension_number,
            })) => files(
                self.index
                    .file_containing_extension(containing_type, *extension_number),
                || format!("extension {extension_number} of {containing_type:?} not found"),
            ),
            Some(MessageRequest::AllExtensionNumbersOfType(ty)) => {
                match self.index.extension_numbers(ty) {
                    Some(numbers) => {
                        MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                            base_type_name: ty.clone(),
                            extension_number: numbers,
                        })
                    }
                    None => not_found(format!("message type {ty:?} not found")),
                }
            }
            Some(MessageRequest::ListServices(_)) => {
                MessageResponse::ListServicesResponse(ListServiceResponse {
                    service: self
                        .services
                        .iter()
                        .map(|name| ServiceResponse { name: name.clone() })
                        .collect(),
                })
            }
            None => {
                return Err(Status::invalid_argument(
                    "a reflection request with no message_request set",
                ))
            }
        };
        Ok(ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            message_response: Some(response),
        })
    }
}

fn files(found: Option<Vec<bytes::Bytes>>, missing: impl FnOnce() -> String) -> MessageResponse {
    match found {
        Some(files) => MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
            file_descriptor_proto: files.into_iter().map(Vec::from).collect(),
        }),
        None => not_found(missing()),
    }
}

fn not_found(message: String) -> MessageResponse {
    MessageResponse::ErrorResponse(ErrorResponse {
        error_code: Code::NotFound as i32,
        error_message: message,
    })
}

impl ServerReflection for ReflectionService {
    type ServerReflectionInfoStream = ResponseStream;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<ServerReflectionRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let state = self.state.clone();
        let requests = request.into_inner();
        // One request read, one response sent, then the next request: a client's stream is
        // never read ahead of what it has been answered.
        let stream = futures_util::stream::unfold(Some((state, requests)), |call| async move {
            let (state, mut requests) = call?;
            match requests.message().await {
                Ok(Some(request)) => match state.answer(request) {
                    Ok(response) => Some((Ok(response), Some((state, requests)))),
                    Err(status) => Some((Err(status), None)),
                },
                Ok(None) => None,
                Err(status) => Some((Err(status), None)),
            }
        });
        Ok(Response::new(ResponseStream {
            inner: Box::pin(stream),
        }))
    }
}

type BoxStream = Pin<Box<dyn Stream<Item = Result<ServerReflectionResponse, Status>> + Send>>;

/// The responses of a `ServerReflectionInfo` call: one per request, in order. Ends when the
/// client ends its requests, or with `INVALID_ARGUMENT` after a request that asks nothing.
pub struct ResponseStream {
    inner: BoxStream,
}

impl std::fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStream").finish_non_exhaustive()
    }
}

impl Stream for ResponseStream {
    type Item = Result<ServerReflectionResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
