//! How messages become bytes and back.
//!
//! A [`Codec`] makes an [`Encoder`] for the messages one side sends and a [`Decoder`] for the
//! ones it receives (separate, so a bidirectional call can send and receive from different
//! tasks). The generated code uses [`ProstCodec`]; other serializations plug in the same way.

use crate::compression::SendCompression;
use crate::status::Status;
use bytes::{Bytes, BytesMut};
use std::marker::PhantomData;

/// Makes the encoder and decoder of a call.
pub trait Codec: Send + 'static {
    /// What this side sends.
    type Encode: Send + 'static;
    /// What this side receives.
    type Decode: Send + 'static;
    /// The encoder type.
    type Encoder: Encoder<Item = Self::Encode> + Send + 'static;
    /// The decoder type.
    type Decoder: Decoder<Item = Self::Decode> + Send + 'static;

    /// The encoder for outgoing messages.
    fn encoder(&mut self) -> Self::Encoder;
    /// The decoder for incoming messages.
    fn decoder(&mut self) -> Self::Decoder;
}

/// Encodes outgoing messages.
pub trait Encoder {
    /// The message type.
    type Item;
    /// Appends the encoding of `item` to `dst`.
    fn encode(&mut self, item: &Self::Item, dst: &mut BytesMut) -> Result<(), Status>;
    /// A hint of the encoded size of `item`, to reserve room.
    fn size_hint(&self, _item: &Self::Item) -> usize {
        0
    }
}

/// Decodes incoming messages.
pub trait Decoder {
    /// The message type.
    type Item;
    /// Decodes one message from its exact bytes.
    fn decode(&mut self, src: Bytes) -> Result<Self::Item, Status>;
}

/// The protobuf codec, built on prost: encodes `E`, decodes `D`.
pub struct ProstCodec<E, D> {
    _marker: PhantomData<fn(E) -> D>,
}

impl<E, D> ProstCodec<E, D> {
    /// A new codec.
    pub const fn new() -> Self {
        Self {
            _marker: PhantomData,
        }
    }
}

impl<E, D> Default for ProstCodec<E, D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E, D> std::fmt::Debug for ProstCodec<E, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProstCodec")
    }
}

impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost::Message + Send + 'static,
    D: prost::Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = ProstEncoder<E>;
    type Decoder = ProstDecoder<D>;

    fn encoder(&mut self) -> ProstEncoder<E> {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> ProstDecoder<D> {
        ProstDecoder(PhantomData)
    }
}

/// Encoder half of [`ProstCodec`].
#[derive(Debug)]
pub struct ProstEncoder<E>(PhantomData<fn(E)>);

/// Decoder half of [`ProstCodec`].
#[derive(Debug)]
pub struct ProstDecoder<D>(PhantomData<fn() -> D>);

impl<E: prost::Message> Encoder for ProstEncoder<E> {
    type Item = E;

    fn encode(&mut self, item: &E, dst: &mut BytesMut) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("failed to encode message: {e}")))
    }

    fn size_hint(&self, item: &E) -> usize {
        item.encoded_len()
    }
}

impl<D: prost::Message + Default> Decoder for ProstDecoder<D> {
    type Item = D;

    fn decode(&mut self, src: Bytes) -> Result<D, Status> {
        D::decode(src).map_err(|e| Status::internal(format!("failed to decode message: {e}")))
    }
}

/// Appends `item` as one `MESSAGE` frame, refusing it if it is larger than `max` bytes
/// (before compression: the receiver's limit applies to the decompressed size), compressed
/// as `compression` says.
pub(crate) fn encode_frame<E: Encoder>(
    encoder: &mut E,
    item: &E::Item,
    buf: &mut BytesMut,
    max: usize,
    compression: SendCompression,
) -> Result<(), Status> {
    buf.reserve(crate::wire::frame::FRAME_HEADER_LEN + encoder.size_hint(item));
    let start = buf.len();
    let len = crate::wire::encode::message_with(buf, |b| encoder.encode(item, b))?;
    if len > max {
        buf.truncate(start);
        return Err(Status::resource_exhausted(format!(
            "message of {len} bytes exceeds this side's send limit of {max} bytes \
             (max_encoding_message_size)"
        )));
    }
    // Off: one branch, nothing else.
    if compression.encoding.is_some() {
        compression
            .apply(buf, start)
            .inspect_err(|_| buf.truncate(start))?;
    }
    Ok(())
}

/// A boxed decoder, as held by [`Streaming`](crate::Streaming).
pub(crate) type BoxDecoder<T> = Box<dyn Decoder<Item = T> + Send + 'static>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prost_round_trip_and_send_limit() {
        let mut codec = ProstCodec::<String, String>::new();
        let (mut enc, mut dec) = (codec.encoder(), codec.decoder());
        let mut buf = BytesMut::new();
        encode_frame(
            &mut enc,
            &"hello".to_string(),
            &mut buf,
            100,
            SendCompression::OFF,
        )
        .unwrap();
        assert_eq!(buf.len(), crate::wire::frame::FRAME_HEADER_LEN + 7);
        let payload = buf.split_off(crate::wire::frame::FRAME_HEADER_LEN).freeze();
        assert_eq!(dec.decode(payload).unwrap(), "hello");
        let mut buf = BytesMut::new();
        let err = encode_frame(
            &mut enc,
            &"x".repeat(200),
            &mut buf,
            100,
            SendCompression::OFF,
        )
        .unwrap_err();
        assert_eq!(err.code(), crate::Code::ResourceExhausted);
        assert!(buf.is_empty());
        assert_eq!(
            dec.decode(Bytes::from_static(b"\x0a\xff"))
                .unwrap_err()
                .code(),
            crate::Code::Internal
        );
    }
}
