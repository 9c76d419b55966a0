//! Mailbox keys: what lets a device write to a mailbox or read it, checked by nodes that
//! hold no secret.
//!
//! A mailbox is named by two Ed25519 public keys, a writer `W` and a reader `R`:
//! `address = SHA-256("phantom-sync mailbox v2" ‖ W ‖ R)`. A `Put` carries both keys and a
//! [`PutStamp`], `W`'s signature over the mailbox, the envelope id and the time it was
//! written; a `Fetch` carries both keys and `R`'s signature over the node it asks, the
//! mailbox and the time. A node checks them against the address alone, so it stores only
//! what a holder of `W` wrote and hands it only to a holder of `R`: a stranger who knows
//! no key can neither name a mailbox, nor fill it, nor list what it holds.
//!
//! ```
//! use phantom_mailbox::envelope::Envelope;
//! use phantom_mailbox::keys::{verify_fetch, verify_put, MailboxKeys};
//!
//! let keys = MailboxKeys::shared(&[9; 32]);
//! let envelope = Envelope::new(b"sealed".to_vec())?;
//! let stamp = keys.stamp(&envelope.id(), 1_700_000_000)?;
//! verify_put(keys.public(), &envelope.id(), &stamp)?;
//!
//! let authorization = keys.authorize_fetch(b"node peer id", 1_700_000_000)?;
//! verify_fetch(keys.public(), b"node peer id", 1_700_000_000, &authorization)?;
//!
//! // Someone who only knows the public keys can do neither.
//! let stranger = MailboxKeys::public_only(*keys.public());
//! assert!(stranger.stamp(&envelope.id(), 1_700_000_000).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;

use crate::envelope::EnvelopeId;
use crate::secret::Secret;
use crate::wire::{Reader, WireError, Writer};
use crate::MailboxAddress;

const ADDRESS_DOMAIN: &[u8] = b"phantom-sync mailbox v2";
const KEY_INFO: &[u8] = b"phantom-sync mailbox key v1";
const PUT_DOMAIN: &[u8] = b"phantom-sync put v2";
const FETCH_DOMAIN: &[u8] = b"phantom-sync fetch v2";

/// Why a mailbox key could not sign, or a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeysError {
    /// This device holds no writer secret for the mailbox, or its public writer key is no
    /// Ed25519 point.
    #[error("this device holds no key to write to the mailbox")]
    CannotWrite,
    /// This device holds no reader secret for the mailbox, or its public reader key is no
    /// Ed25519 point.
    #[error("this device holds no key to read the mailbox")]
    CannotRead,
    /// A put's stamp is not the writer key's signature over this mailbox, envelope and time.
    #[error("the write stamp does not verify for this mailbox and envelope")]
    BadStamp,
    /// A fetch's authorization is not the reader key's signature over this node, mailbox
    /// and time.
    #[error("the fetch authorization does not verify for this node and mailbox")]
    BadAuthorization,
}

impl KeysError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            KeysError::CannotWrite => "mailbox_not_writable",
            KeysError::CannotRead => "mailbox_not_readable",
            KeysError::BadStamp => "put_unauthorized",
            KeysError::BadAuthorization => "fetch_unauthorized",
        }
    }
}

/// The two public keys that name a mailbox; anyone may hold them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailboxPublicKeys {
    /// Signs what is put into the mailbox.
    pub writer: [u8; 32],
    /// Signs each fetch of the mailbox.
    pub reader: [u8; 32],
}

impl MailboxPublicKeys {
    /// The encoded length in bytes: the writer key, then the reader key.
    pub const LEN: usize = 64;

    /// The mailbox the keys name: `SHA-256("phantom-sync mailbox v2" ‖ W ‖ R)`.
    pub fn address(&self) -> MailboxAddress {
        MailboxAddress::from_bytes(
            Sha256::new()
                .chain_update(ADDRESS_DOMAIN)
                .chain_update(self.writer)
                .chain_update(self.reader)
                .finalize()
                .into(),
        )
    }

    /// Appends the writer key, then the reader key: [`Self::LEN`] bytes.
    pub fn write(&self, w: &mut Writer) {
        w.put_bytes(&self.writer);
        w.put_bytes(&self.reader);
    }

    /// Reads what [`MailboxPublicKeys::write`] wrote. Any 64 bytes are accepted: a key that
    /// is no Ed25519 point fails later, when a signature is checked against it.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let bytes: [u8; Self::LEN] = r.array("mailbox_keys")?;
        let mut keys = Self {
            writer: [0; 32],
            reader: [0; 32],
        };
        keys.writer.copy_from_slice(&bytes[..32]);
        keys.reader.copy_from_slice(&bytes[32..]);
        Ok(keys)
    }
}

impl fmt::Debug for MailboxPublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxPublicKeys({:?})", self.address())
    }
}

/// `W`'s signature that lets an envelope into its mailbox. Nodes keep it with the envelope
/// and hand it on, so a copy repaired or replicated elsewhere still proves where it belongs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PutStamp {
    /// When the envelope was written (seconds since the Unix epoch, the writer's clock).
    pub written_at: u64,
    /// `W`'s Ed25519 signature over the mailbox's address, the envelope id and `written_at`.
    pub signature: [u8; 64],
}

impl PutStamp {
    /// The encoded length in bytes: `written_at`, then the signature.
    pub const LEN: usize = 8 + 64;

    /// Appends `written_at` (big-endian), then the signature: [`Self::LEN`] bytes.
    pub fn write(&self, w: &mut Writer) {
        w.put_u64(self.written_at);
        w.put_bytes(&self.signature);
    }

    /// Reads what [`PutStamp::write`] wrote; only [`verify_put`] checks the signature.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            written_at: r.u64("written_at")?,
            signature: r.array("stamp")?,
        })
    }
}

impl fmt::Debug for PutStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PutStamp(written_at {})", self.written_at)
    }
}

/// 32 secret bytes that stand for both keys of a mailbox whose every holder writes and
/// reads it ([`MailboxKeys::shared`]): an inbox, a pairing invitation or reply, a history
/// transfer. Whoever is given the seed may use the mailbox.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MailboxSeed([u8; 32]);

impl MailboxSeed {
    /// A seed as kept in storage or carried in an invitation.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh, unguessable seed.
    pub fn random(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The seed's bytes. Secret: whoever holds them may write to the mailbox and read it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The mailbox's keys, both secrets included ([`MailboxKeys::shared`]).
    pub fn keys(&self) -> MailboxKeys {
        MailboxKeys::shared(&self.0)
    }

    /// The mailbox the seed stands for; derives its keys on each call (a scalar
    /// multiplication).
    pub fn address(&self) -> MailboxAddress {
        self.keys().address()
    }
}

impl fmt::Debug for MailboxSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MailboxSeed(redacted)")
    }
}

/// A mailbox's public keys and whichever of their secrets this device holds.
#[derive(Clone, PartialEq, Eq)]
pub struct MailboxKeys {
    public: MailboxPublicKeys,
    /// `W`'s Ed25519 secret key.
    write: Option<Secret<32>>,
    /// `R`'s Ed25519 secret key.
    read: Option<Secret<32>>,
}

/// The Ed25519 secret key a mailbox seed stands for.
fn key_from_seed(seed: &[u8; 32]) -> Secret<32> {
    let mut key = [0u8; 32];
    // Infallible: 32 bytes are far under HKDF-SHA256's 8 160-byte limit.
    let _ = Hkdf::<Sha256>::new(None, seed).expand(KEY_INFO, &mut key);
    Secret::from_bytes(key)
}

/// `secret`'s Ed25519 signature of `message`, with `public` taken as its public key rather
/// than derived again: that derivation is a scalar multiplication, as costly as the
/// signature itself. `None` when `public` is no point (storage that was not ours).
///
/// Signing under a public key that does not match the secret is safe here only because
/// every message signed names its mailbox, whose address hashes the writer and reader
/// keys: two different public keys never sign the same message with the same nonce, which
/// is what would reveal the secret.
fn sign_as(secret: &Secret<32>, public: &[u8; 32], message: &[u8]) -> Option<[u8; 64]> {
    let public = VerifyingKey::from_bytes(public).ok()?;
    let expanded = ExpandedSecretKey::from(secret.expose());
    Some(raw_sign::<Sha512>(&expanded, message, &public).to_bytes())
}

fn public_of(secret: &Secret<32>) -> [u8; 32] {
    SigningKey::from_bytes(secret.expose())
        .verifying_key()
        .to_bytes()
}

impl MailboxKeys {
    /// A mailbox whose every holder both writes and reads: one 32-byte seed stands for both
    /// keys (a pairing invitation, a pairing reply, a history transfer).
    pub fn shared(seed: &[u8; 32]) -> Self {
        let key = key_from_seed(seed);
        let public = public_of(&key);
        Self {
            public: MailboxPublicKeys {
                writer: public,
                reader: public,
            },
            write: Some(key.clone()),
            read: Some(key),
        }
    }

    /// A mailbox this device writes to but does not read (a contact's inbox).
    pub fn writer(write_seed: &[u8; 32], reader: [u8; 32]) -> Self {
        let key = key_from_seed(write_seed);
        Self {
            public: MailboxPublicKeys {
                writer: public_of(&key),
                reader,
            },
            write: Some(key),
            read: None,
        }
    }

    /// A mailbox this device both writes to and reads, with two seeds (its own inbox).
    pub fn owner(write_seed: &[u8; 32], read_seed: &[u8; 32]) -> Self {
        let read = key_from_seed(read_seed);
        let mut keys = Self::writer(write_seed, public_of(&read));
        keys.read = Some(read);
        keys
    }

    /// A mailbox written under an Ed25519 key held as is (a persona's profile, written by
    /// its identity key), read with `read_seed`.
    pub fn signed_by(writer: &SigningKey, read_seed: &[u8; 32]) -> Self {
        let read = key_from_seed(read_seed);
        Self {
            public: MailboxPublicKeys {
                writer: writer.verifying_key().to_bytes(),
                reader: public_of(&read),
            },
            write: Some(Secret::from_bytes(writer.to_bytes())),
            read: Some(read),
        }
    }

    /// A mailbox this device reads but does not write to (another persona's profile).
    pub fn reader(writer: [u8; 32], read_seed: &[u8; 32]) -> Self {
        let read = key_from_seed(read_seed);
        Self {
            public: MailboxPublicKeys {
                writer,
                reader: public_of(&read),
            },
            write: None,
            read: Some(read),
        }
    }

    /// Only the public keys: enough to name the mailbox and check what others signed.
    pub fn public_only(public: MailboxPublicKeys) -> Self {
        Self {
            public,
            write: None,
            read: None,
        }
    }

    /// The public key a seed stands for, as [`MailboxKeys::reader`] would derive it: what
    /// a roster publishes so that others can name a mailbox they may not read.
    pub fn public_key_of_seed(seed: &[u8; 32]) -> [u8; 32] {
        public_of(&key_from_seed(seed))
    }

    /// The two public keys: they name the mailbox, and every request carries them.
    pub fn public(&self) -> &MailboxPublicKeys {
        &self.public
    }

    /// The mailbox the keys name.
    pub fn address(&self) -> MailboxAddress {
        self.public.address()
    }

    /// Whether this device holds the reader's secret, so it can fetch the mailbox.
    pub fn can_read(&self) -> bool {
        self.read.is_some()
    }

    /// The stamp that lets the envelope `id` into this mailbox, written at `written_at`.
    pub fn stamp(&self, id: &EnvelopeId, written_at: u64) -> Result<PutStamp, KeysError> {
        let write = self.write.as_ref().ok_or(KeysError::CannotWrite)?;
        let message = put_message(&self.public.address(), id, written_at);
        let signature =
            sign_as(write, &self.public.writer, &message).ok_or(KeysError::CannotWrite)?;
        Ok(PutStamp {
            written_at,
            signature,
        })
    }

    /// The signature that lets the node whose peer id is `node` answer a fetch of this
    /// mailbox, issued at `issued_at` (seconds).
    pub fn authorize_fetch(&self, node: &[u8], issued_at: u64) -> Result<[u8; 64], KeysError> {
        let read = self.read.as_ref().ok_or(KeysError::CannotRead)?;
        let message = fetch_message(&self.public.address(), node, issued_at);
        sign_as(read, &self.public.reader, &message).ok_or(KeysError::CannotRead)
    }

    /// The public keys, then each secret key or 32 zero bytes where this device holds none:
    /// how an outbox or a snapshot keeps the keys of a mailbox it still has to use.
    pub fn write(&self, w: &mut Writer) {
        self.public.write(w);
        for secret in [&self.write, &self.read] {
            w.put_bytes(secret.as_ref().map_or(&[0; 32], |secret| secret.expose()));
        }
    }

    /// Reads what [`MailboxKeys::write`] wrote. The secrets are taken as they are: they come
    /// from this device's own encrypted storage, and checking each against its public key
    /// would cost a scalar multiplication per mailbox at every start.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let public = MailboxPublicKeys::read(r)?;
        let mut secret = || -> Result<_, WireError> {
            let secret = r.secret("mailbox_key")?;
            Ok((secret.expose() != &[0; 32]).then_some(secret))
        };
        let write = secret()?;
        let read = secret()?;
        Ok(Self {
            public,
            write,
            read,
        })
    }
}

impl fmt::Debug for MailboxKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailboxKeys")
            .field("address", &self.address())
            .field("writes", &self.write.is_some())
            .field("reads", &self.read.is_some())
            .finish()
    }
}

fn put_message(mailbox: &MailboxAddress, id: &EnvelopeId, written_at: u64) -> Vec<u8> {
    [
        PUT_DOMAIN,
        mailbox.as_bytes(),
        id.as_bytes(),
        &written_at.to_be_bytes(),
    ]
    .concat()
}

fn fetch_message(mailbox: &MailboxAddress, node: &[u8], issued_at: u64) -> Vec<u8> {
    // The node's peer id is the one field of varying length; its length comes first.
    let node_len = u8::try_from(node.len()).unwrap_or(u8::MAX);
    [
        FETCH_DOMAIN,
        &[node_len],
        node,
        mailbox.as_bytes(),
        &issued_at.to_be_bytes(),
    ]
    .concat()
}

fn verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(key).is_ok_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

/// Whether `stamp` lets the envelope `id` into the mailbox `public` names.
pub fn verify_put(
    public: &MailboxPublicKeys,
    id: &EnvelopeId,
    stamp: &PutStamp,
) -> Result<(), KeysError> {
    let message = put_message(&public.address(), id, stamp.written_at);
    if verify(&public.writer, &message, &stamp.signature) {
        Ok(())
    } else {
        Err(KeysError::BadStamp)
    }
}

/// Which of `puts` carry a stamp that lets their envelope in, as [`verify_put`] would say of
/// each: one batch verification for all (about half the work of checking them one by one),
/// and one at a time only when the batch fails — someone sent a bad stamp. For nodes.
/// A writer key is decompressed once per group, however many of its puts the group holds.
#[cfg(not(target_arch = "wasm32"))]
pub fn verify_puts(puts: &[(&MailboxPublicKeys, &EnvelopeId, &PutStamp)]) -> Vec<bool> {
    let mut writers = std::collections::HashMap::new();
    let prepared: Option<Vec<(Vec<u8>, Signature, VerifyingKey)>> = puts
        .iter()
        .map(|(public, id, stamp)| {
            let key = (*writers
                .entry(public.writer)
                .or_insert_with(|| VerifyingKey::from_bytes(&public.writer).ok()))?;
            let message = put_message(&public.address(), id, stamp.written_at);
            Some((message, Signature::from_bytes(&stamp.signature), key))
        })
        .collect();
    if let Some(prepared) = prepared {
        let messages: Vec<&[u8]> = prepared.iter().map(|(m, _, _)| m.as_slice()).collect();
        let signatures: Vec<Signature> = prepared.iter().map(|(_, s, _)| *s).collect();
        let keys: Vec<VerifyingKey> = prepared.iter().map(|(_, _, k)| *k).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
            return vec![true; puts.len()];
        }
    }
    puts.iter()
        .map(|(public, id, stamp)| verify_put(public, id, stamp).is_ok())
        .collect()
}

/// Whether `authorization` lets the node `node` answer a fetch of the mailbox `public`
/// names, issued at `issued_at`.
pub fn verify_fetch(
    public: &MailboxPublicKeys,
    node: &[u8],
    issued_at: u64,
    authorization: &[u8; 64],
) -> Result<(), KeysError> {
    let message = fetch_message(&public.address(), node, issued_at);
    if node.len() <= usize::from(u8::MAX) && verify(&public.reader, &message, authorization) {
        Ok(())
    } else {
        Err(KeysError::BadAuthorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> EnvelopeId {
        EnvelopeId::from_bytes([byte; 32])
    }

    #[test]
    fn a_stamp_is_bound_to_its_mailbox_envelope_and_time() {
        let keys = MailboxKeys::shared(&[1; 32]);
        let stamp = keys.stamp(&id(1), 100).expect("writable");
        assert_eq!(verify_put(keys.public(), &id(1), &stamp), Ok(()));
        assert_eq!(
            verify_put(keys.public(), &id(2), &stamp),
            Err(KeysError::BadStamp)
        );
        let later = PutStamp {
            written_at: 101,
            ..stamp
        };
        assert_eq!(
            verify_put(keys.public(), &id(1), &later),
            Err(KeysError::BadStamp)
        );
        let other = MailboxKeys::shared(&[2; 32]);
        assert_eq!(
            verify_put(other.public(), &id(1), &stamp),
            Err(KeysError::BadStamp)
        );
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn a_batch_of_stamps_is_judged_as_each_would_be() {
        let keys = MailboxKeys::shared(&[1; 32]);
        let other = MailboxKeys::shared(&[2; 32]);
        let stamps: Vec<PutStamp> = (0..4u8)
            .map(|n| keys.stamp(&id(n), 100).expect("writable"))
            .collect();
        let ids: Vec<EnvelopeId> = (0..4u8).map(id).collect();
        let all: Vec<_> = ids
            .iter()
            .zip(&stamps)
            .map(|(id, stamp)| (keys.public(), id, stamp))
            .collect();
        assert_eq!(verify_puts(&all), vec![true; 4]);
        let mut mixed = all.clone();
        mixed[1].1 = &ids[2];
        mixed[3].0 = other.public();
        assert_eq!(verify_puts(&mixed), vec![true, false, true, false]);
        assert_eq!(verify_puts(&[]), Vec::<bool>::new());
    }

    #[test]
    fn a_writer_cannot_read_and_a_reader_cannot_write() {
        let owner = MailboxKeys::owner(&[3; 32], &[4; 32]);
        let contact = MailboxKeys::writer(&[3; 32], owner.public().reader);
        assert_eq!(contact.address(), owner.address());
        assert_eq!(
            contact.authorize_fetch(b"node", 5),
            Err(KeysError::CannotRead)
        );
        let stamp = contact.stamp(&id(7), 5).expect("a contact writes");
        assert_eq!(verify_put(owner.public(), &id(7), &stamp), Ok(()));

        let reader = MailboxKeys::reader(owner.public().writer, &[4; 32]);
        assert_eq!(reader.address(), owner.address());
        assert_eq!(reader.stamp(&id(7), 5), Err(KeysError::CannotWrite));
        let authorization = reader.authorize_fetch(b"node", 5).expect("readable");
        assert_eq!(
            verify_fetch(owner.public(), b"node", 5, &authorization),
            Ok(())
        );
    }

    #[test]
    fn a_fetch_authorization_works_at_one_node_for_one_mailbox_and_time() {
        let keys = MailboxKeys::shared(&[5; 32]);
        let authorization = keys.authorize_fetch(b"node a", 10).expect("readable");
        for (node, at, public) in [
            (&b"node b"[..], 10, *keys.public()),
            (b"node a", 11, *keys.public()),
            (b"node a", 10, *MailboxKeys::shared(&[6; 32]).public()),
        ] {
            assert_eq!(
                verify_fetch(&public, node, at, &authorization),
                Err(KeysError::BadAuthorization)
            );
        }
        // The writer's signature is no reader's.
        let owner = MailboxKeys::owner(&[7; 32], &[8; 32]);
        let forged = MailboxKeys::shared(&[7; 32])
            .authorize_fetch(b"node a", 10)
            .expect("readable");
        assert_eq!(
            verify_fetch(owner.public(), b"node a", 10, &forged),
            Err(KeysError::BadAuthorization)
        );
    }

    #[test]
    fn a_profile_is_written_by_the_identity_key_itself() {
        let identity = SigningKey::from_bytes(&[9; 32]);
        let keys = MailboxKeys::signed_by(&identity, &[10; 32]);
        assert_eq!(keys.public().writer, identity.verifying_key().to_bytes());
        let stamp = keys.stamp(&id(1), 1).expect("writable");
        assert_eq!(verify_put(keys.public(), &id(1), &stamp), Ok(()));
        let contact = MailboxKeys::reader(identity.verifying_key().to_bytes(), &[10; 32]);
        assert_eq!(contact.address(), keys.address());
    }

    #[test]
    fn keys_are_kept_and_read_back() {
        for keys in [
            MailboxKeys::shared(&[1; 32]),
            MailboxKeys::writer(&[2; 32], [3; 32]),
            MailboxKeys::reader([4; 32], &[5; 32]),
            MailboxKeys::public_only(*MailboxKeys::shared(&[6; 32]).public()),
        ] {
            let mut w = Writer::new();
            keys.write(&mut w);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            assert_eq!(MailboxKeys::read(&mut r), Ok(keys));
            assert_eq!(r.finish(), Ok(()));
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let keys = MailboxKeys::shared(&[0x5a; 32]);
        let shown = format!("{keys:?}");
        assert!(shown.contains("writes: true"));
        let secret = crate::encoding::hex(key_from_seed(&[0x5a; 32]).expose());
        assert!(!shown.contains(&secret));
    }
}
