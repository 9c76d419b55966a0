//! The text encodings multiaddr strings use, written out here instead of taken from the
//! `multibase` and `data-encoding` crates (see PATCHED.md): base58btc for peer ids, base32
//! for onion and garlic32 addresses, base64 for garlic64, and multibase strings for
//! certificate hashes (written as base64url, `u…`; read in the common multibase bases).

use base64::Engine;

use crate::{Error, Result};

const BASE32_UPPER: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE32_LOWER: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

pub(crate) fn base58btc_encode(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

pub(crate) fn base58btc_decode(text: &str) -> Result<Vec<u8>> {
    bs58::decode(text)
        .into_vec()
        .map_err(|_| Error::InvalidMultiaddr)
}

/// RFC 4648 base64 without padding (multibase's `m`).
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .map_err(|_| Error::InvalidMultiaddr)
}

/// Base32 without padding, upper or lower case as `alphabet` says.
pub(crate) fn base32_encode(bytes: &[u8], lower: bool) -> String {
    let alphabet = if lower { BASE32_LOWER } else { BASE32_UPPER };
    let mut text = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(char::from(alphabet[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        text.push(char::from(alphabet[((buffer << (5 - bits)) & 31) as usize]));
    }
    text
}

/// Base32 without padding in one case; the unused low bits of the last character must
/// be zero, so each byte string has one encoding.
pub(crate) fn base32_decode(text: &str, lower: bool) -> Result<Vec<u8>> {
    let alphabet = if lower { BASE32_LOWER } else { BASE32_UPPER };
    let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = alphabet
            .iter()
            .position(|a| *a == c)
            .ok_or(Error::InvalidMultiaddr)?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    if bits >= 5 || buffer & ((1 << bits) - 1) != 0 {
        return Err(Error::InvalidMultiaddr);
    }
    Ok(bytes)
}

/// A multibase string: its first character names the base.
pub(crate) fn multibase_decode(text: &str) -> Result<Vec<u8>> {
    let mut chars = text.chars();
    let base = chars.next().ok_or(Error::InvalidMultiaddr)?;
    let rest = chars.as_str();
    let base64 = |engine: &base64::engine::GeneralPurpose| {
        engine
            .decode(rest)
            .map_err(|_| Error::InvalidMultiaddr)
    };
    use base64::engine::general_purpose as b64;
    match base {
        'u' => base64(&b64::URL_SAFE_NO_PAD),
        'U' => base64(&b64::URL_SAFE),
        'm' => base64(&b64::STANDARD_NO_PAD),
        'M' => base64(&b64::STANDARD),
        'z' => base58btc_decode(rest),
        'b' => base32_decode(rest, true),
        'B' => base32_decode(rest, false),
        'f' | 'F' => hex_decode(rest),
        _ => Err(Error::InvalidMultiaddr),
    }
}

/// Multibase base64url (`u…`), as libp2p writes certificate hashes.
pub(crate) fn multibase_base64url_encode(bytes: &[u8]) -> String {
    let mut text = String::from("u");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut text);
    text
}

fn hex_decode(text: &str) -> Result<Vec<u8>> {
    if text.len() % 2 != 0 {
        return Err(Error::InvalidMultiaddr);
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or(Error::InvalidMultiaddr)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes(), false), encoded);
            assert_eq!(base32_decode(encoded, false).unwrap(), plain.as_bytes());
            assert_eq!(
                base32_decode(&encoded.to_ascii_lowercase(), true).unwrap(),
                plain.as_bytes()
            );
        }
        assert!(base32_decode("MZ", false).is_err(), "non-zero trailing bits");
        assert!(base32_decode("M", false).is_err(), "a lone character");
        assert!(base32_decode("mzxq", false).is_err(), "the other case");
    }

    #[test]
    fn multibase_strings_decode_in_their_base() {
        let bytes = b"\x12\x20certificate hash";
        let written = multibase_base64url_encode(bytes);
        assert!(written.starts_with('u'));
        assert_eq!(multibase_decode(&written).unwrap(), bytes);
        assert_eq!(
            multibase_decode(&format!("z{}", base58btc_encode(bytes))).unwrap(),
            bytes
        );
        assert_eq!(
            multibase_decode(&format!("b{}", base32_encode(bytes, true))).unwrap(),
            bytes
        );
        assert_eq!(multibase_decode("f1220").unwrap(), b"\x12\x20");
        assert!(multibase_decode("?abc").is_err());
    }
}
