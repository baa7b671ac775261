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

/// `value` as a `desc` message, per the protobuf JSON mapping. The error names the first
/// field that does not fit (`location.latitude`, `points[2].name`), as prost-reflect's own
/// message does not say which one it was.
pub fn message_from_json(
    desc: &MessageDescriptor,
    value: serde_json::Value,
) -> Result<DynamicMessage, String> {
    DynamicMessage::deserialize(desc.clone(), &value).map_err(|e| match culprit(desc, &value) {
        Some(path) => format!("field `{path}`: {e}"),
        None => e.to_string(),
    })
}

/// The path of the first field of `value` that `desc` rejects, if one alone is to blame.
fn culprit(desc: &MessageDescriptor, value: &serde_json::Value) -> Option<String> {
    let object = value.as_object()?;
    for (key, item) in object {
        let single = serde_json::Value::Object([(key.clone(), item.clone())].into_iter().collect());
        if DynamicMessage::deserialize(desc.clone(), &single).is_ok() {
            continue;
        }
        let field = desc
            .get_field_by_json_name(key)
            .or_else(|| desc.get_field_by_name(key));
        let inner = match field.as_ref().map(|f| (f.is_map(), f.kind())) {
            Some((false, prost_reflect::Kind::Message(inner))) => inner,
            _ => return Some(key.clone()),
        };
        let deeper = match item {
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| culprit(&inner, item).map(|path| format!("[{i}].{path}"))),
            serde_json::Value::Object(_) => culprit(&inner, item).map(|path| format!(".{path}")),
            _ => None,
        };
        return Some(match deeper {
            Some(rest) => format!("{key}{rest}"),
            None => key.clone(),
        });
    }
    None
}
