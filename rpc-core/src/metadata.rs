//! Call metadata: the request headers, response headers and trailers of a call.
//!
//! Keys follow gRPC's rules: lowercase ASCII letters, digits, `-`, `_` and `.`. A key ending in
//! `-bin` holds arbitrary bytes; any other key holds printable ASCII (`0x20..=0x7e`). Keys
//! starting with `grpc-` or `:` are reserved for the protocol. A key may appear several times.
//!
//! ```
//! use rpc_core::metadata::MetadataMap;
//!
//! let mut md = MetadataMap::new();
//! md.insert("x-request-id", "42").unwrap();
//! md.insert_bin("trace-bin", vec![0u8, 1, 2]).unwrap();
//! assert_eq!(md.get("x-request-id"), Some("42"));
//! assert_eq!(md.get_bin("trace-bin").unwrap().as_ref(), &[0, 1, 2]);
//! assert!(md.insert("Bad Key", "v").is_err());
//! ```

use bytes::Bytes;
use std::fmt;

/// Why a metadata key or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The key is empty or has a character outside `[a-z0-9-_.]`.
    #[error(
        "invalid metadata key {0:?}: keys are lowercase ASCII letters, digits, '-', '_' or '.'"
    )]
    InvalidKey(String),
    /// The key is reserved for the protocol.
    #[error("metadata key {0:?} is reserved")]
    ReservedKey(String),
    /// An ASCII value has a byte outside printable ASCII.
    #[error("invalid value for metadata key {0:?}: ASCII values must be printable (0x20..=0x7e)")]
    InvalidValue(String),
    /// A binary value was given for a key that does not end in `-bin`, or the reverse.
    #[error("metadata key {0:?}: binary values need a key ending in \"-bin\", ASCII values a key that does not")]
    WrongKind(String),
}

/// A multimap of metadata entries, in insertion order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetadataMap {
    entries: Vec<(String, Bytes)>,
}

/// One value of a [`MetadataMap`], as returned by [`MetadataMap::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataValue<'a> {
    /// The value of an ASCII key.
    Ascii(&'a str),
    /// The value of a `-bin` key.
    Binary(&'a Bytes),
}

fn is_bin(key: &str) -> bool {
    key.ends_with("-bin")
}

pub(crate) fn validate_key(key: &str) -> Result<(), MetadataError> {
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.'))
    {
        return Err(MetadataError::InvalidKey(key.to_owned()));
    }
    if key.starts_with("grpc-") {
        return Err(MetadataError::ReservedKey(key.to_owned()));
    }
    Ok(())
}

fn validate_ascii(key: &str, value: &[u8]) -> Result<(), MetadataError> {
    if value.iter().all(|b| (0x20..=0x7e).contains(b)) {
        Ok(())
    } else {
        Err(MetadataError::InvalidValue(key.to_owned()))
    }
}

impl MetadataMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Number of entries (a key with two values counts twice).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets an ASCII value, replacing every value the key had.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        self.check_ascii(key, value)?;
        self.remove(key);
        self.entries
            .push((key.to_owned(), Bytes::copy_from_slice(value.as_bytes())));
        Ok(())
    }

    /// Adds an ASCII value, keeping the values the key had.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        self.check_ascii(key, value)?;
        self.entries
            .push((key.to_owned(), Bytes::copy_from_slice(value.as_bytes())));
        Ok(())
    }

    /// Sets a binary value (the key must end in `-bin`), replacing every value the key had.
    pub fn insert_bin(&mut self, key: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        self.check_bin(key)?;
        self.remove(key);
        self.entries.push((key.to_owned(), value.into()));
        Ok(())
    }

    /// Adds a binary value (the key must end in `-bin`), keeping the values the key had.
    pub fn append_bin(&mut self, key: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        self.check_bin(key)?;
        self.entries.push((key.to_owned(), value.into()));
        Ok(())
    }

    /// The first ASCII value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        if is_bin(key) {
            return None;
        }
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The first binary value of `key`.
    pub fn get_bin(&self, key: &str) -> Option<&Bytes> {
        if !is_bin(key) {
            return None;
        }
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = MetadataValue<'a>> + 'a {
        self.iter().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether `key` has at least one value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Removes every value of `key`; returns how many there were.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k != key);
        before - self.entries.len()
    }

    /// Every entry in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MetadataValue<'_>)> + '_ {
        self.entries.iter().map(|(k, v)| {
            let value = if is_bin(k) {
                MetadataValue::Binary(v)
            } else {
                // Validated on the way in, so this is printable ASCII.
                MetadataValue::Ascii(std::str::from_utf8(v).unwrap_or_default())
            };
            (k.as_str(), value)
        })
    }

    /// Moves every entry of `other` to the end of this map.
    pub fn extend(&mut self, other: MetadataMap) {
        self.entries.extend(other.entries);
    }

    /// The raw entries, for encoding.
    pub(crate) fn raw(&self) -> &[(String, Bytes)] {
        &self.entries
    }

    /// Adds an entry received from a peer, validating it.
    pub(crate) fn push_raw(&mut self, key: String, value: Bytes) -> Result<(), MetadataError> {
        validate_key(&key)?;
        if !is_bin(&key) {
            validate_ascii(&key, &value)?;
        }
        self.entries.push((key, value));
        Ok(())
    }

    fn check_ascii(&self, key: &str, value: &str) -> Result<(), MetadataError> {
        validate_key(key)?;
        if is_bin(key) {
            return Err(MetadataError::WrongKind(key.to_owned()));
        }
        validate_ascii(key, value.as_bytes())
    }

    fn check_bin(&self, key: &str) -> Result<(), MetadataError> {
        validate_key(key)?;
        if !is_bin(key) {
            return Err(MetadataError::WrongKind(key.to_owned()));
        }
        Ok(())
    }
}

impl fmt::Debug for MetadataMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_validated() {
        let mut m = MetadataMap::new();
        assert!(matches!(
            m.insert("", "v"),
            Err(MetadataError::InvalidKey(_))
        ));
        assert!(matches!(
            m.insert("Upper", "v"),
            Err(MetadataError::InvalidKey(_))
        ));
        assert!(matches!(
            m.insert("grpc-status", "0"),
            Err(MetadataError::ReservedKey(_))
        ));
        assert!(matches!(
            m.insert("k", "line\nbreak"),
            Err(MetadataError::InvalidValue(_))
        ));
        assert!(matches!(
            m.insert("k-bin", "v"),
            Err(MetadataError::WrongKind(_))
        ));
        assert!(matches!(
            m.insert_bin("k", vec![1]),
            Err(MetadataError::WrongKind(_))
        ));
        assert!(m.is_empty());
    }

    #[test]
    fn insert_replaces_append_keeps() {
        let mut m = MetadataMap::new();
        m.append("a", "1").unwrap();
        m.append("a", "2").unwrap();
        assert_eq!(m.get_all("a").count(), 2);
        m.insert("a", "3").unwrap();
        assert_eq!(
            m.get_all("a").collect::<Vec<_>>(),
            [MetadataValue::Ascii("3")]
        );
        m.append_bin("b-bin", &b"\xff\x00"[..]).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.remove("a"), 1);
        assert_eq!(m.get_bin("b-bin").unwrap().as_ref(), b"\xff\x00");
        assert_eq!(m.get("b-bin"), None);
    }

    #[test]
    fn raw_entries_from_peers_are_checked() {
        let mut m = MetadataMap::new();
        assert!(m.push_raw("ok".into(), Bytes::from_static(b"v")).is_ok());
        assert!(m
            .push_raw("x-bin".into(), Bytes::from_static(b"\0"))
            .is_ok());
        assert!(m.push_raw("ok".into(), Bytes::from_static(b"\0")).is_err());
        assert!(m.push_raw("Bad".into(), Bytes::new()).is_err());
    }
}
