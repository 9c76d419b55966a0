//! The vault's encryption layer: what turns a record into something that reveals nothing
//! at rest. Sans-IO — bytes in, bytes out.
//!
//! From the vault's 32-byte passphrase (each device's own, see `docs/VAULT.md`; not the
//! persona's transferred `database_passphrase`), HKDF-SHA256 derives for each store a
//! value key (XChaCha20-Poly1305), a lookup key (HMAC-SHA256, for keyed hashes of record
//! keys, so ids never appear) and a location key (HMAC-SHA256, for the tag that tells a
//! moved record from a tampered one). A record is
//! `version ‖ location tag (8) ‖ nonce (24) ‖ ciphertext`, and its associated data binds
//! the store and the stored key, so a record cannot be swapped or moved unnoticed.
//!
//! ```
//! use phantom_core::secret::Secret;
//! use phantom_core::vault::cipher::VaultCipher;
//! use phantom_core::vault::store::StoreName;
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let cipher = VaultCipher::derive(&Secret::from_bytes([7; 32]));
//! let key = cipher.lookup_key(StoreName::Contacts, b"contact id");
//! let record = cipher.seal(StoreName::Contacts, &key, b"Grace", &mut rng);
//! assert_eq!(&cipher.open(StoreName::Contacts, &key, &record)?[..], b"Grace");
//! # Ok::<(), phantom_core::vault::cipher::CipherError>(())
//! ```

use core::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use phantom_aead::{Payload, XChaCha20Poly1305};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::secret::Secret;
use crate::vault::store::StoreName;

/// The version byte every record starts with, also bound into its associated data; a
/// record of another version is [`CipherError::Malformed`].
pub const RECORD_VERSION: u8 = 1;
const TAG_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + TAG_LEN + NONCE_LEN;
/// Bytes a record adds to its plaintext: header and AEAD tag.
pub const RECORD_OVERHEAD: usize = HEADER_LEN + 16;
/// Length of a keyed-hash lookup key.
pub const LOOKUP_KEY_LEN: usize = 16;
const KDF_SALT: &[u8] = b"phantom-sync vault v1";
const AAD_LABEL: &[u8] = b"phantom-sync vault record v1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"phantom-sync vault key check v1";

/// Why a record could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CipherError {
    /// The record's location tag is not the one of the key it is stored under: it was
    /// swapped with another record or copied from another key, or sealed with another
    /// passphrase.
    #[error("a record in `{store}` is not where it was written: it was swapped or moved")]
    Moved {
        /// The store's name ([`StoreName::as_str`]).
        store: &'static str,
    },
    /// The record is where it was written but does not decrypt: its nonce or ciphertext
    /// was altered.
    #[error("a record in `{store}` was altered")]
    Tampered {
        /// The store's name ([`StoreName::as_str`]).
        store: &'static str,
    },
    /// The record is shorter than [`RECORD_OVERHEAD`] or starts with another version than
    /// [`RECORD_VERSION`].
    #[error("a record in `{store}` is not a vault record")]
    Malformed {
        /// The store's name ([`StoreName::as_str`]).
        store: &'static str,
    },
}

impl CipherError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            CipherError::Moved { .. } => "record_moved",
            CipherError::Tampered { .. } => "record_tampered",
            CipherError::Malformed { .. } => "record_malformed",
        }
    }
}

struct StoreKeys {
    value: XChaCha20Poly1305,
    lookup: Hmac<Sha256>,
    location: Hmac<Sha256>,
}

/// The keys of one unlocked vault.
pub struct VaultCipher {
    stores: Vec<(StoreName, StoreKeys)>,
}

impl VaultCipher {
    /// The keys a vault passphrase gives: for each store of [`StoreName::ALL`] a value, a
    /// lookup and a location key, by HKDF-SHA256. Any 32 bytes give keys; only
    /// [`VaultCipher::verify_key_check`] tells whether they are a vault's.
    pub fn derive(passphrase: &Secret<32>) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(KDF_SALT), passphrase.expose());
        let subkey = |purpose: &str, store: StoreName| -> Zeroizing<[u8; 32]> {
            let mut out = Zeroizing::new([0u8; 32]);
            let info = format!("{purpose}:{}", store.as_str());
            hkdf.expand(info.as_bytes(), out.as_mut())
                .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
            out
        };
        let hmac = |key: &[u8; 32]| {
            <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
        };
        let stores = StoreName::ALL
            .iter()
            .map(|&store| {
                let keys = StoreKeys {
                    value: XChaCha20Poly1305::new(&phantom_aead::Key::from(*subkey(
                        "value", store,
                    ))),
                    lookup: hmac(&subkey("lookup", store)),
                    location: hmac(&subkey("location", store)),
                };
                (store, keys)
            })
            .collect();
        Self { stores }
    }

    fn keys(&self, store: StoreName) -> &StoreKeys {
        // Every store name has keys: `derive` walks `StoreName::ALL`.
        self.stores
            .iter()
            .find(|(name, _)| *name == store)
            .map(|(_, keys)| keys)
            .unwrap_or_else(|| unreachable!("keys exist for every store"))
    }

    /// The keyed hash that stands for `logical_key` in `store`.
    pub fn lookup_key(&self, store: StoreName, logical_key: &[u8]) -> [u8; LOOKUP_KEY_LEN] {
        let digest = self
            .keys(store)
            .lookup
            .clone()
            .chain_update(logical_key)
            .finalize()
            .into_bytes();
        let mut out = [0u8; LOOKUP_KEY_LEN];
        out.copy_from_slice(&digest[..LOOKUP_KEY_LEN]);
        out
    }

    fn location_tag(&self, store: StoreName, stored_key: &[u8]) -> [u8; TAG_LEN] {
        let digest = self
            .keys(store)
            .location
            .clone()
            .chain_update(stored_key)
            .finalize()
            .into_bytes();
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&digest[..TAG_LEN]);
        out
    }

    /// Encrypts `plaintext` for the record at `stored_key` in `store`.
    pub fn seal(
        &self,
        store: StoreName,
        stored_key: &[u8],
        plaintext: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut record = Vec::with_capacity(plaintext.len() + RECORD_OVERHEAD);
        record.push(RECORD_VERSION);
        record.extend_from_slice(&self.location_tag(store, stored_key));
        record.extend_from_slice(&nonce);
        let ciphertext = self
            .keys(store)
            .value
            .encrypt(
                &phantom_aead::XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &associated_data(store, stored_key),
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 seals any length a Vec holds"));
        record.extend_from_slice(&ciphertext);
        record
    }

    /// Decrypts the record found at `stored_key` in `store`.
    pub fn open(
        &self,
        store: StoreName,
        stored_key: &[u8],
        record: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CipherError> {
        let name = store.as_str();
        if record.len() < RECORD_OVERHEAD || record[0] != RECORD_VERSION {
            return Err(CipherError::Malformed { store: name });
        }
        let (header, ciphertext) = record.split_at(HEADER_LEN);
        let (tag, nonce) = header[1..].split_at(TAG_LEN);
        let expected_tag = self.location_tag(store, stored_key);
        if !bool::from(tag.ct_eq(&expected_tag)) {
            return Err(CipherError::Moved { store: name });
        }
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        self.keys(store)
            .value
            .decrypt(
                &phantom_aead::XNonce::from(nonce_bytes),
                Payload {
                    msg: ciphertext,
                    aad: &associated_data(store, stored_key),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CipherError::Tampered { store: name })
    }

    /// A record that only this passphrase opens: it tells a wrong key from a damaged vault.
    pub fn key_check(&self, rng: &mut impl CryptoRng) -> Vec<u8> {
        self.seal(StoreName::Meta, KEY_CHECK_ID, KEY_CHECK_PLAINTEXT, rng)
    }

    /// Whether `record` is a key check sealed by this passphrase
    /// ([`VaultCipher::key_check`]): `false` for another passphrase or a damaged record.
    pub fn verify_key_check(&self, record: &[u8]) -> bool {
        self.open(StoreName::Meta, KEY_CHECK_ID, record)
            .is_ok_and(|plaintext| plaintext.as_slice() == KEY_CHECK_PLAINTEXT)
    }
}

/// The meta record that holds the key check.
pub const KEY_CHECK_ID: &[u8] = b"key_check";

fn associated_data(store: StoreName, stored_key: &[u8]) -> Vec<u8> {
    let name = store.as_str().as_bytes();
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 2 + name.len() + stored_key.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.push(name.len() as u8);
    aad.extend_from_slice(name);
    aad.push(RECORD_VERSION);
    aad.extend_from_slice(stored_key);
    aad
}

impl fmt::Debug for VaultCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultCipher(redacted)")
    }
}
