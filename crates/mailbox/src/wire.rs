//! The bounded binary codec every Phantom Sync wire format is written in.
//!
//! Integers are big-endian; byte strings and lists carry a `u32` length or count that is
//! checked against a per-field maximum *before* anything is allocated, so a hostile length
//! cannot make a decoder allocate more than the input it was handed. A decoder ends with
//! [`Reader::finish`], which refuses trailing bytes.
//!
//! ```
//! use phantom_mailbox::wire::{Reader, Writer, WireError};
//!
//! let mut writer = Writer::new();
//! writer.put_u16(7);
//! writer.put_string("name", "Ada", 16)?;
//! let bytes = writer.into_bytes();
//!
//! let mut reader = Reader::new(&bytes);
//! assert_eq!(reader.u16("number")?, 7);
//! assert_eq!(reader.string("name", 16)?, "Ada");
//! reader.finish()?;
//! # Ok::<(), WireError>(())
//! ```

use thiserror::Error;

/// Why bytes could not be decoded (or a value could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The input ended inside a field.
    #[error("input ends inside `{field}`: {needed} more bytes needed, {remaining} left")]
    Truncated {
        /// The field's name, as the format calls it.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes the input has left.
        remaining: usize,
    },
    /// Bytes are left over after the last field.
    #[error("{count} unexpected bytes after the end of the message")]
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
    /// The format version is not one this build understands.
    #[error("format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version the bytes carry.
        found: u8,
        /// The version this build reads and writes.
        supported: u8,
    },
    /// The bytes do not start with the expected magic.
    #[error("not a Phantom Sync message (wrong magic bytes)")]
    BadMagic,
    /// A length or count is larger than the field allows.
    #[error("`{field}` is {len} long, more than the maximum of {max}")]
    FieldTooLong {
        /// The field's name, as the format calls it.
        field: &'static str,
        /// Its length in bytes, or its element count for a list.
        len: usize,
        /// The most the field allows, in the same unit.
        max: usize,
    },
    /// A text field is not valid UTF-8.
    #[error("`{field}` is not valid UTF-8")]
    InvalidUtf8 {
        /// The field's name, as the format calls it.
        field: &'static str,
    },
    /// Text shown to people holds control or bidirectional-override characters.
    #[error("`{field}` contains control or direction-changing characters")]
    UnsafeText {
        /// The field's name, as the format calls it.
        field: &'static str,
    },
    /// A field holds a value the format does not define.
    #[error("`{field}` has the undefined value {value}")]
    InvalidValue {
        /// The field's name, as the format calls it.
        field: &'static str,
        /// The value found.
        value: u64,
    },
}

impl WireError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Truncated { .. } => "truncated",
            WireError::TrailingBytes { .. } => "trailing_bytes",
            WireError::UnsupportedVersion { .. } => "unsupported_version",
            WireError::BadMagic => "bad_magic",
            WireError::FieldTooLong { .. } => "field_too_long",
            WireError::InvalidUtf8 { .. } => "invalid_utf8",
            WireError::UnsafeText { .. } => "unsafe_text",
            WireError::InvalidValue { .. } => "invalid_value",
        }
    }
}

/// Reads fields from the front of a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    remaining: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { remaining: bytes }
    }

    /// How many bytes have not been read yet.
    pub fn remaining_len(&self) -> usize {
        self.remaining.len()
    }

    /// Takes exactly `len` bytes.
    pub fn bytes(&mut self, field: &'static str, len: usize) -> Result<&'a [u8], WireError> {
        if len > self.remaining.len() {
            return Err(WireError::Truncated {
                field,
                needed: len,
                remaining: self.remaining.len(),
            });
        }
        let (taken, rest) = self.remaining.split_at(len);
        self.remaining = rest;
        Ok(taken)
    }

    /// Takes exactly `N` bytes, as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(field, N)?);
        Ok(out)
    }

    /// Takes one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    /// Takes a big-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Takes a big-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Takes a big-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Checks the two magic bytes and the version byte that open every top-level format.
    pub fn magic_and_version(&mut self, magic: &[u8; 2], version: u8) -> Result<(), WireError> {
        if self.array::<2>("magic")? != *magic {
            return Err(WireError::BadMagic);
        }
        let found = self.u8("version")?;
        if found != version {
            return Err(WireError::UnsupportedVersion {
                found,
                supported: version,
            });
        }
        Ok(())
    }

    /// A `u32` length (at most `max`) followed by that many bytes.
    pub fn var_bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], WireError> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(WireError::FieldTooLong { field, len, max });
        }
        self.bytes(field, len)
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub fn string(&mut self, field: &'static str, max: usize) -> Result<String, WireError> {
        let bytes = self.var_bytes(field, max)?;
        core::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| WireError::InvalidUtf8 { field })
    }

    /// A string shown to people (names, titles): no control characters, and none of the
    /// Unicode characters that reorder text, which could make one name look like another.
    pub fn display_text(&mut self, field: &'static str, max: usize) -> Result<String, WireError> {
        let text = self.string(field, max)?;
        check_display_text(field, &text)?;
        Ok(text)
    }

    /// A `u32` element count, at most `max`, and small enough that `min_element_len` bytes
    /// per element still fit in the input: a list cannot claim more elements than it carries.
    pub fn count(
        &mut self,
        field: &'static str,
        max: usize,
        min_element_len: usize,
    ) -> Result<usize, WireError> {
        let count = self.u32(field)? as usize;
        if count > max {
            return Err(WireError::FieldTooLong {
                field,
                len: count,
                max,
            });
        }
        let needed = count.saturating_mul(min_element_len);
        if needed > self.remaining.len() {
            return Err(WireError::Truncated {
                field,
                needed,
                remaining: self.remaining.len(),
            });
        }
        Ok(count)
    }

    /// Ends decoding; any byte left over is an error.
    pub fn finish(self) -> Result<(), WireError> {
        if self.remaining.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes {
                count: self.remaining.len(),
            })
        }
    }
}

/// A link code as scanned or pasted, made canonical: white space and dashes dropped,
/// letters upper-cased (base32 and the prefixes are upper-case).
pub fn clean_link_code(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Refuses text with control characters or bidirectional formatting characters.
pub fn check_display_text(field: &'static str, text: &str) -> Result<(), WireError> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if text.chars().any(unsafe_char) {
        Err(WireError::UnsafeText { field })
    } else {
        Ok(())
    }
}

/// Appends fields to a growing buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A writer with nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` as they are, with no length: for fields of a fixed size.
    pub fn put_bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one byte.
    pub fn put_u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    /// Appends a big-endian `u16`.
    pub fn put_u16(&mut self, value: u16) {
        self.put_bytes(&value.to_be_bytes());
    }

    /// Appends a big-endian `u32`.
    pub fn put_u32(&mut self, value: u32) {
        self.put_bytes(&value.to_be_bytes());
    }

    /// Appends a big-endian `u64`.
    pub fn put_u64(&mut self, value: u64) {
        self.put_bytes(&value.to_be_bytes());
    }

    /// A `u32` length followed by the bytes; refuses what a decoder would refuse.
    pub fn put_var_bytes(
        &mut self,
        field: &'static str,
        bytes: &[u8],
        max: usize,
    ) -> Result<(), WireError> {
        let len = bytes.len();
        let prefix = u32::try_from(len)
            .ok()
            .filter(|_| len <= max)
            .ok_or(WireError::FieldTooLong { field, len, max })?;
        self.put_u32(prefix);
        self.put_bytes(bytes);
        Ok(())
    }

    /// A length-prefixed UTF-8 string; refuses more than `max` bytes, as
    /// [`Reader::string`] would.
    pub fn put_string(
        &mut self,
        field: &'static str,
        text: &str,
        max: usize,
    ) -> Result<(), WireError> {
        self.put_var_bytes(field, text.as_bytes(), max)
    }

    /// Text shown to people; refused as [`Reader::display_text`] would refuse it.
    pub fn put_display_text(
        &mut self,
        field: &'static str,
        text: &str,
        max: usize,
    ) -> Result<(), WireError> {
        check_display_text(field, text)?;
        self.put_string(field, text, max)
    }

    /// A `u32` element count; refuses more than `max`.
    pub fn put_count(
        &mut self,
        field: &'static str,
        count: usize,
        max: usize,
    ) -> Result<(), WireError> {
        let prefix =
            u32::try_from(count)
                .ok()
                .filter(|_| count <= max)
                .ok_or(WireError::FieldTooLong {
                    field,
                    len: count,
                    max,
                })?;
        self.put_u32(prefix);
        Ok(())
    }

    /// How many bytes have been written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes written, without a copy.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// A value with a fixed place in a larger encoding, that can also stand alone.
///
/// Standing alone (as a vault record), the encoding starts with [`WireRecord::VERSION`]; the
/// bytes are zeroized on drop because records hold secrets.
pub trait WireRecord: Sized {
    /// The format version written before a standalone encoding.
    const VERSION: u8 = 1;
    /// The fewest bytes an encoding takes: bounds list counts before allocation.
    const MIN_LEN: usize;

    /// Appends the value's fields, without the version: its place in a larger encoding.
    fn write(&self, w: &mut Writer) -> Result<(), WireError>;
    /// Reads what [`WireRecord::write`] wrote.
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError>;

    /// The standalone encoding: [`WireRecord::VERSION`], then the fields, in storage that
    /// is zeroized on drop.
    fn encode(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, WireError> {
        let mut w = Writer::new();
        w.put_u8(Self::VERSION);
        self.write(&mut w)?;
        Ok(zeroize::Zeroizing::new(w.into_bytes()))
    }

    /// Reads what [`WireRecord::encode`] wrote; refuses another version and trailing bytes.
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let found = r.u8("record_version")?;
        if found != Self::VERSION {
            return Err(WireError::UnsupportedVersion {
                found,
                supported: Self::VERSION,
            });
        }
        let value = Self::read(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

impl Writer {
    /// A `u32` count (at most `max`) followed by each element.
    pub fn put_list<T: WireRecord>(
        &mut self,
        field: &'static str,
        items: &[T],
        max: usize,
    ) -> Result<(), WireError> {
        self.put_count(field, items.len(), max)?;
        items.iter().try_for_each(|item| item.write(self))
    }
}

impl Reader<'_> {
    /// A list written by [`Writer::put_list`].
    pub fn list<T: WireRecord>(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Vec<T>, WireError> {
        let count = self.count(field, max, T::MIN_LEN)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(T::read(self)?);
        }
        Ok(items)
    }

    /// A 32-byte secret, copied straight into zeroizing storage.
    pub fn secret(&mut self, field: &'static str) -> Result<crate::secret::Secret<32>, WireError> {
        let mut bytes = zeroize::Zeroizing::new(self.array::<32>(field)?);
        Ok(crate::secret::Secret::from_bytes(core::mem::take(
            &mut *bytes,
        )))
    }
}
