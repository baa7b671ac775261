//! Messages of the serialization benches: small (64 B), medium (~1 KiB, nested), large
//! (~1 MiB).

use bytes::Bytes;

/// A flat message: an id, a name and a payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Small {
    /// An identifier.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// A short name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Opaque bytes.
    #[prost(bytes = "bytes", tag = "3")]
    pub payload: Bytes,
}

/// One entry of [`Medium`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Item {
    /// An identifier.
    #[prost(int64, tag = "1")]
    pub id: i64,
    /// A label.
    #[prost(string, tag = "2")]
    pub label: String,
    /// Scores.
    #[prost(double, repeated, tag = "3")]
    pub scores: Vec<f64>,
    /// A nested point.
    #[prost(message, optional, tag = "4")]
    pub point: Option<Point>,
}

/// A nested point.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Point {
    /// Latitude.
    #[prost(int32, tag = "1")]
    pub lat: i32,
    /// Longitude.
    #[prost(int32, tag = "2")]
    pub lon: i32,
}

/// A nested message of about 1 KiB: a header and a list of items.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Medium {
    /// A header message.
    #[prost(message, optional, tag = "1")]
    pub header: Option<Small>,
    /// The items.
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<Item>,
    /// Tags.
    #[prost(string, repeated, tag = "3")]
    pub tags: Vec<String>,
}

/// The small message: 64 bytes encoded.
pub fn small() -> Small {
    Small {
        id: 42,
        name: "small".into(),
        payload: Bytes::from(vec![7u8; 53]),
    }
}

/// The medium message: about 1 KiB encoded, three levels deep.
pub fn medium() -> Medium {
    Medium {
        header: Some(small()),
        items: (0..16)
            .map(|i| Item {
                id: i64::from(i) * 1_000_003,
                label: format!("item-{i}"),
                scores: vec![0.5, 1.5, f64::from(i)],
                point: Some(Point {
                    lat: 407_838_351 + i,
                    lon: -746_143_763 - i,
                }),
            })
            .collect(),
        tags: (0..8).map(|i| format!("tag-{i}")).collect(),
    }
}

/// The large message: about 1 MiB, mostly one bytes field.
pub fn large() -> Small {
    Small {
        id: 7,
        name: "large".into(),
        payload: Bytes::from(vec![9u8; 1024 * 1024 - 16]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn sizes() {
        assert_eq!(small().encoded_len(), 64);
        let m = medium().encoded_len();
        assert!((900..1300).contains(&m), "{m}");
        assert!(large().encoded_len() <= 1024 * 1024);
    }
}
