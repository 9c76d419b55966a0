//! The recovery code: the persona's authority written as 24 words, for when the device
//! that holds it is lost.
//!
//! Only one device of a persona — the one that created it — holds the root key the persona
//! identity key derives from, so only it can sign a roster (add or remove devices). The
//! recovery code is that root key in the BIP-39 layout: its 256 bits and the first 8 bits
//! of their SHA-256, as 24 words of the English list. Typing it on another device of the
//! persona gives that device the authority ([`Persona::take_authority`]).
//!
//! ```
//! use phantom_core::persona::{Persona, RecoveryCode};
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let persona = Persona::create("Ada", 1_700_000_000, &mut rng)?;
//! let code = persona.recovery_code().expect("the creating device holds the authority");
//! let mut linked = persona.for_linked_device();
//! assert!(linked.authority_key().is_none());
//! linked.take_authority(&RecoveryCode::parse(&code.to_string())?)?;
//! assert_eq!(linked.authority_key(), persona.authority_key());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Persona::take_authority`]: super::Persona::take_authority

use core::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::pairing::words::{find_word, typed_words, word_list};
use crate::secret::Secret;

/// Words in a recovery code.
pub const RECOVERY_WORD_COUNT: usize = 24;

/// Why typed words are not a recovery code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecoveryError {
    /// Not [`RECOVERY_WORD_COUNT`] words.
    #[error("a recovery code has {RECOVERY_WORD_COUNT} words, these are {found}")]
    WrongWordCount {
        /// How many words were typed.
        found: usize,
    },
    /// A word is not in the BIP-39 English list, nor a prefix of four or more letters that
    /// only one word of it starts with.
    #[error("`{word}` is not a word of recovery codes")]
    UnknownWord {
        /// The word as typed, cut to its first 32 characters.
        word: String,
    },
    /// Every word is known but the checksum (the last 8 bits) does not match the root key:
    /// a word is mistyped as another, or two are swapped.
    #[error("the words do not add up: one of them is mistyped or out of place")]
    Checksum,
}

impl RecoveryError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            RecoveryError::WrongWordCount { .. } => "recovery_word_count",
            RecoveryError::UnknownWord { .. } => "recovery_unknown_word",
            RecoveryError::Checksum => "recovery_checksum",
        }
    }
}

/// A persona's root key, as people write it down. Secret: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Secret<32>);

impl RecoveryCode {
    /// The code of a root key.
    pub fn new(root_key: Secret<32>) -> Self {
        Self(root_key)
    }

    /// The persona key (Ed25519, public) of the persona this code holds the authority of.
    pub fn persona_key(&self) -> [u8; 32] {
        super::identity_from_root(&self.0)
            .verifying_key()
            .to_bytes()
    }

    pub(crate) fn root_key(&self) -> &Secret<32> {
        &self.0
    }

    /// The 24 word indices: 264 bits, the root key then its checksum byte.
    fn indices(&self) -> Zeroizing<[u16; RECOVERY_WORD_COUNT]> {
        let mut bits = Zeroizing::new([0u8; 33]);
        let (key, checksum) = bits.split_at_mut(32);
        key.copy_from_slice(self.0.expose());
        checksum.fill(checksum_of(self.0.expose()));
        let mut indices = Zeroizing::new([0u16; RECOVERY_WORD_COUNT]);
        for (n, index) in indices.iter_mut().enumerate() {
            *index = (0..11).fold(0u16, |acc, bit| {
                let at = n * 11 + bit;
                let set = bits
                    .get(at / 8)
                    .is_some_and(|b| b & (0x80 >> (at % 8)) != 0);
                (acc << 1) | u16::from(set)
            });
        }
        indices
    }

    /// Parses typed words: case, spaces, `-` and `,` do not matter, and a four-letter
    /// prefix that only one word starts with is enough.
    pub fn parse(text: &str) -> Result<Self, RecoveryError> {
        let typed = typed_words(text);
        if typed.len() != RECOVERY_WORD_COUNT {
            return Err(RecoveryError::WrongWordCount { found: typed.len() });
        }
        let mut bits = Zeroizing::new([0u8; 33]);
        for (n, word) in typed.iter().enumerate() {
            let index = find_word(word).ok_or_else(|| RecoveryError::UnknownWord {
                word: word.chars().take(32).collect(),
            })?;
            for bit in 0..11 {
                if index & (0x400 >> bit) != 0 {
                    let at = n * 11 + bit;
                    if let Some(byte) = bits.get_mut(at / 8) {
                        *byte |= 0x80 >> (at % 8);
                    }
                }
            }
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bits[..32]);
        if bits[32] != checksum_of(&key) {
            return Err(RecoveryError::Checksum);
        }
        Ok(Self(Secret::from_bytes(*key)))
    }
}

fn checksum_of(key: &[u8; 32]) -> u8 {
    Sha256::digest(key)[0]
}

/// The 24 words, separated by spaces.
impl fmt::Display for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = word_list();
        for (n, index) in self.indices().iter().enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            f.write_str(list[usize::from(index & 0x7ff)])?;
        }
        Ok(())
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_bip39_mnemonic_of_the_root_key() {
        // BIP-39's own test vector for 32 bytes of 0x7f.
        let code = RecoveryCode::new(Secret::from_bytes([0x7f; 32]));
        let words = "legal winner thank year wave sausage worth useful legal winner thank \
                     year wave sausage worth useful legal winner thank year wave sausage \
                     worth title";
        assert_eq!(code.to_string(), words);
        assert_eq!(RecoveryCode::parse(words), Ok(code.clone()));
        assert_eq!(
            RecoveryCode::parse(&words.to_uppercase().replace(' ', "-")),
            Ok(code)
        );
    }

    #[test]
    fn a_mistyped_or_shortened_code_is_refused_in_plain_words() {
        let code = RecoveryCode::new(Secret::from_bytes([9; 32])).to_string();
        let mut words: Vec<&str> = code.split(' ').collect();
        assert_eq!(
            RecoveryCode::parse(&words[..23].join(" ")).map_err(|e| e.code()),
            Err("recovery_word_count")
        );
        words.swap(0, 1);
        assert_eq!(
            RecoveryCode::parse(&words.join(" ")).map_err(|e| e.code()),
            Err("recovery_checksum"),
            "two words swapped"
        );
        words[5] = "qwerty";
        assert_eq!(
            RecoveryCode::parse(&words.join(" ")).map_err(|e| e.code()),
            Err("recovery_unknown_word")
        );
        let last_changed = code.rsplit_once(' ').map(|(head, _)| format!("{head} zoo"));
        assert_eq!(
            RecoveryCode::parse(&last_changed.unwrap_or_default()).map_err(|e| e.code()),
            Err("recovery_checksum")
        );
    }
}
