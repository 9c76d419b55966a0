//! This device's Olm account and its pairwise sessions with other devices (vodozemac).
//!
//! Each device has its own account: an identity key, a signing key and a fallback key, all
//! on the roster. A first message to a device opens an outbound session on its fallback key
//! (a DHT has no server to hand out each one-time key exactly once); later messages use the
//! session that last carried a message between the two devices.
//!
//! ```
//! use phantom_core::messaging::sessions::{DeviceSessions, SessionError};
//! use phantom_core::persona::DeviceId;
//!
//! let mut alice = DeviceSessions::new();
//! let mut bob = DeviceSessions::new();
//! let laptop = DeviceId::from_bytes([2; 16]);
//! let bob_entry = bob.roster_device(laptop, "Bob's laptop", 1_700_000_000, [3; 32]);
//! let seal = alice.seal(&bob_entry, b"a content key")?;
//! let opened = bob.open(&alice.identity_key(), &seal, |key| Ok::<_, SessionError>(key.to_vec()))?;
//! assert_eq!(opened, b"a content key");
//! # Ok::<(), SessionError>(())
//! ```

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use thiserror::Error;
use vodozemac::olm::{Account, AccountPickle, OlmMessage, Session, SessionConfig, SessionPickle};
use vodozemac::Curve25519PublicKey;
use zeroize::Zeroizing;

use crate::roster::RosterDevice;
use crate::tagged::{self, TaggedError};
use crate::wire::{Reader, WireError, Writer};

/// Sessions kept per peer device: enough for both sides opening one at once, bounded.
const MAX_SESSIONS_PER_DEVICE: usize = 4;
const MAX_PEER_DEVICES: usize = 4096;
const MAX_PICKLE_LEN: usize = 64 * 1024;
/// The longest Olm message a seal may carry, in bytes; a longer one is malformed.
pub const MAX_OLM_MESSAGE_LEN: usize = 4096;

/// Why a key could not be sealed to a device or opened from one, or stored sessions read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// A device key is not a usable Curve25519 key.
    #[error("the device key is not a valid Curve25519 key")]
    InvalidKey,
    /// vodozemac could not open or use a session with the device (its reason), or this
    /// device already has sessions with as many peer devices as it keeps.
    #[error("no session could be opened with the device: {0}")]
    SessionCreation(String),
    /// No session with the sending device decrypts the seal (vodozemac's reason): a seal
    /// replayed, altered, or from a session this device no longer has.
    #[error("the sealed key does not decrypt: {0}")]
    Decryption(String),
    /// The seal's type and ciphertext are not an Olm message.
    #[error("malformed Olm message")]
    MalformedMessage,
    /// The stored account or sessions could not be written or read back (the JSON error).
    #[error("the stored sessions are unreadable: {0}")]
    Pickle(String),
    /// The stored sessions' framing is malformed or over its limits.
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl SessionError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::InvalidKey => "invalid_device_key",
            SessionError::SessionCreation(_) => "session_creation_failed",
            SessionError::Decryption(_) => "olm_decryption_failed",
            SessionError::MalformedMessage => "malformed_olm_message",
            SessionError::Pickle(_) => "sessions_unreadable",
            SessionError::Wire(inner) => inner.code(),
        }
    }
}

/// An Olm message for one device: its type (0 pre-key, 1 normal) and ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The recipient device's Olm identity key.
    pub recipient: [u8; 32],
    /// 0 for a pre-key message, which opens a session; 1 for a message on an open one.
    pub message_type: u8,
    /// The Olm ciphertext, at most [`MAX_OLM_MESSAGE_LEN`] bytes.
    pub ciphertext: Vec<u8>,
}

/// This device's Olm account and its sessions with other devices, by their identity key.
pub struct DeviceSessions {
    account: Account,
    /// Per peer identity key, most recently used last.
    sessions: HashMap<[u8; 32], Vec<Session>>,
}

impl Default for DeviceSessions {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for DeviceSessions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceSessions")
            .field("identity_key", &crate::encoding::hex(&self.identity_key()))
            .field("peers", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl DeviceSessions {
    /// A fresh account with its fallback key. The key stays "unpublished" in vodozemac's
    /// terms, which is how the account keeps reporting it for the roster.
    pub fn new() -> Self {
        let mut account = Account::new();
        account.generate_fallback_key();
        Self {
            account,
            sessions: HashMap::new(),
        }
    }

    /// The account's Olm identity key (Curve25519): the key other devices know it by.
    pub fn identity_key(&self) -> [u8; 32] {
        self.account.curve25519_key().to_bytes()
    }

    /// The account's Olm signing key (Ed25519).
    pub fn signing_key(&self) -> [u8; 32] {
        *self.account.ed25519_key().as_bytes()
    }

    /// The account's fallback key (Curve25519), on which other devices open their first
    /// session with this one.
    pub fn fallback_key(&self) -> [u8; 32] {
        self.account
            .fallback_key()
            .values()
            .next()
            .map(|key| key.to_bytes())
            .unwrap_or_default()
    }

    /// This device as the roster lists it, with the key senders seal their name to.
    pub fn roster_device(
        &self,
        device_id: crate::persona::DeviceId,
        name: &str,
        added_at: u64,
        sealing_key: [u8; 32],
    ) -> RosterDevice {
        RosterDevice {
            device_id,
            name: name.to_owned(),
            added_at,
            identity_key: self.identity_key(),
            signing_key: self.signing_key(),
            fallback_key: self.fallback_key(),
            sealing_key: Some(sealing_key),
        }
    }

    /// Encrypts `plaintext` for `device`, opening a session on its fallback key if none is open.
    pub fn seal(&mut self, device: &RosterDevice, plaintext: &[u8]) -> Result<Seal, SessionError> {
        let sessions = self.sessions.entry(device.identity_key).or_default();
        if sessions.is_empty() {
            let session = self
                .account
                .create_outbound_session(
                    SessionConfig::version_1(),
                    Curve25519PublicKey::from_bytes(device.identity_key),
                    Curve25519PublicKey::from_bytes(device.fallback_key),
                )
                .map_err(|e| SessionError::SessionCreation(e.to_string()))?;
            sessions.push(session);
        }
        let session = sessions.last_mut().ok_or(SessionError::InvalidKey)?;
        let (message_type, ciphertext) = session
            .encrypt(plaintext)
            .map_err(|e| SessionError::SessionCreation(e.to_string()))?
            .to_parts();
        Ok(Seal {
            recipient: device.identity_key,
            message_type: u8::try_from(message_type).map_err(|_| SessionError::MalformedMessage)?,
            ciphertext,
        })
    }

    /// Decrypts a seal from the device with identity key `sender` and hands the plaintext
    /// to `accept`, which opens what the seal is for. The session moves on only if `accept`
    /// succeeds: a node that alters a message beyond its seal must not use up the message
    /// key the genuine copy needs.
    pub fn open<T, E: From<SessionError>>(
        &mut self,
        sender: &[u8; 32],
        seal: &Seal,
        accept: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<T, E> {
        let message = OlmMessage::from_parts(seal.message_type.into(), &seal.ciphertext)
            .map_err(|_| SessionError::MalformedMessage)?;
        if !self.sessions.contains_key(sender) && self.sessions.len() >= MAX_PEER_DEVICES {
            return Err(SessionError::SessionCreation("too many peer devices".into()).into());
        }
        let known = self
            .sessions
            .get(sender)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let candidates: Vec<usize> = match &message {
            OlmMessage::PreKey(pre_key) => known
                .iter()
                .position(|s| s.session_id() == pre_key.session_id())
                .into_iter()
                .collect(),
            OlmMessage::Normal(_) => (0..known.len()).rev().collect(),
        };
        // Each session is tried on a copy, kept only once `accept` took the plaintext.
        let mut last_error = String::from("no session with this device");
        for index in candidates.iter().copied() {
            let Some(session) = known.get(index) else {
                continue;
            };
            let mut trial = Session::from_pickle(session.pickle());
            match trial.decrypt(&message) {
                Ok(plaintext) => {
                    let accepted = accept(&Zeroizing::new(plaintext))?;
                    let sessions = self.sessions.entry(*sender).or_default();
                    sessions.remove(index);
                    sessions.push(trial);
                    return Ok(accepted);
                }
                Err(error) => last_error = error.to_string(),
            }
        }
        let OlmMessage::PreKey(pre_key) = &message else {
            return Err(SessionError::Decryption(last_error).into());
        };
        if !candidates.is_empty() {
            return Err(SessionError::Decryption(last_error).into());
        }
        let created = self
            .account
            .create_inbound_session(
                SessionConfig::version_1(),
                Curve25519PublicKey::from_bytes(*sender),
                pre_key,
            )
            .map_err(|e| SessionError::Decryption(e.to_string()))?;
        let accepted = accept(&Zeroizing::new(created.plaintext))?;
        let sessions = self.sessions.entry(*sender).or_default();
        sessions.push(created.session);
        if sessions.len() > MAX_SESSIONS_PER_DEVICE {
            sessions.remove(0);
        }
        Ok(accepted)
    }

    /// Drops every session with a device (revoked, or gone from its persona's roster).
    pub fn forget(&mut self, identity_key: &[u8; 32]) {
        self.sessions.remove(identity_key);
    }

    /// The account and sessions, for the vault; secret, zeroized on drop.
    pub fn pickle(&self) -> Result<Zeroizing<Vec<u8>>, SessionError> {
        let unwritable = |e: TaggedError| SessionError::Pickle(e.to_string());
        let mut w = Writer::new();
        let account = Zeroizing::new(tagged::to_vec(&self.account.pickle()).map_err(unwritable)?);
        w.put_var_bytes("account", &account, MAX_PICKLE_LEN)?;
        w.put_count("peers", self.sessions.len(), MAX_PEER_DEVICES)?;
        for (peer, sessions) in &self.sessions {
            w.put_bytes(peer);
            w.put_count("sessions", sessions.len(), MAX_SESSIONS_PER_DEVICE)?;
            for session in sessions {
                let session =
                    Zeroizing::new(tagged::to_vec(&session.pickle()).map_err(unwritable)?);
                w.put_var_bytes("session", &session, MAX_PICKLE_LEN)?;
            }
        }
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// The account and sessions again, from what [`DeviceSessions::pickle`] wrote, or from
    /// the JSON pickles of releases before December 2026 (converted as they are read; the
    /// next save writes them tagged).
    pub fn from_pickle(bytes: &[u8]) -> Result<Self, SessionError> {
        let mut r = Reader::new(bytes);
        let account: AccountPickle = read_pickle(r.var_bytes("account", MAX_PICKLE_LEN)?)?;
        let peers = r.count("peers", MAX_PEER_DEVICES, 32 + 4)?;
        let mut sessions = HashMap::with_capacity(peers);
        for _ in 0..peers {
            let peer: [u8; 32] = r.array("peer")?;
            let count = r.count("sessions", MAX_SESSIONS_PER_DEVICE, 4)?;
            let mut list = Vec::with_capacity(count);
            for _ in 0..count {
                let pickle: SessionPickle = read_pickle(r.var_bytes("session", MAX_PICKLE_LEN)?)?;
                list.push(Session::from_pickle(pickle));
            }
            sessions.insert(peer, list);
        }
        r.finish()?;
        Ok(Self {
            account: Account::from_pickle(account),
            sessions,
        })
    }
}

/// One pickle, tagged or (from before December 2026) JSON, which starts with `{`.
fn read_pickle<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SessionError> {
    let unreadable = |e: TaggedError| SessionError::Pickle(e.to_string());
    match bytes.first() {
        Some(b'{') => tagged::from_slice(&tagged::from_json(bytes).map_err(unreadable)?),
        _ => tagged::from_slice(bytes),
    }
    .map_err(unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(key: &[u8]) -> Result<Vec<u8>, SessionError> {
        Ok(key.to_vec())
    }

    fn entry(sessions: &DeviceSessions, n: u8) -> RosterDevice {
        sessions.roster_device(
            crate::persona::DeviceId::from_bytes([n; 16]),
            "device",
            0,
            [n; 32],
        )
    }

    #[test]
    fn a_conversation_survives_pickling_both_sides() {
        let mut alice = DeviceSessions::new();
        let mut bob = DeviceSessions::new();
        let first = alice.seal(&entry(&bob, 2), b"one").expect("sealed");
        assert_eq!(first.message_type, 0, "a pre-key message opens the session");
        assert_eq!(
            bob.open(&alice.identity_key(), &first, plain)
                .expect("opened")
                .as_slice(),
            b"one"
        );
        let mut alice =
            DeviceSessions::from_pickle(&alice.pickle().expect("pickled")).expect("restored");
        let mut bob =
            DeviceSessions::from_pickle(&bob.pickle().expect("pickled")).expect("restored");
        let reply = bob.seal(&entry(&alice, 1), b"two").expect("sealed");
        assert_eq!(
            reply.message_type, 1,
            "the inbound session carries the reply"
        );
        assert_eq!(
            alice
                .open(&bob.identity_key(), &reply, plain)
                .expect("opened")
                .as_slice(),
            b"two"
        );
        let third = alice.seal(&entry(&bob, 2), b"three").expect("sealed");
        assert_eq!(third.message_type, 1);
        assert_eq!(
            bob.open(&alice.identity_key(), &third, plain)
                .expect("opened")
                .as_slice(),
            b"three"
        );
    }

    /// Vaults of earlier releases hold the account and sessions as JSON: they still open,
    /// go on with the same sessions, and are written tagged (and smaller) from then on.
    #[test]
    fn sessions_pickled_as_json_before_still_open() {
        let mut alice = DeviceSessions::new();
        let mut bob = DeviceSessions::new();
        let first = alice.seal(&entry(&bob, 2), b"one").expect("sealed");
        bob.open(&alice.identity_key(), &first, plain)
            .expect("opened");
        let json = |value: &dyn erased::Pickle| value.json();
        let mut old = Writer::new();
        let account = json(&bob.account.pickle());
        old.put_var_bytes("account", &account, MAX_PICKLE_LEN)
            .expect("fits");
        old.put_count("peers", 1, MAX_PEER_DEVICES).expect("one");
        let (peer, sessions) = bob.sessions.iter().next().expect("a session with Alice");
        old.put_bytes(peer);
        old.put_count("sessions", 1, MAX_SESSIONS_PER_DEVICE)
            .expect("one");
        let session = json(&sessions.first().expect("one").pickle());
        old.put_var_bytes("session", &session, MAX_PICKLE_LEN)
            .expect("fits");
        let old = old.into_bytes();

        let mut restored = DeviceSessions::from_pickle(&old).expect("read from JSON");
        assert_eq!(restored.identity_key(), bob.identity_key());
        let reply = restored.seal(&entry(&alice, 1), b"two").expect("sealed");
        assert_eq!(reply.message_type, 1, "the same session goes on");
        assert_eq!(
            alice
                .open(&restored.identity_key(), &reply, plain)
                .expect("opened")
                .as_slice(),
            b"two"
        );
        let tagged = restored.pickle().expect("pickled");
        assert!(tagged.len() < old.len(), "{} < {}", tagged.len(), old.len());
        let again = DeviceSessions::from_pickle(&tagged).expect("read tagged");
        assert_eq!(again.identity_key(), bob.identity_key());
    }

    mod erased {
        pub trait Pickle {
            fn json(&self) -> Vec<u8>;
        }

        impl<T: serde::Serialize> Pickle for T {
            fn json(&self) -> Vec<u8> {
                serde_json::to_vec(self).expect("JSON")
            }
        }
    }

    #[test]
    fn a_replayed_or_altered_seal_does_not_open() {
        let mut alice = DeviceSessions::new();
        let mut bob = DeviceSessions::new();
        let bob_entry = entry(&bob, 2);
        alice.seal(&bob_entry, b"one").expect("sealed");
        let first = alice.seal(&bob_entry, b"two").expect("sealed");
        bob.open(&alice.identity_key(), &first, plain)
            .expect("opened");
        let reply = bob.seal(&entry(&alice, 1), b"ack").expect("sealed");
        alice
            .open(&bob.identity_key(), &reply, plain)
            .expect("opened");
        let normal = alice.seal(&bob_entry, b"three").expect("sealed");
        bob.open(&alice.identity_key(), &normal, plain)
            .expect("opened");
        assert_eq!(
            bob.open(&alice.identity_key(), &normal, plain)
                .map_err(|e| e.code()),
            Err("olm_decryption_failed"),
            "a message key is used once"
        );
        let mut altered = alice.seal(&bob_entry, b"four").expect("sealed");
        if let Some(byte) = altered.ciphertext.get_mut(10) {
            *byte ^= 1;
        }
        assert!(bob.open(&alice.identity_key(), &altered, plain).is_err());
        assert_eq!(
            DeviceSessions::from_pickle(b"\0\0")
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("truncated")
        );
    }

    #[test]
    fn a_seal_whose_message_is_refused_leaves_its_key_for_the_genuine_copy() {
        let mut alice = DeviceSessions::new();
        let mut bob = DeviceSessions::new();
        let bob_entry = entry(&bob, 2);
        let refuse = |_: &[u8]| Err::<(), _>(SessionError::MalformedMessage);
        let pre_key = alice.seal(&bob_entry, b"one").expect("sealed");
        assert!(bob.open(&alice.identity_key(), &pre_key, refuse).is_err());
        assert_eq!(
            bob.open(&alice.identity_key(), &pre_key, plain)
                .expect("the session is created by the genuine copy"),
            b"one"
        );
        let reply = bob.seal(&entry(&alice, 1), b"ack").expect("sealed");
        alice
            .open(&bob.identity_key(), &reply, plain)
            .expect("opened");
        let normal = alice.seal(&bob_entry, b"two").expect("sealed");
        assert!(bob.open(&alice.identity_key(), &normal, refuse).is_err());
        assert_eq!(
            bob.open(&alice.identity_key(), &normal, plain)
                .expect("the message key is still there"),
            b"two"
        );
    }
}
