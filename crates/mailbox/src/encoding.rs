//! Bytes as text: lower-case hex for ids and keys people or logs see, and RFC 4648 base32
//! without padding for link codes (upper-case letters and digits fit a QR code's
//! alphanumeric mode). Written out here rather than taken from a general encoding crate:
//! these two are all the crate needs, and the wasm package's size is a goal (brief §6).
//!
//! ```
//! use phantom_mailbox::encoding::{base32, base32_decode, hex, hex_decode};
//!
//! assert_eq!(hex(&[0x3f, 0x2a]), "3f2a");
//! assert_eq!(hex_decode("3F2a"), Some(vec![0x3f, 0x2a]));
//! assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
//! assert_eq!(base32_decode("MZXW6YTBOI"), Some(b"foobar".to_vec()));
//! ```

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(HEX_DIGITS[usize::from(byte & 15)]));
    }
    text
}

/// Hex in either case; `None` for anything else, or an odd number of digits.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let value = |digit: u8| char::from(digit).to_digit(16);
    digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => Some((value(*high)? << 4 | value(*low)?) as u8),
            _ => None,
        })
        .collect()
}

/// How many characters [`base32`] writes for `len` bytes.
pub const fn base32_len(len: usize) -> usize {
    (len * 8).div_ceil(5)
}

/// Upper-case RFC 4648 base32, without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(base32_len(bytes.len()));
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
    }
    if bits > 0 {
        text.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    text
}

/// [`base32`] read back: `None` for a character outside the alphabet (upper case only), a
/// length no byte string has, or unused low bits that are not zero — each byte string has
/// one encoding.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = BASE32_ALPHABET.iter().position(|a| *a == c)?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    (bits < 5 && buffer & ((1 << bits) - 1) == 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648_and_has_one_encoding_per_byte_string() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(base32_len(plain.len()), encoded.len());
            assert_eq!(base32_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(base32_decode("MZ"), None, "unused bits set");
        assert_eq!(base32_decode("M"), None, "no byte string is one character");
        assert_eq!(base32_decode("MZXQ="), None, "no padding");
        assert_eq!(base32_decode("mzxq"), None, "upper case only");
    }

    #[test]
    fn hex_reads_either_case_and_nothing_else() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex(&bytes)), Some(bytes.clone()));
        assert_eq!(hex_decode(&hex(&bytes).to_uppercase()), Some(bytes));
        for bad in ["abc", "0g", "+1", " 1", "é1"] {
            assert_eq!(hex_decode(bad), None, "{bad}");
        }
    }
}
