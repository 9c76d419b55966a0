//! The persona: the identity a user carries across devices, and what belongs to it.
//!
//! A [`Persona`] holds the persona identity key — so every device of the persona shows the
//! same [`Fingerprint`] — the database passphrase, the [prekey bundles](prekeys) contacts
//! start sessions with, the [contacts](contact) and the [conversations](conversation) with
//! their keys. Pairing transfers it, all but the *authority*: the root key the identity's
//! signing key derives from stays on the device that created the persona, so only that
//! device signs rosters (adds and removes devices); its [recovery code](recovery) moves the
//! authority to another device. Each device also has its own [device keys](device);
//! [messages](message) and mailbox [sync cursors](cursor) live beside the persona in the vault.
//!
//! ```
//! use phantom_core::persona::Persona;
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let persona = Persona::create("Ada", 1_700_000_000, &mut rng)?;
//! let copy = Persona::decode(&persona.encode()?)?;
//! assert_eq!(copy.fingerprint(), persona.fingerprint());
//! let linked = Persona::decode(&persona.for_linked_device().encode()?)?;
//! assert_eq!(linked.fingerprint(), persona.fingerprint());
//! assert!(persona.authority_key().is_some() && linked.authority_key().is_none());
//! # Ok::<(), phantom_core::persona::PersonaError>(())
//! ```

pub mod contact;
pub mod conversation;
pub mod cursor;
pub mod device;
pub mod message;
pub mod prekeys;
pub mod recovery;

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

pub use contact::{Contact, ContactId};
pub use conversation::{Conversation, ConversationId};
pub use cursor::SyncCursor;
pub use device::{DeviceId, DeviceKeys};
pub use message::{Message, MessageId, Sender};
pub use prekeys::{Prekey, PrekeyBundle};
pub use recovery::{RecoveryCode, RecoveryError};

use crate::secret::Secret;
use crate::wire::{Reader, WireError, Writer};

/// Version of the persona encoding (inside the sealed persona payload and the vault).
/// Version 2 names the persona key and carries the root key only on the device holding
/// the authority; version 1 (every device held the root key) still decodes.
pub const PERSONA_FORMAT_VERSION: u8 = 2;
const PERSONA_FORMAT_WITH_ROOT_KEY: u8 = 1;
const PERSONA_MAGIC: &[u8; 2] = b"PP";

/// The longest display name, in bytes of UTF-8 (after trimming white space).
pub const MAX_DISPLAY_NAME_LEN: usize = 64;
/// The most prekey bundles a persona encoding carries; more is refused.
pub const MAX_PREKEY_BUNDLES: usize = 16;
/// The most contacts a persona encoding carries; more is refused.
pub const MAX_CONTACTS: usize = 4096;
/// The most conversations a persona encoding carries; more is refused.
pub const MAX_CONVERSATIONS: usize = 4096;
/// One-time prekeys a new persona starts with.
pub const INITIAL_ONE_TIME_PREKEYS: u32 = 20;

const IDENTITY_KEY_INFO: &[u8] = b"phantom-sync persona identity v1";
const FINGERPRINT_DOMAIN: &[u8] = b"phantom-sync fingerprint v1";

/// Why a persona could not be created or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PersonaError {
    /// The encoding is malformed, or a value does not fit it: a display name that is too
    /// long or holds control or direction-changing characters, too many list entries, a
    /// root key that does not give the persona key.
    #[error("malformed persona: {0}")]
    Wire(#[from] WireError),
    /// The display name is empty once white space is trimmed.
    #[error("the display name is empty")]
    EmptyDisplayName,
    /// The recovery code's root key does not give this persona's key: it is another
    /// persona's ([`Persona::take_authority`]).
    #[error("this recovery code belongs to another persona")]
    RecoveryCodeOfAnotherPersona,
}

impl PersonaError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            PersonaError::Wire(inner) => inner.code(),
            PersonaError::EmptyDisplayName => "empty_display_name",
            PersonaError::RecoveryCodeOfAnotherPersona => "recovery_code_of_another_persona",
        }
    }
}

/// A persona with every secret a linked device needs, and the authority on the device
/// that holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Persona {
    /// The name the persona shows, trimmed, not empty and at most
    /// [`MAX_DISPLAY_NAME_LEN`] bytes.
    pub display_name: String,
    /// When the persona was created, in seconds since the Unix epoch.
    pub created_at: u64,
    /// The persona identity key (Ed25519, public): rosters are signed by it.
    pub persona_key: [u8; 32],
    /// The root key the identity's signing key derives from: only on the device that may
    /// sign rosters.
    pub authority: Option<Secret<32>>,
    /// A secret every device of the persona receives with it. No vault is keyed by it:
    /// each device keys its own with a passphrase of its own ([`crate::vault::Vault::import`]).
    pub database_passphrase: Secret<32>,
    /// The persona's prekey bundles, at most [`MAX_PREKEY_BUNDLES`].
    pub prekey_bundles: Vec<PrekeyBundle>,
    /// The other personas this one talks to, at most [`MAX_CONTACTS`].
    pub contacts: Vec<Contact>,
    /// The persona's conversations, at most [`MAX_CONVERSATIONS`].
    pub conversations: Vec<Conversation>,
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
        let display_name = checked_display_name(display_name)?;
        let root_key = Secret::generate(rng);
        Ok(Self {
            display_name,
            created_at: now,
            persona_key: identity_from_root(&root_key).verifying_key().to_bytes(),
            authority: Some(root_key),
            database_passphrase: Secret::generate(rng),
            prekey_bundles: vec![PrekeyBundle::generate(
                0,
                INITIAL_ONE_TIME_PREKEYS,
                now,
                rng,
            )],
            contacts: Vec::new(),
            conversations: Vec::new(),
        })
    }

    /// The persona identity signing key, on the device that holds the authority.
    pub fn authority_key(&self) -> Option<SigningKey> {
        self.authority.as_ref().map(identity_from_root)
    }

    /// The authority as 24 words, on the device that holds it.
    pub fn recovery_code(&self) -> Option<RecoveryCode> {
        self.authority.clone().map(RecoveryCode::new)
    }

    /// Takes the authority from a recovery code, if it is this persona's.
    pub fn take_authority(&mut self, code: &RecoveryCode) -> Result<(), PersonaError> {
        let identity = identity_from_root(code.root_key());
        if identity.verifying_key().to_bytes() != self.persona_key {
            return Err(PersonaError::RecoveryCodeOfAnotherPersona);
        }
        self.authority = Some(code.root_key().clone());
        Ok(())
    }

    /// The persona as a newly linked device receives it: everything but the authority.
    pub fn for_linked_device(&self) -> Persona {
        Persona {
            authority: None,
            ..self.clone()
        }
    }

    /// The fingerprint of the persona key: the same on every device of the persona.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::from_key(&self.persona_key)
    }

    /// The same persona without contacts and conversations (the vault stores those apart).
    pub fn core(&self) -> Persona {
        Persona {
            contacts: Vec::new(),
            conversations: Vec::new(),
            ..self.clone()
        }
    }

    /// Encodes the persona; the result holds secrets and is zeroized on drop.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, PersonaError> {
        let mut w = Writer::new();
        w.put_bytes(PERSONA_MAGIC);
        w.put_u8(PERSONA_FORMAT_VERSION);
        w.put_display_text("display_name", &self.display_name, MAX_DISPLAY_NAME_LEN)?;
        w.put_u64(self.created_at);
        w.put_bytes(&self.persona_key);
        match &self.authority {
            Some(root_key) => {
                w.put_u8(1);
                w.put_bytes(root_key.expose());
            }
            None => w.put_u8(0),
        }
        w.put_bytes(self.database_passphrase.expose());
        w.put_list("prekey_bundles", &self.prekey_bundles, MAX_PREKEY_BUNDLES)?;
        w.put_list("contacts", &self.contacts, MAX_CONTACTS)?;
        w.put_list("conversations", &self.conversations, MAX_CONVERSATIONS)?;
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// Reads what [`Persona::encode`] wrote, or a version 1 encoding (which held the root
    /// key on every device: it decodes as a persona holding the authority). Refuses a root
    /// key that does not give the persona key, an empty display name, lists longer than
    /// their maximum and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, PersonaError> {
        let mut r = Reader::new(bytes);
        let version = match bytes.get(PERSONA_MAGIC.len()) {
            Some(&PERSONA_FORMAT_WITH_ROOT_KEY) => PERSONA_FORMAT_WITH_ROOT_KEY,
            _ => PERSONA_FORMAT_VERSION,
        };
        r.magic_and_version(PERSONA_MAGIC, version)?;
        let display_name = r.display_text("display_name", MAX_DISPLAY_NAME_LEN)?;
        let created_at = r.u64("created_at")?;
        let (persona_key, authority) = if version == PERSONA_FORMAT_WITH_ROOT_KEY {
            let root_key = r.secret("root_key")?;
            let key = identity_from_root(&root_key).verifying_key().to_bytes();
            (key, Some(root_key))
        } else {
            let key = r.array("persona_key")?;
            let authority = match r.u8("authority")? {
                0 => None,
                1 => Some(r.secret("root_key")?),
                other => {
                    return Err(WireError::InvalidValue {
                        field: "authority",
                        value: other.into(),
                    }
                    .into())
                }
            };
            (key, authority)
        };
        if let Some(root_key) = &authority {
            if identity_from_root(root_key).verifying_key().to_bytes() != persona_key {
                return Err(WireError::InvalidValue {
                    field: "root_key",
                    value: 0,
                }
                .into());
            }
        }
        let persona = Self {
            display_name: checked_display_name(&display_name)?,
            created_at,
            persona_key,
            authority,
            database_passphrase: r.secret("database_passphrase")?,
            prekey_bundles: r.list("prekey_bundles", MAX_PREKEY_BUNDLES)?,
            contacts: r.list("contacts", MAX_CONTACTS)?,
            conversations: r.list("conversations", MAX_CONVERSATIONS)?,
        };
        r.finish()?;
        Ok(persona)
    }
}

/// The persona identity signing key, derived from the root key (HKDF-SHA256).
pub(crate) fn identity_from_root(root_key: &Secret<32>) -> SigningKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, root_key.expose())
        .expand(IDENTITY_KEY_INFO, seed.as_mut())
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
    SigningKey::from_bytes(&seed)
}

fn checked_display_name(name: &str) -> Result<String, PersonaError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(PersonaError::EmptyDisplayName);
    }
    crate::wire::check_display_text("display_name", name)?;
    if name.len() > MAX_DISPLAY_NAME_LEN {
        return Err(WireError::FieldTooLong {
            field: "display_name",
            len: name.len(),
            max: MAX_DISPLAY_NAME_LEN,
        }
        .into());
    }
    Ok(name.to_owned())
}

impl fmt::Debug for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Persona")
            .field("display_name", &self.display_name)
            .field("fingerprint", &self.fingerprint())
            .field("created_at", &self.created_at)
            .field("authority", &self.authority)
            .field("database_passphrase", &self.database_passphrase)
            .field("prekey_bundles", &self.prekey_bundles.len())
            .field("contacts", &self.contacts.len())
            .field("conversations", &self.conversations.len())
            .finish()
    }
}

impl Fingerprint {
    /// The fingerprint of a persona identity key.
    pub fn of(identity: &VerifyingKey) -> Self {
        Self::from_key(identity.as_bytes())
    }

    /// The fingerprint of a persona key (Ed25519 public key bytes).
    pub fn from_key(persona_key: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_DOMAIN)
            .chain_update(persona_key)
            .finalize();
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&digest[..20]);
        Self(bytes)
    }

    /// A fingerprint as stored or sent (20 bytes), not checked against any key.
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The fingerprint's 20 bytes: the first 20 of
    /// `SHA-256("phantom-sync fingerprint v1" ‖ persona key)`.
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
            f.write_str(&crate::encoding::hex(pair))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_1_persona_opens_holding_the_authority() {
        let persona =
            Persona::create("Ada", 1, &mut crate::testing::SeededRng::new(3)).expect("a persona");
        let current = persona.encode().expect("encodes");
        // Format 1 had the root key where format 2 has the persona key and the authority.
        let name_end = 3 + 4 + "Ada".len() + 8;
        let root_key = persona.authority.as_ref().expect("created here").expose();
        let older = [
            &b"PP\x01"[..],
            &current[3..name_end],
            root_key,
            &current[name_end + 32 + 1 + 32..],
        ]
        .concat();
        assert_eq!(Persona::decode(&older), Ok(persona.clone()));
        let mut foreign = current.to_vec();
        foreign[name_end] ^= 1;
        assert_eq!(
            Persona::decode(&foreign).map_err(|e| e.code()),
            Err("invalid_value"),
            "a root key that is not the persona key's"
        );
    }
}
