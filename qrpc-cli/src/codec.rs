//! A [`Codec`] for messages known only at run time: [`DynamicMessage`]s of the method's
//! input type out, of its output type in.

use bytes::{Bytes, BytesMut};
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use rpc_core::codec::{Codec, Decoder, Encoder};
use rpc_core::Status;

/// Encodes the method's requests, decodes its responses.
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    output: MessageDescriptor,
}

impl DynamicCodec {
    /// A codec decoding responses of type `output`.
    pub fn new(output: MessageDescriptor) -> Self {
        DynamicCodec { output }
    }
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.output.clone())
    }
}

/// The encoder half of [`DynamicCodec`].
#[derive(Debug)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;

    fn encode(&mut self, item: &DynamicMessage, dst: &mut BytesMut) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("failed to encode message: {e}")))
    }

    fn size_hint(&self, item: &DynamicMessage) -> usize {
        item.encoded_len()
    }
}

/// The decoder half of [`DynamicCodec`].
#[derive(Debug)]
pub struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;

    fn decode(&mut self, src: Bytes) -> Result<DynamicMessage, Status> {
        DynamicMessage::decode(self.0.clone(), src).map_err(|e| {
            Status::internal(format!(
                "failed to decode a {} response: {e}",
                self.0.full_name()
            ))
        })
    }
}
