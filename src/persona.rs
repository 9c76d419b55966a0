//! The persona: the identity a user carries across devices.
//!
//! A [`Persona`] holds the master secret (`root_key`) from which the persona identity key is
//! derived — so every device of the persona shows the same [`Fingerprint`] — the database
//! passphrase the vault keys come from, the prekey bundles contacts start sessions with, and
//! the conversations with their keys. Pairing transfers it whole; later parts of the crate
//! (vault, roster, messaging) extend it.
//!
//! ```
//! use phantom_sync::persona::Persona;
//! # let mut rng = phantom_sync::testing::SeededRng::new(1);
//!
//! let persona = Persona::create("Ada", 1_700_000_000, &mut rng)?;
//! let copy = Persona::decode(&persona.encode()?)?;
//! assert_eq!(copy.fingerprint(), persona.fingerprint());
//! # Ok::<(), phantom_sync::persona::PersonaError>(())
//! ```

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::mailbox::MailboxAddress;
use crate::secret::Secret;
use crate::wire::{Reader, WireError, Writer};

/// Version of the persona encoding (inside the sealed persona payload and, later, the vault).
pub const PERSONA_FORMAT_VERSION: u8 = 1;
const PERSONA_MAGIC: &[u8; 2] = b"PP";

pub const MAX_DISPLAY_NAME_LEN: usize = 64;
pub const MAX_TITLE_LEN: usize = 128;
pub const MAX_PREKEY_BUNDLES: usize = 16;
pub const MAX_ONE_TIME_PREKEYS: usize = 256;
pub const MAX_CONVERSATIONS: usize = 4096;
/// One-time prekeys a new persona starts with.
pub const INITIAL_ONE_TIME_PREKEYS: u32 = 20;

const IDENTITY_KEY_INFO: &[u8] = b"phantom-sync persona identity v1";
const FINGERPRINT_DOMAIN: &[u8] = b"phantom-sync fingerprint v1";

/// Why a persona could not be created or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PersonaError {
    #[error("malformed persona: {0}")]
    Wire(#[from] WireError),
    #[error("the display name is empty")]
    EmptyDisplayName,
}

impl PersonaError {
    pub fn code(&self) -> &'static str {
        match self {
            PersonaError::Wire(inner) => inner.code(),
            PersonaError::EmptyDisplayName => "empty_display_name",
        }
    }
}

/// A persona with every secret a linked device needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Persona {
    pub display_name: String,
    pub created_at: u64,
    pub root_key: Secret<32>,
    pub database_passphrase: Secret<32>,
    pub prekey_bundles: Vec<PrekeyBundle>,
    pub conversations: Vec<Conversation>,
}

/// A signed prekey and a batch of one-time prekeys, published so contacts can open sessions.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PrekeyBundle {
    pub bundle_id: u32,
    pub created_at: u64,
    pub signed_prekey: Prekey,
    pub one_time_prekeys: Vec<Prekey>,
}

/// An X25519 prekey; only its secret half is stored, the public half is derived.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Prekey {
    pub id: u32,
    pub secret: Secret<32>,
}

/// A conversation's metadata and the key that protects it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Conversation {
    pub id: [u8; 16],
    pub title: String,
    pub peer_mailbox: MailboxAddress,
    pub conversation_key: Secret<32>,
    pub last_activity: u64,
}

/// The short, human-comparable digest of a persona's identity key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 20]);

impl Persona {
    /// A brand-new persona with fresh secrets and one prekey bundle.
    pub fn create(
        display_name: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, PersonaError> {
        let display_name = display_name.trim();
        if display_name.is_empty() {
            return Err(PersonaError::EmptyDisplayName);
        }
        if display_name.len() > MAX_DISPLAY_NAME_LEN {
            return Err(WireError::FieldTooLong {
                field: "display_name",
                len: display_name.len(),
                max: MAX_DISPLAY_NAME_LEN,
            }
            .into());
        }
        let signed_prekey = Prekey {
            id: 0,
            secret: Secret::generate(rng),
        };
        let one_time_prekeys = (1..=INITIAL_ONE_TIME_PREKEYS)
            .map(|id| Prekey {
                id,
                secret: Secret::generate(rng),
            })
            .collect();
        Ok(Self {
            display_name: display_name.to_owned(),
            created_at: now,
            root_key: Secret::generate(rng),
            database_passphrase: Secret::generate(rng),
            prekey_bundles: vec![PrekeyBundle {
                bundle_id: 0,
                created_at: now,
                signed_prekey,
                one_time_prekeys,
            }],
            conversations: Vec::new(),
        })
    }

    /// The persona identity signing key, derived from the root key (HKDF-SHA256).
    pub fn identity_key(&self) -> SigningKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, self.root_key.expose())
            .expand(IDENTITY_KEY_INFO, seed.as_mut())
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
        SigningKey::from_bytes(&seed)
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.identity_key().verifying_key())
    }

    /// Encodes the persona; the result holds secrets and is zeroized on drop.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, PersonaError> {
        let mut w = Writer::new();
        w.put_bytes(PERSONA_MAGIC);
        w.put_u8(PERSONA_FORMAT_VERSION);
        w.put_string("display_name", &self.display_name, MAX_DISPLAY_NAME_LEN)?;
        w.put_u64(self.created_at);
        w.put_bytes(self.root_key.expose());
        w.put_bytes(self.database_passphrase.expose());
        w.put_count(
            "prekey_bundles",
            self.prekey_bundles.len(),
            MAX_PREKEY_BUNDLES,
        )?;
        for bundle in &self.prekey_bundles {
            w.put_u32(bundle.bundle_id);
            w.put_u64(bundle.created_at);
            put_prekey(&mut w, &bundle.signed_prekey);
            w.put_count(
                "one_time_prekeys",
                bundle.one_time_prekeys.len(),
                MAX_ONE_TIME_PREKEYS,
            )?;
            for prekey in &bundle.one_time_prekeys {
                put_prekey(&mut w, prekey);
            }
        }
        w.put_count("conversations", self.conversations.len(), MAX_CONVERSATIONS)?;
        for conversation in &self.conversations {
            w.put_bytes(&conversation.id);
            w.put_string("title", &conversation.title, MAX_TITLE_LEN)?;
            w.put_bytes(conversation.peer_mailbox.as_bytes());
            w.put_bytes(conversation.conversation_key.expose());
            w.put_u64(conversation.last_activity);
        }
        Ok(Zeroizing::new(w.into_bytes()))
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, PersonaError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(PERSONA_MAGIC, PERSONA_FORMAT_VERSION)?;
        let display_name = r.string("display_name", MAX_DISPLAY_NAME_LEN)?;
        let created_at = r.u64("created_at")?;
        let root_key = read_secret(&mut r, "root_key")?;
        let database_passphrase = read_secret(&mut r, "database_passphrase")?;
        // The smallest bundle: id, time, signed prekey, empty one-time list.
        let bundle_count = r.count("prekey_bundles", MAX_PREKEY_BUNDLES, 4 + 8 + 36 + 4)?;
        let mut prekey_bundles = Vec::with_capacity(bundle_count);
        for _ in 0..bundle_count {
            let bundle_id = r.u32("bundle_id")?;
            let bundle_created_at = r.u64("bundle_created_at")?;
            let signed_prekey = read_prekey(&mut r)?;
            let prekey_count = r.count("one_time_prekeys", MAX_ONE_TIME_PREKEYS, 36)?;
            let one_time_prekeys = (0..prekey_count)
                .map(|_| read_prekey(&mut r))
                .collect::<Result<_, _>>()?;
            prekey_bundles.push(PrekeyBundle {
                bundle_id,
                created_at: bundle_created_at,
                signed_prekey,
                one_time_prekeys,
            });
        }
        let conversation_count =
            r.count("conversations", MAX_CONVERSATIONS, 16 + 4 + 32 + 32 + 8)?;
        let mut conversations = Vec::with_capacity(conversation_count);
        for _ in 0..conversation_count {
            conversations.push(Conversation {
                id: r.array("conversation_id")?,
                title: r.string("title", MAX_TITLE_LEN)?,
                peer_mailbox: MailboxAddress::from_bytes(r.array("peer_mailbox")?),
                conversation_key: read_secret(&mut r, "conversation_key")?,
                last_activity: r.u64("last_activity")?,
            });
        }
        r.finish()?;
        if display_name.trim().is_empty() {
            return Err(PersonaError::EmptyDisplayName);
        }
        Ok(Self {
            display_name,
            created_at,
            root_key,
            database_passphrase,
            prekey_bundles,
            conversations,
        })
    }
}

impl fmt::Debug for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Persona")
            .field("display_name", &self.display_name)
            .field("fingerprint", &self.fingerprint())
            .field("created_at", &self.created_at)
            .field("root_key", &self.root_key)
            .field("database_passphrase", &self.database_passphrase)
            .field("prekey_bundles", &self.prekey_bundles.len())
            .field("conversations", &self.conversations.len())
            .finish()
    }
}

impl Prekey {
    pub fn public_key(&self) -> [u8; 32] {
        let secret = x25519_dalek::StaticSecret::from(*self.secret.expose());
        x25519_dalek::PublicKey::from(&secret).to_bytes()
    }
}

impl Fingerprint {
    pub fn of(identity: &VerifyingKey) -> Self {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_DOMAIN)
            .chain_update(identity.as_bytes())
            .finalize();
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&digest[..20]);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

/// Ten groups of four hex digits, e.g. `3f2a 91c0 …`, for people to compare.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&data_encoding::HEXLOWER.encode(pair))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

fn put_prekey(w: &mut Writer, prekey: &Prekey) {
    w.put_u32(prekey.id);
    w.put_bytes(prekey.secret.expose());
}

fn read_prekey(r: &mut Reader<'_>) -> Result<Prekey, WireError> {
    Ok(Prekey {
        id: r.u32("prekey_id")?,
        secret: read_secret(r, "prekey_secret")?,
    })
}

fn read_secret(r: &mut Reader<'_>, field: &'static str) -> Result<Secret<32>, WireError> {
    let mut bytes = Zeroizing::new(r.array::<32>(field)?);
    Ok(Secret::from_bytes(core::mem::take(&mut *bytes)))
}
