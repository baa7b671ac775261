//! Request templates of `qrpc bench`: JSON text with `{{...}}` placeholders, filled in for
//! each call (ghz's names, so its users' data files work unchanged).
//!
//! | placeholder | becomes |
//! |---|---|
//! | `{{.RequestNumber}}` | the call's number, from 0 |
//! | `{{.TimestampUnix}}`, `{{.TimestampUnixMilli}}`, `{{.TimestampUnixNano}}` | the time the call starts |
//! | `{{newUUID}}` | a random UUID (version 4) |
//! | `{{randomInt MIN MAX}}` | a random integer in `MIN..MAX` |
//! | `{{randomString N}}` | `N` random letters and digits |
//!
//! Placeholders are replaced as text, so a string field writes `"id-{{.RequestNumber}}"`
//! and a number field `{{.RequestNumber}}` without quotes.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// The placeholders a template may use, for error messages.
pub const PLACEHOLDERS: &str = "{{.RequestNumber}}, {{.TimestampUnix}}, \
    {{.TimestampUnixMilli}}, {{.TimestampUnixNano}}, {{newUUID}}, {{randomInt MIN MAX}}, \
    {{randomString N}}";

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    RequestNumber,
    Timestamp(Unit),
    Uuid,
    RandomInt(i64, i64),
    RandomString(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
    Nanos,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; an unknown or malformed placeholder is an error naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed placeholder {:?}", truncate(&rest[open..])))?;
            parts.push(placeholder(after[..close].trim())?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Whether every call gets the same text (no placeholders).
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The text for call number `n`.
    pub fn render(&self, n: u64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            // Writing to a String cannot fail.
            let _ = match part {
                Part::Text(t) => out.write_str(t),
                Part::RequestNumber => write!(out, "{n}"),
                Part::Timestamp(unit) => write!(out, "{}", timestamp(*unit)),
                Part::Uuid => write_uuid(&mut out, fastrand::u128(..)),
                Part::RandomInt(lo, hi) => write!(out, "{}", fastrand::i64(*lo..*hi)),
                Part::RandomString(len) => {
                    out.extend((0..*len).map(|_| fastrand::alphanumeric()));
                    Ok(())
                }
            };
        }
        out
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(24) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

fn placeholder(inner: &str) -> Result<Part, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let unknown = || format!("unknown placeholder {{{{{inner}}}}}; known: {PLACEHOLDERS}");
    let number = |word: &str| {
        word.parse::<i64>()
            .map_err(|_| format!("{{{{{inner}}}}}: {word:?} is not an integer"))
    };
    match words.as_slice() {
        [".RequestNumber"] => Ok(Part::RequestNumber),
        [".TimestampUnix"] => Ok(Part::Timestamp(Unit::Seconds)),
        [".TimestampUnixMilli"] => Ok(Part::Timestamp(Unit::Millis)),
        [".TimestampUnixNano"] => Ok(Part::Timestamp(Unit::Nanos)),
        ["newUUID"] => Ok(Part::Uuid),
        ["randomInt", lo, hi] => {
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo >= hi {
                return Err(format!("{{{{{inner}}}}}: MIN must be less than MAX"));
            }
            Ok(Part::RandomInt(lo, hi))
        }
        ["randomString", len] => {
            let len = usize::try_from(number(len)?)
                .map_err(|_| format!("{{{{{inner}}}}}: the length must not be negative"))?;
            Ok(Part::RandomString(len))
        }
        _ => Err(unknown()),
    }
}

fn timestamp(unit: Unit) -> u128 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    match unit {
        Unit::Seconds => u128::from(now.as_secs()),
        Unit::Millis => now.as_millis(),
        Unit::Nanos => now.as_nanos(),
    }
}

/// Writes `bits` as a version 4 (random) UUID, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
fn write_uuid(out: &mut String, bits: u128) -> std::fmt::Result {
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    write!(
        out,
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_placeholders_is_constant() {
        let t = Template::parse(r#"{"a": 1}"#).unwrap();
        assert!(t.is_constant());
        assert_eq!(t.render(7), r#"{"a": 1}"#);
    }

    #[test]
    fn request_number_and_random_values() {
        let t = Template::parse(
            r#"{"n": {{.RequestNumber}}, "id": "x-{{ newUUID }}", "r": {{randomInt 5 7}}, "s": "{{randomString 4}}"}"#,
        )
        .unwrap();
        assert!(!t.is_constant());
        let v: serde_json::Value = serde_json::from_str(&t.render(41)).unwrap();
        assert_eq!(v["n"], 41);
        let id = v["id"].as_str().unwrap().strip_prefix("x-").unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        assert!("89ab".contains(&id[19..20]), "RFC 4122 variant: {id}");
        let r = v["r"].as_i64().unwrap();
        assert!((5..7).contains(&r), "{r}");
        let s = v["s"].as_str().unwrap();
        assert_eq!(s.len(), 4);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn timestamps_are_plausible() {
        let t = Template::parse("{{.TimestampUnix}} {{.TimestampUnixMilli}}").unwrap();
        let text = t.render(0);
        let (s, ms) = text.split_once(' ').unwrap();
        let (s, ms): (u64, u64) = (s.parse().unwrap(), ms.parse().unwrap());
        assert!(s > 1_700_000_000, "{s}");
        assert!(ms / 1000 >= s, "{ms} {s}");
    }

    #[test]
    fn bad_placeholders_are_named() {
        let e = Template::parse("{{.Nope}}").unwrap_err();
        assert!(e.contains("unknown placeholder {{.Nope}}"), "{e}");
        assert!(e.contains("{{.RequestNumber}}"), "{e}");
        let e = Template::parse(r#"{"a": {{.RequestNumber"#).unwrap_err();
        assert!(e.contains("unclosed placeholder"), "{e}");
        let e = Template::parse("{{randomInt 9 3}}").unwrap_err();
        assert!(e.contains("MIN must be less than MAX"), "{e}");
        let e = Template::parse("{{randomString x}}").unwrap_err();
        assert!(e.contains("\"x\" is not an integer"), "{e}");
        let e = Template::parse("{{randomString -1}}").unwrap_err();
        assert!(e.contains("must not be negative"), "{e}");
    }
}
