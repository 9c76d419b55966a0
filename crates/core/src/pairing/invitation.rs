//! Step 1 of the seed: the `PairingInvitation` one device shows as a QR code for the other
//! to scan — the source, inviting a new device ([`Intent::LinkDevice`], the seed's
//! direction), or the new device, asking a source to link it ([`Intent::AskToLink`], for a
//! phone whose camera is better than the laptop's).
//!
//! The invitation holds only public data — an invitation id, the showing device's
//! ephemeral X25519 public key, the pairing mailbox, an expiry and capabilities — so a
//! shoulder-surfer who copies it learns no secret. It is 98 bytes (see `docs/PROTOCOL.md`, "Invitation"), shown
//! as a QR code whose text is the [link code](PairingInvitation::to_link_code): `PHSYNC:`
//! followed by the bytes in base32. The same text can be pasted when no camera is at hand.
//!
//! ```
//! use phantom_core::mailbox::keys::MailboxSeed;
//! use phantom_core::pairing::invitation::{Capabilities, Intent, InvitationId, PairingInvitation};
//!
//! let invitation = PairingInvitation {
//!     intent: Intent::LinkDevice,
//!     id: InvitationId::from_bytes([1; 16]),
//!     public_key: [2; 32],
//!     mailbox: MailboxSeed::from_bytes([3; 32]),
//!     expires_at: 1_700_000_120,
//!     capabilities: Capabilities::HISTORY_WEBRTC,
//! };
//! let code = invitation.to_link_code();
//! assert!(code.starts_with("PHSYNC:"));
//! assert_eq!(PairingInvitation::from_link_code(&code)?, invitation);
//! # Ok::<(), phantom_core::pairing::invitation::InvitationError>(())
//! ```

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::mailbox::keys::MailboxSeed;
use crate::wire::{Reader, WireError, Writer};

/// The invitation format version, the byte after its `PS` magic.
pub const INVITATION_VERSION: u8 = 1;
/// The length of an encoded invitation in bytes, its 4-byte checksum included.
pub const INVITATION_LEN: usize = 98;
/// The text every link code starts with, before the base32 of the invitation.
pub const LINK_CODE_PREFIX: &str = "PHSYNC:";
const INVITATION_MAGIC: &[u8; 2] = b"PS";
const CHECKSUM_LEN: usize = 4;

/// Why an invitation or link code was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvitationError {
    /// The bytes are not an invitation: a wrong length, magic or version, or an
    /// undefined intent.
    #[error("malformed invitation: {0}")]
    Wire(#[from] WireError),
    /// The checksum does not match the other 94 bytes: the code was damaged or mistyped.
    #[error("the invitation's checksum does not match: it was mistyped or damaged")]
    Corrupted,
    /// The text does not start with [`LINK_CODE_PREFIX`].
    #[error("this is not a Phantom Sync link code (it must start with {LINK_CODE_PREFIX})")]
    NotALinkCode,
    /// The text after the prefix holds characters that are not base32, is longer than a
    /// link code, or does not decode to an invitation's magic.
    #[error("the link code is damaged: it has characters or a length no link code has")]
    InvalidLinkCode,
    /// The text after the prefix is clean base32 but shorter than a whole invitation: it
    /// was cut off when copied.
    #[error("the link code is incomplete: copy all of it")]
    IncompleteLinkCode,
}

impl InvitationError {
    /// A stable, machine-readable code, the same in Rust and JS.
    pub fn code(&self) -> &'static str {
        match self {
            InvitationError::Wire(inner) => inner.code(),
            InvitationError::Corrupted => "invitation_corrupted",
            InvitationError::NotALinkCode => "not_a_link_code",
            InvitationError::InvalidLinkCode => "invalid_link_code",
            InvitationError::IncompleteLinkCode => "link_code_incomplete",
        }
    }
}

/// What the invitation asks the scanning device to do, and so which device shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Shown by the source: the scanning device becomes a linked device of its persona.
    LinkDevice,
    /// Shown by a new device: the scanning device, which holds a persona, links it.
    AskToLink,
}

impl Intent {
    /// Whether the source (the device holding the persona) shows codes of this intent;
    /// otherwise the new device shows them and the source scans.
    pub fn is_shown_by_source(self) -> bool {
        matches!(self, Intent::LinkDevice)
    }

    fn to_byte(self) -> u8 {
        match self {
            Intent::LinkDevice => 1,
            Intent::AskToLink => 2,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            1 => Ok(Intent::LinkDevice),
            2 => Ok(Intent::AskToLink),
            other => Err(WireError::InvalidValue {
                field: "intent",
                value: other.into(),
            }),
        }
    }
}

/// Features the source offers; unknown bits are kept and ignored, so newer sources still pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities(pub u16);

impl Capabilities {
    /// History catch-up over a direct WebRTC data channel.
    pub const HISTORY_WEBRTC: Capabilities = Capabilities(1);
    /// History catch-up through the DHT mailbox.
    pub const HISTORY_MAILBOX: Capabilities = Capabilities(1 << 1);

    /// Whether every feature of `other` is offered here.
    pub fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// The features of both.
    pub fn union(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }
}

byte_id! {
    random
    /// A random 16-byte id naming one invitation.
    InvitationId
}

/// The public invitation one device shows the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingInvitation {
    /// What the scanning device is asked to do.
    pub intent: Intent,
    /// Names this invitation; every channel message that answers it carries the id.
    pub id: InvitationId,
    /// The showing device's ephemeral X25519 public key for this invitation (the HPKE
    /// recipient key; the scanning device encapsulates to it).
    pub public_key: [u8; 32],
    /// Where the showing device listens: the scanning device's first message goes there.
    pub mailbox: MailboxSeed,
    /// Unix time (seconds) after which the showing device refuses answers to it.
    pub expires_at: u64,
    /// The features the showing device offers or accepts (the ways to catch up on history).
    pub capabilities: Capabilities,
}

impl PairingInvitation {
    /// The 98 bytes of `docs/PROTOCOL.md` §3, checksum included; also part of the HPKE
    /// `info`, so the channel is bound to every field.
    pub fn encode(&self) -> [u8; INVITATION_LEN] {
        let mut w = Writer::new();
        w.put_bytes(INVITATION_MAGIC);
        w.put_u8(INVITATION_VERSION);
        w.put_u8(self.intent.to_byte());
        w.put_bytes(self.id.as_bytes());
        w.put_bytes(&self.public_key);
        w.put_bytes(self.mailbox.as_bytes());
        w.put_u64(self.expires_at);
        w.put_u16(self.capabilities.0);
        let checksum = checksum(w.as_bytes());
        w.put_bytes(&checksum);
        let mut out = [0u8; INVITATION_LEN];
        out.copy_from_slice(w.as_bytes());
        out
    }

    /// Reads the 98 bytes in `docs/PROTOCOL.md` §3's order: magic and version, then the
    /// checksum before any other field is interpreted (so damage after the version is
    /// [`InvitationError::Corrupted`]), then the intent and the length.
    pub fn decode(bytes: &[u8]) -> Result<Self, InvitationError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(INVITATION_MAGIC, INVITATION_VERSION)?;
        // Damage after the version reads as damage, before any field is interpreted.
        if let (Some(covered), Some(found)) = (
            bytes.get(..INVITATION_LEN - CHECKSUM_LEN),
            bytes.get(INVITATION_LEN - CHECKSUM_LEN..),
        ) {
            if bytes.len() == INVITATION_LEN && checksum(covered) != found {
                return Err(InvitationError::Corrupted);
            }
        }
        let intent = Intent::from_byte(r.u8("intent")?)?;
        let id = InvitationId::from_bytes(r.array("invitation_id")?);
        let public_key = r.array("public_key")?;
        let mailbox = MailboxSeed::from_bytes(r.array("mailbox")?);
        let expires_at = r.u64("expires_at")?;
        let capabilities = Capabilities(r.u16("capabilities")?);
        r.array::<CHECKSUM_LEN>("checksum")?;
        r.finish()?;
        Ok(Self {
            intent,
            id,
            public_key,
            mailbox,
            expires_at,
            capabilities,
        })
    }

    /// `PHSYNC:` and the encoded invitation in unpadded RFC 4648 base32 — the QR code's text.
    ///
    /// Upper-case base32 fits the QR alphanumeric mode, which keeps the code small.
    pub fn to_link_code(&self) -> String {
        let mut code = String::from(LINK_CODE_PREFIX);
        code.push_str(&crate::encoding::base32(&self.encode()));
        code
    }

    /// Reads a link code as scanned or pasted: case, spaces, line breaks and dashes are ignored.
    pub fn from_link_code(text: &str) -> Result<Self, InvitationError> {
        let cleaned = crate::wire::clean_link_code(text);
        let body = cleaned
            .strip_prefix(LINK_CODE_PREFIX)
            .ok_or(InvitationError::NotALinkCode)?;
        // Characters no code contains mean damage or garbage, whatever the length; only
        // clean text that stops short reads as cut off.
        if !body
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        {
            return Err(InvitationError::InvalidLinkCode);
        }
        let expected_len = crate::encoding::base32_len(INVITATION_LEN);
        if body.len() < expected_len {
            return Err(InvitationError::IncompleteLinkCode);
        }
        // Longer text than any invitation cannot be one; refuse it before decoding.
        if body.len() > expected_len {
            return Err(InvitationError::InvalidLinkCode);
        }
        let bytes = crate::encoding::base32_decode(body).ok_or(InvitationError::InvalidLinkCode)?;
        Self::decode(&bytes).map_err(|error| match error {
            InvitationError::Wire(WireError::BadMagic) => InvitationError::InvalidLinkCode,
            other => other,
        })
    }

    /// Whether `now` (Unix seconds) is at or past `expires_at`: the source refuses
    /// requests for it, and a target does not answer it.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}
