//! The short authentication string: three words both devices show.
//!
//! Both ends derive the same 33 bits from the pairing channel's exporter secret, which binds
//! both public keys and the whole invitation, and show them as three words of the BIP-39
//! English list (2048 short words, unique in their first four letters). A man in the middle
//! on the DHT ends up with a different channel, so different words. The source never asks
//! "do they match?": the user has to *pick* the target's words among [`CANDIDATE_COUNT`]
//! candidates, or type them ([`AuthWords::parse`] accepts four-letter prefixes).
//!
//! ```
//! use phantom_core::pairing::words::AuthWords;
//!
//! let words = AuthWords::from_exporter_bytes([0xff; 5]);
//! assert_eq!(words.to_string(), "zoo zoo zoo");
//! assert_eq!(AuthWords::parse("ZOO  zoo Zoo")?, words);
//! # Ok::<(), phantom_core::pairing::words::WordsError>(())
//! ```

use core::fmt;

use rand_core::CryptoRng;
use thiserror::Error;

use crate::wire::WireError;

/// How many word triples the source offers to pick from (one right, the rest decoys).
pub const CANDIDATE_COUNT: usize = 5;
/// Words shown on each device.
pub const WORD_COUNT: usize = 3;
/// Bits of the channel the words carry: 3 × 11.
pub const WORD_BITS: u32 = 33;
/// Bytes of exporter output the words are taken from.
pub const EXPORTER_LEN: usize = 5;

/// Why typed words were refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WordsError {
    /// The text does not hold exactly [`WORD_COUNT`] words.
    #[error("expected {WORD_COUNT} words, got {found}")]
    WrongCount {
        /// How many words the text held.
        found: usize,
    },
    /// A word is neither in the list nor a prefix of four or more letters that only one
    /// word of the list starts with.
    #[error("`{word}` is not in the word list")]
    UnknownWord {
        /// The word as typed, cut to its first 32 characters.
        word: String,
    },
}

impl WordsError {
    /// A stable, machine-readable code, the same in Rust and JS.
    pub fn code(&self) -> &'static str {
        match self {
            WordsError::WrongCount { .. } => "wrong_word_count",
            WordsError::UnknownWord { .. } => "unknown_word",
        }
    }
}

/// Three indices into the BIP-39 English word list.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthWords([u16; WORD_COUNT]);

pub(crate) fn word_list() -> &'static [&'static str; 2048] {
    bip39::Language::English.word_list()
}

impl AuthWords {
    /// The first 33 bits of `bytes`, big-endian, as three 11-bit word indices.
    pub fn from_exporter_bytes(bytes: [u8; EXPORTER_LEN]) -> Self {
        let mut wide = [0u8; 8];
        wide[3..].copy_from_slice(&bytes);
        let bits = u64::from_be_bytes(wide) >> (8 * EXPORTER_LEN as u32 - WORD_BITS);
        let index = |shift: u32| ((bits >> shift) & 0x7ff) as u16;
        Self([index(22), index(11), index(0)])
    }

    /// The three word indices (each below 2048).
    pub fn indices(&self) -> [u16; WORD_COUNT] {
        self.0
    }

    /// The triple with these word indices, as a stored channel keeps them; an index of
    /// 2048 or more is `invalid_value`.
    pub fn from_indices(indices: [u16; WORD_COUNT]) -> Result<Self, WireError> {
        match indices.iter().find(|index| **index >= 2048) {
            Some(index) => Err(WireError::InvalidValue {
                field: "word_index",
                value: (*index).into(),
            }),
            None => Ok(Self(indices)),
        }
    }

    /// The same triple with the word at `position` replaced by another, random one.
    fn with_one_word_changed(&self, position: usize, rng: &mut impl CryptoRng) -> Self {
        let mut changed = *self;
        if let Some(word) = changed.0.get_mut(position) {
            // An offset of 1..2047 from the old index: never the same word.
            let offset = 1 + (rng.next_u32() % 2047) as u16;
            *word = (*word + offset) & 0x7ff;
        }
        changed
    }

    /// Parses typed words; case and extra spaces do not matter, four-letter prefixes suffice.
    pub fn parse(text: &str) -> Result<Self, WordsError> {
        let typed = typed_words(text);
        if typed.len() != WORD_COUNT {
            return Err(WordsError::WrongCount { found: typed.len() });
        }
        let mut indices = [0u16; WORD_COUNT];
        for (slot, word) in indices.iter_mut().zip(typed) {
            *slot = find_word(word).ok_or_else(|| WordsError::UnknownWord {
                word: word.chars().take(32).collect(),
            })?;
        }
        Ok(Self(indices))
    }

    /// The three words, in the order both devices show them.
    pub fn words(&self) -> [&'static str; WORD_COUNT] {
        let list = word_list();
        self.0.map(|index| list[usize::from(index & 0x7ff)])
    }
}

/// The words of typed text: white space, `-` and `,` separate them.
pub(crate) fn typed_words(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == '-' || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

/// The index of a typed word (any case), or of the one word a 4+ letter prefix starts.
pub(crate) fn find_word(typed: &str) -> Option<u16> {
    let lower = typed.to_ascii_lowercase();
    let list = word_list();
    if let Some(index) = list.iter().position(|w| *w == lower) {
        return u16::try_from(index).ok();
    }
    if lower.len() >= 4 {
        let mut matches = list
            .iter()
            .enumerate()
            .filter(|(_, w)| w.starts_with(&lower));
        if let (Some((index, _)), None) = (matches.next(), matches.next()) {
            return u16::try_from(index).ok();
        }
    }
    None
}

impl fmt::Display for AuthWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.words();
        write!(f, "{a} {b} {c}")
    }
}

impl fmt::Debug for AuthWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthWords({self})")
    }
}

/// The triples the source shows; which one is right stays inside the core.
#[derive(Clone, PartialEq, Eq)]
pub struct WordChoice {
    candidates: [AuthWords; CANDIDATE_COUNT],
    correct: usize,
}

impl WordChoice {
    /// The correct triple at a random place among decoys that each differ from it in one
    /// word only, with every position changed in at least one decoy: whoever checks two of
    /// the three words still has two triples left, so only reading all three picks right.
    pub fn new(correct_words: AuthWords, rng: &mut impl CryptoRng) -> Self {
        let mut candidates = [correct_words; CANDIDATE_COUNT];
        let correct = (rng.next_u32() as usize) % CANDIDATE_COUNT;
        let mut filled = 0;
        while filled < CANDIDATE_COUNT - 1 {
            let position = if filled < WORD_COUNT {
                filled
            } else {
                (rng.next_u32() as usize) % WORD_COUNT
            };
            let decoy = correct_words.with_one_word_changed(position, rng);
            let taken = &candidates[..filled];
            if !taken.contains(&decoy) {
                candidates[filled] = decoy;
                filled += 1;
            }
        }
        // The decoys fill the first slots; move the right triple to its random place.
        candidates.swap(correct, CANDIDATE_COUNT - 1);
        Self {
            candidates,
            correct,
        }
    }

    /// The triples to show, in order; the user's pick is an index into them.
    pub fn candidates(&self) -> &[AuthWords; CANDIDATE_COUNT] {
        &self.candidates
    }

    /// Whether candidate `index` is the channel's own triple.
    pub fn is_correct(&self, index: usize) -> bool {
        index == self.correct
    }

    /// Whether typed words are the channel's own triple.
    pub fn matches_typed(&self, typed: &AuthWords) -> bool {
        *typed == self.candidates[self.correct]
    }
}

impl fmt::Debug for WordChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordChoice")
            .field("candidates", &self.candidates)
            .finish_non_exhaustive()
    }
}
