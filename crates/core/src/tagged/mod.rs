//! Tagged values: a small, self-describing binary form of serde's data model, in which
//! the device keeps vodozemac's Olm pickles and the facade hands views to JS.
//!
//! It holds what JSON holds, shaped as JSON would hold it — structs as maps keyed by field
//! name, byte strings as sequences of numbers, `None` as null and `Some(x)` as `x`, enum
//! variants as a name or a one-entry map — so that serde's derived code reads it the same
//! way, internally tagged enums included (they need a format that describes itself), and a
//! pickle stored as JSON by earlier releases converts to it one to one ([`from_json`]).
//! Linking a JSON library for this alone cost the wasm package about 50 KB gzip.
//!
//! ```text
//! value = 0x00 … 0xbf                        an integer 0 … 191, this byte
//!       | 0xc0                               null: (), None, a unit struct
//!       | 0xc1 | 0xc2                        false | true
//!       | 0xc3 u8 | 0xc4 u32 | 0xc5 u64      an integer ≥ 0
//!       | 0xc6 u64                           an integer n < 0, stored as !n
//!       | 0xc7 u32 len ‖ UTF-8               a string
//!       | 0xc8 u32 count ‖ value*            a sequence
//!       | 0xc9 u32 count ‖ (value value)*    a map
//!       | 0xca f64                           a floating-point number (views; no pickle has one)
//! ```
//!
//! A key's bytes (an array of numbers) take little more than the bytes themselves.
//! Numbers are big-endian; a float is its IEEE 754 bits.
//!
//! ```
//! use phantom_core::tagged;
//!
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Ratchet {
//!     index: u32,
//!     key: [u8; 4],
//!     peer: Option<String>,
//! }
//!
//! let ratchet = Ratchet { index: 7, key: [1, 2, 3, 4], peer: None };
//! let bytes = tagged::to_vec(&ratchet)?;
//! assert_eq!(tagged::from_slice::<Ratchet>(&bytes)?, ratchet);
//!
//! let json = br#"{"index":7,"key":[1,2,3,4],"peer":null}"#;
//! assert_eq!(tagged::from_json(json)?.as_slice(), bytes.as_slice());
//! # Ok::<(), tagged::TaggedError>(())
//! ```

mod de;
mod json;
mod ser;

pub use de::{from_slice, Tokens};
pub use json::from_json;
pub use ser::to_vec;

use std::fmt;

/// Why a value could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaggedError {
    /// The bytes end inside a value.
    #[error("the value is cut off")]
    Truncated,
    /// Bytes are left after the value.
    #[error("bytes follow the value")]
    TrailingBytes,
    /// A byte that starts no value, or JSON that is not well formed.
    #[error("malformed value at byte {0}")]
    Malformed(usize),
    /// Values nested deeper than [`MAX_DEPTH`].
    #[error("values nested too deeply")]
    TooDeep,
    /// A JSON number that is not an integer of 64 bits.
    #[error("not an integer of 64 bits")]
    NotAnInteger,
    /// The type being written or read refused the value.
    #[error("{0}")]
    Refused(String),
}

/// How deep values may nest; Olm pickles nest about six levels.
pub const MAX_DEPTH: usize = 64;

const FIXED_INTEGERS: u8 = 0xc0;
const NULL: u8 = 0xc0;
const FALSE: u8 = 0xc1;
const TRUE: u8 = 0xc2;
const U8: u8 = 0xc3;
const U32: u8 = 0xc4;
const U64: u8 = 0xc5;
const NEGATIVE: u8 = 0xc6;
const STRING: u8 = 0xc7;
const SEQUENCE: u8 = 0xc8;
const MAP: u8 = 0xc9;
const FLOAT: u8 = 0xca;

/// An integer ≥ 0 in the fewest bytes.
fn put_unsigned(out: &mut Vec<u8>, value: u64) {
    match (u8::try_from(value), u32::try_from(value)) {
        (Ok(byte), _) if byte < FIXED_INTEGERS => out.push(byte),
        (Ok(byte), _) => out.extend_from_slice(&[U8, byte]),
        (_, Ok(word)) => {
            out.push(U32);
            out.extend_from_slice(&word.to_be_bytes());
        }
        _ => {
            out.push(U64);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// One value's start, as [`Tokens`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    /// `()`, `None` or a unit struct.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer ≥ 0.
    Unsigned(u64),
    /// An integer < 0.
    Negative(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(&'a str),
    /// A sequence of this many values, which follow.
    Sequence(usize),
    /// A map of this many entries, which follow, each a key then a value.
    Map(usize),
}

impl serde::ser::Error for TaggedError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        TaggedError::Refused(message.to_string())
    }
}

impl serde::de::Error for TaggedError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        TaggedError::Refused(message.to_string())
    }
}

/// Writes a count or length now and its value once it is known.
fn reserve_count(out: &mut Vec<u8>, tag: u8) -> usize {
    out.push(tag);
    out.extend_from_slice(&[0; 4]);
    out.len() - 4
}

fn fill_count(out: &mut [u8], at: usize, count: usize) -> Result<(), TaggedError> {
    let count = u32::try_from(count).map_err(|_| TaggedError::Refused("too many".into()))?;
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&count.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
    #[serde(tag = "type")]
    enum Chain {
        Active { counter: u64, key: Box<[u8; 3]> },
        Inactive { reason: String },
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
    enum Shape {
        Unit,
        Newtype(i64),
        Tuple(u8, bool),
        Struct { name: String },
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
    struct Wrapped(u16);

    #[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
    struct Everything {
        chains: Vec<Chain>,
        shapes: Vec<Shape>,
        keys: BTreeMap<u64, Wrapped>,
        maybe: Option<Option<u8>>,
        nothing: (),
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        text: String,
        small: i8,
        large: u64,
        #[serde(default)]
        missing: u32,
    }

    fn everything() -> Everything {
        Everything {
            chains: vec![
                Chain::Active {
                    counter: u64::MAX,
                    key: Box::new([1, 2, 3]),
                },
                Chain::Inactive {
                    reason: "said \"no\" \\ \u{e9}\u{1f600}\n".into(),
                },
            ],
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(i64::MIN),
                Shape::Tuple(255, true),
                Shape::Struct { name: "x".into() },
            ],
            keys: BTreeMap::from([(1, Wrapped(2)), (u64::MAX, Wrapped(0))]),
            maybe: Some(None),
            nothing: (),
            bytes: vec![0, 127, 255],
            text: String::new(),
            small: -128,
            large: 1 << 63,
            missing: 0,
        }
    }

    #[test]
    fn every_shape_of_the_data_model_reads_back() {
        let value = everything();
        let bytes = to_vec(&value).expect("written");
        let read: Everything = from_slice(&bytes).expect("read");
        // `Some(None)` is `null`, as in JSON.
        assert_eq!(
            read,
            Everything {
                maybe: None,
                ..value
            }
        );
    }

    #[test]
    fn json_written_by_serde_json_converts_to_the_same_bytes() {
        let value = everything();
        let json = serde_json::to_vec(&value).expect("json");
        let converted = from_json(&json).expect("converted");
        assert_eq!(*converted, to_vec(&value).expect("written"));
        let pretty = serde_json::to_vec_pretty(&value).expect("json");
        assert_eq!(*from_json(&pretty).expect("converted"), *converted);
    }

    #[test]
    fn damaged_bytes_are_refused_without_panicking() {
        let bytes = to_vec(&everything()).expect("written");
        for cut in 0..bytes.len() {
            assert!(
                from_slice::<Everything>(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[at] ^= flip;
                let _ = from_slice::<Everything>(&damaged);
            }
        }
        let longer = [bytes.as_slice(), &[0]].concat();
        assert_eq!(
            from_slice::<Everything>(&longer),
            Err(TaggedError::TrailingBytes)
        );
        assert_eq!(
            from_slice::<Vec<u8>>(&[SEQUENCE, 0xff, 0xff, 0xff, 0xff]),
            Err(TaggedError::Truncated),
            "a count beyond the bytes left allocates nothing"
        );
        let deep = [[SEQUENCE, 0, 0, 0, 1].repeat(MAX_DEPTH + 1), vec![NULL]].concat();
        assert_eq!(
            from_slice::<serde::de::IgnoredAny>(&deep),
            Err(TaggedError::TooDeep)
        );
        assert_eq!(
            from_slice::<f64>(&to_vec(&1.5f64).expect("written")),
            Ok(1.5)
        );
    }

    #[test]
    fn malformed_json_is_refused() {
        for json in [
            &b"{"[..],
            b"[1,]",
            b"{\"a\" 1}",
            b"1.5",
            b"18446744073709551616",
            b"\"\\ud800\"",
            b"nul",
            b"[] []",
            b"\"\x01\"",
        ] {
            assert!(
                from_json(json).is_err(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        let deep = [b"[".repeat(MAX_DEPTH + 1), b"]".repeat(MAX_DEPTH + 1)].concat();
        assert_eq!(from_json(&deep).map(|_| ()), Err(TaggedError::TooDeep));
    }
}
