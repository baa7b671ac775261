//! The [`Driver`] of `qrpc bench`: calls one method known only from its descriptor, with
//! requests built from a JSON template.

use crate::template::Template;
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor};
use rpc_bench::driver::{failure, Driver, Failure};
use rpc_bench::load::CallKind;
use rpc_core::codec::{Codec, Decoder, Encoder};
use rpc_core::metadata::MetadataMap;
use rpc_core::{Channel, Endpoint, Request, Status, Streaming};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The kind of call `method` makes.
pub fn call_kind(method: &MethodDescriptor) -> CallKind {
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => CallKind::Unary,
        (false, true) => CallKind::ServerStream,
        (true, false) => CallKind::ClientStream,
        (true, true) => CallKind::Bidi,
    }
}

/// The request messages of each call, encoded.
#[derive(Debug)]
enum Requests {
    /// The same for every call: encoded once.
    Constant(Arc<[Bytes]>),
    /// Filled in for each call.
    Templated(Template, MessageDescriptor),
}

/// Calls one method with requests from a JSON template (see [`crate::template`]).
#[derive(Debug)]
pub struct DynamicDriver {
    endpoint: Endpoint,
    path: String,
    kind: CallKind,
    output: MessageDescriptor,
    requests: Requests,
    counter: AtomicU64,
    metadata: MetadataMap,
    deadline: Option<Duration>,
}

impl DynamicDriver {
    /// A driver calling `method` at `endpoint` with the requests of `data` (JSON, one value per
    /// message, with placeholders). Checks that the first call's requests are valid: a
    /// unary or server-streaming method takes exactly one.
    pub fn new(
        endpoint: Endpoint,
        method: &MethodDescriptor,
        data: &str,
        metadata: MetadataMap,
        deadline: Option<Duration>,
    ) -> Result<(Self, Vec<Bytes>), String> {
        let template = Template::parse(data).map_err(|e| format!("-d: {e}"))?;
        let input = method.input();
        let first = encode_all(&template.render(0), &input)?;
        if !method.is_client_streaming() && first.len() != 1 {
            return Err(format!(
                "{} takes exactly one request message, got {}",
                method.full_name(),
                first.len()
            ));
        }
        let requests = if template.is_constant() {
            Requests::Constant(first.clone().into())
        } else {
            Requests::Templated(template, input)
        };
        let driver = DynamicDriver {
            endpoint,
            path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
            kind: call_kind(method),
            output: method.output(),
            requests,
            counter: AtomicU64::new(0),
            metadata,
            deadline,
        };
        Ok((driver, first))
    }

    /// The kind of call each ticket makes.
    pub fn kind(&self) -> CallKind {
        self.kind
    }

    /// The next call's requests.
    fn next_requests(&self) -> Result<Arc<[Bytes]>, Failure> {
        match &self.requests {
            Requests::Constant(all) => Ok(all.clone()),
            Requests::Templated(template, input) => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                encode_all(&template.render(n), input)
                    .map(Into::into)
                    .map_err(|e| format!("InvalidRequest\n{e}"))
            }
        }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        if let Some(deadline) = self.deadline {
            request.set_timeout(deadline);
        }
        request
    }

    fn codec(&self) -> BenchCodec {
        BenchCodec(self.output.clone())
    }

    fn one_request(&self) -> Result<Request<Bytes>, Failure> {
        let all = self.next_requests()?;
        // Checked in `new` for unary and server-streaming methods; a template may still
        // render more values.
        match &*all {
            [one] => Ok(self.request(one.clone())),
            more => Err(format!(
                "InvalidRequest\nthe template rendered {} messages for a method taking one",
                more.len()
            )),
        }
    }

    fn request_stream(&self) -> Result<Request<impl futures_util::Stream<Item = Bytes>>, Failure> {
        let all = self.next_requests()?;
        let messages = (0..all.len()).map(move |i| all[i].clone());
        Ok(self.request(stream::iter(messages)))
    }
}

/// Every JSON value of `text` as an encoded `input`.
fn encode_all(text: &str, input: &MessageDescriptor) -> Result<Vec<Bytes>, String> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .enumerate()
        .map(|(at, value)| {
            let value = value.map_err(|e| format!("request {}: invalid JSON: {e}", at + 1))?;
            let message = crate::codec::message_from_json(input, value).map_err(|e| {
                format!(
                    "request {} does not match {}: {e}",
                    at + 1,
                    input.full_name()
                )
            })?;
            Ok(message.encode_to_vec().into())
        })
        .collect()
}

/// Bytes received by reading `stream` to its end.
async fn drain(mut stream: Streaming<usize>) -> Result<u64, Failure> {
    let mut got = 0u64;
    while let Some(n) = stream.message().await.map_err(|s| failure(&s))? {
        got += n as u64;
    }
    Ok(got)
}

impl Driver for DynamicDriver {
    type Conn = Channel;
    /// Each bidirectional "ping" is one whole call (its requests, then every response):
    /// a method known only by its descriptor promises no answer per request.
    type Bidi = Channel;

    async fn connect(&self) -> Result<Channel, Failure> {
        self.endpoint
            .connect()
            .await
            .map_err(|e| format!("connect: {e}"))
    }

    async fn unary(&self, conn: &Channel, _payload: Bytes) -> Result<u64, Failure> {
        let request = self.one_request()?;
        let response = conn
            .unary(&self.path, request, self.codec())
            .await
            .map_err(|s| failure(&s))?;
        Ok(*response.get_ref() as u64)
    }

    async fn server_stream(&self, conn: &Channel, _size: u32, _count: u32) -> Result<u64, Failure> {
        let request = self.one_request()?;
        let response = conn
            .server_streaming(&self.path, request, self.codec())
            .await
            .map_err(|s| failure(&s))?;
        drain(response.into_inner()).await
    }

    async fn client_stream(
        &self,
        conn: &Channel,
        _payload: Bytes,
        _count: u32,
    ) -> Result<u64, Failure> {
        let request = self.request_stream()?;
        let response = conn
            .client_streaming(&self.path, request, self.codec())
            .await
            .map_err(|s| failure(&s))?;
        Ok(*response.get_ref() as u64)
    }

    async fn open_bidi(&self, conn: &Channel) -> Result<Channel, Failure> {
        Ok(conn.clone())
    }

    async fn ping(&self, conn: &mut Channel, _payload: Bytes) -> Result<u64, Failure> {
        let request = self.request_stream()?;
        let response = conn
            .streaming(&self.path, request, self.codec())
            .await
            .map_err(|s| failure(&s))?;
        drain(response.into_inner()).await
    }
}

/// Sends encoded requests; checks that each response decodes as the method's output type
/// and yields its size.
struct BenchCodec(MessageDescriptor);

/// The encoder half of [`BenchCodec`].
struct BytesEncoder;

/// The decoder half of [`BenchCodec`].
struct CheckingDecoder(MessageDescriptor);

impl Codec for BenchCodec {
    type Encode = Bytes;
    type Decode = usize;
    type Encoder = BytesEncoder;
    type Decoder = CheckingDecoder;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> CheckingDecoder {
        CheckingDecoder(self.0.clone())
    }
}

impl Encoder for BytesEncoder {
    type Item = Bytes;

    fn encode(&mut self, item: &Bytes, dst: &mut BytesMut) -> Result<(), Status> {
        dst.extend_from_slice(item);
        Ok(())
    }

    fn size_hint(&self, item: &Bytes) -> usize {
        item.len()
    }
}

impl Decoder for CheckingDecoder {
    type Item = usize;

    fn decode(&mut self, src: Bytes) -> Result<usize, Status> {
        let len = src.len();
        // Decoded like a real client would, so a descriptor that does not match the
        // server's shows up as failed calls rather than as fast ones.
        DynamicMessage::decode(self.0.clone(), src).map_err(|e| {
            Status::internal(format!(
                "failed to decode a {} response: {e}",
                self.0.full_name()
            ))
        })?;
        Ok(len)
    }
}
