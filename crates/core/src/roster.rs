//! The roster: which devices belong to a persona, signed by the persona identity key.
//!
//! Contacts seal each message to every device on the recipient's roster, and a device
//! accepts messages only from devices on the sender's roster, so the roster decides who can
//! read. Its `epoch` only grows: adding a device bumps it, and revoking one bumps it and
//! moves the persona's `inbox` to a fresh mailbox seed the revoked device is never told.
//! A roster whose epoch goes backwards is a rollback and is refused. It also carries the
//! seed that reads the persona's profile mailbox, so that a persona key alone reads nothing.
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use phantom_core::mailbox::keys::MailboxSeed;
//! use phantom_core::roster::{Roster, RosterError, SignedRoster};
//!
//! let persona = SigningKey::from_bytes(&[7; 32]);
//! let roster = Roster::first(persona.verifying_key().to_bytes(), MailboxSeed::from_bytes([1; 32]), [2; 32]);
//! let signed = roster.sign(&persona)?;
//! let received = SignedRoster::decode(&signed.encode())?;
//! assert_eq!(received.verify(&persona.verifying_key().to_bytes())?, roster);
//!
//! let stranger = SigningKey::from_bytes(&[8; 32]);
//! assert_eq!(
//!     received.verify(&stranger.verifying_key().to_bytes()),
//!     Err(RosterError::WrongPersona)
//! );
//! # Ok::<(), RosterError>(())
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use thiserror::Error;

use crate::mailbox::keys::MailboxSeed;
use crate::persona::DeviceId;
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// The roster encoding written now (3: devices with sealing keys); formats 1 and 2 still
/// read.
pub const ROSTER_FORMAT_VERSION: u8 = 3;
/// Rosters signed before they carried `profile_read`.
const ROSTER_FORMAT_WITHOUT_PROFILE_READ: u8 = 1;
/// Rosters signed before devices had sealing keys.
const ROSTER_FORMAT_WITHOUT_SEALING_KEYS: u8 = 2;
const SIGNED_ROSTER_FORMAT_VERSION: u8 = 1;
const ROSTER_MAGIC: &[u8; 2] = b"PR";
const SIGNED_ROSTER_MAGIC: &[u8; 2] = b"PS";
/// Signed with this prefix, so a roster signature can never pass for any other signature.
const SIGNATURE_DOMAIN: &[u8] = b"phantom-sync roster v1";
/// The most devices a persona has at once: a roster lists no more.
pub const MAX_DEVICES: usize = 16;
/// The longest device name a roster carries, in bytes.
pub const MAX_DEVICE_NAME_LEN: usize = 64;
/// The most a signed roster can take: its devices, names and signature.
pub const MAX_ROSTER_LEN: usize = 4096;
/// The inbox of a roster published in the profile mailbox: all zeros, the real one withheld.
pub const WITHHELD_INBOX: MailboxSeed = MailboxSeed::from_bytes([0; 32]);

/// Why a roster was refused, or a change to it could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RosterError {
    /// The bytes are not a roster this version reads, or a roster is past a limit of
    /// its encoding.
    #[error("malformed roster: {0}")]
    Wire(#[from] WireError),
    /// The roster names another persona key than the one expected, or the signing key
    /// is not its persona key.
    #[error("the roster is signed for another persona")]
    WrongPersona,
    /// The signature is not the persona key's over these bytes: the roster was altered,
    /// or signed by someone else.
    #[error("the roster signature does not verify")]
    BadSignature,
    #[error("the roster's epoch {received} is older than the {current} already accepted")]
    /// A roster older than the one already accepted: a rollback.
    EpochRegressed {
        /// The epoch of the roster held.
        current: u64,
        /// The epoch of the roster refused.
        received: u64,
    },
    #[error("a different roster with the same epoch {epoch} was already accepted")]
    /// A different roster of the epoch already accepted: the persona key signed two.
    EpochConflict {
        /// The epoch both rosters claim.
        epoch: u64,
    },
    /// Adding the device would list more than [`MAX_DEVICES`].
    #[error("a roster holds at most {MAX_DEVICES} devices")]
    TooManyDevices,
    /// The device named is not on the roster.
    #[error("no device with that id is on the roster")]
    UnknownDevice,
    /// Removing the device would leave the persona with none.
    #[error("a persona keeps at least one device")]
    LastDevice,
    /// A joining device's keys would let no other device write to it
    /// ([`RosterDevice::check_keys`]).
    #[error("the device's keys cannot be used: no Olm session opens with them")]
    UnusableDeviceKeys,
    /// The epoch is `u64::MAX`: no roster can follow this one.
    #[error("the roster's epoch cannot grow any further")]
    EpochExhausted,
    /// A roster handed to a new device lists no device or withholds the inbox: the new
    /// device would have nobody to write to, or nowhere.
    #[error("the roster lists no device or no inbox")]
    Incomplete,
}

impl RosterError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            RosterError::Wire(inner) => inner.code(),
            RosterError::WrongPersona => "roster_wrong_persona",
            RosterError::BadSignature => "roster_bad_signature",
            RosterError::EpochRegressed { .. } => "roster_epoch_regressed",
            RosterError::EpochConflict { .. } => "roster_epoch_conflict",
            RosterError::TooManyDevices => "roster_too_many_devices",
            RosterError::UnknownDevice => "unknown_device",
            RosterError::LastDevice => "last_device",
            RosterError::UnusableDeviceKeys => "unusable_device_keys",
            RosterError::EpochExhausted => "roster_epoch_exhausted",
            RosterError::Incomplete => "roster_incomplete",
        }
    }
}

/// One device of a persona: its name for people, and its public Olm keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterDevice {
    /// The device's random id, chosen when its keys were made and never changed.
    pub device_id: DeviceId,
    /// What people call the device ("Laptop"), at most [`MAX_DEVICE_NAME_LEN`] bytes.
    pub name: String,
    /// When the device made its roster entry (creating the persona, or to join it), in
    /// Unix seconds by its own clock.
    pub added_at: u64,
    /// The device's Olm identity key (Curve25519): sessions are opened with it.
    pub identity_key: [u8; 32],
    /// The device's Olm signing key (Ed25519).
    pub signing_key: [u8; 32],
    /// The Olm fallback key senders open a first session with (there is no server to hand
    /// out each one-time key once).
    pub fallback_key: [u8; 32],
    /// The X25519 key senders seal their name to ([`crate::messaging::sealed_sender`]);
    /// `None` for a device linked before there were sealing keys, until it announces one.
    pub sealing_key: Option<[u8; 32]>,
}

impl RosterDevice {
    /// Refuses keys no other device could use: a low-order Curve25519 point gives every
    /// sender the same all-zero secret (Olm refuses it as non-contributory), and a signing
    /// key must be a point of Ed25519. Checked before a device joins the roster, so a
    /// broken or hostile new device cannot leave the persona unable to write to it.
    pub fn check_keys(&self) -> Result<(), RosterError> {
        // A clamped scalar is a multiple of the cofactor, so any one maps every low-order
        // point, and only those, to zero.
        let usable = |key: [u8; 32]| x25519_dalek::x25519([1; 32], key) != [0; 32];
        if usable(self.identity_key)
            && usable(self.fallback_key)
            && self.sealing_key.is_none_or(usable)
            && VerifyingKey::from_bytes(&self.signing_key).is_ok()
        {
            Ok(())
        } else {
            Err(RosterError::UnusableDeviceKeys)
        }
    }
}

/// A persona's devices in one epoch, and the inbox they all read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// The persona identity key (Ed25519) that signs the roster.
    pub persona_key: [u8; 32],
    /// Grows with every change to the devices or the inbox; a roster of a lower epoch
    /// than one accepted is refused ([`Roster::check_update`]).
    pub epoch: u64,
    /// Whoever holds it writes to the persona's devices and reads their inbox.
    pub inbox: MailboxSeed,
    /// The seed of the key that reads the persona's profile mailbox (the identity key
    /// writes it). Made with the persona and never changed. A roster of format 1 has none:
    /// it reads as the persona key itself, which anyone may know.
    pub profile_read: [u8; 32],
    /// Every device of the persona in this epoch, at most [`MAX_DEVICES`]: each message to
    /// the persona is sealed to each of them.
    pub devices: Vec<RosterDevice>,
}

/// A roster's encoding with the persona's signature over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRoster {
    roster: Vec<u8>,
    signature: [u8; 64],
}

impl Roster {
    /// Epoch 0 with no device yet: a new persona before its first device joins.
    pub fn first(persona_key: [u8; 32], inbox: MailboxSeed, profile_read: [u8; 32]) -> Self {
        Self {
            persona_key,
            epoch: 0,
            inbox,
            profile_read,
            devices: Vec::new(),
        }
    }

    /// The same roster with its inbox withheld: what is published in the profile mailbox,
    /// where anyone who knows the persona key — a removed device too — reads it.
    pub fn withheld(&self) -> Roster {
        Roster {
            inbox: WITHHELD_INBOX,
            ..self.clone()
        }
    }

    /// Whether this is the published form, its inbox withheld ([`WITHHELD_INBOX`]).
    pub fn withholds_inbox(&self) -> bool {
        self.inbox == WITHHELD_INBOX
    }

    /// The device with this id, if it is on the roster.
    pub fn device(&self, device_id: &DeviceId) -> Option<&RosterDevice> {
        self.devices.iter().find(|d| &d.device_id == device_id)
    }

    /// The device with this Olm identity key.
    pub fn device_by_key(&self, identity_key: &[u8; 32]) -> Option<&RosterDevice> {
        self.devices
            .iter()
            .find(|d| &d.identity_key == identity_key)
    }

    /// The next epoch, with `device` added (or its keys replaced).
    pub fn with_device(&self, device: RosterDevice) -> Result<Roster, RosterError> {
        let mut next = self.after(self.epoch, self.inbox)?;
        next.devices.retain(|d| d.device_id != device.device_id);
        if next.devices.len() >= MAX_DEVICES {
            return Err(RosterError::TooManyDevices);
        }
        next.devices.push(device);
        Ok(next)
    }

    /// The next epoch without `device_id`, reading a new `inbox`.
    pub fn without_device(
        &self,
        device_id: &DeviceId,
        inbox: MailboxSeed,
    ) -> Result<Roster, RosterError> {
        if self.device(device_id).is_none() {
            return Err(RosterError::UnknownDevice);
        }
        if self.devices.len() == 1 {
            return Err(RosterError::LastDevice);
        }
        let mut next = self.after(self.epoch, inbox)?;
        next.devices.retain(|d| &d.device_id != device_id);
        Ok(next)
    }

    /// These devices again, one epoch past both this roster and `rival_epoch`, reading
    /// `inbox`: the next epoch (`rival_epoch` is this roster's), or what settles a dispute.
    pub fn after(&self, rival_epoch: u64, inbox: MailboxSeed) -> Result<Roster, RosterError> {
        let epoch = self
            .epoch
            .max(rival_epoch)
            .checked_add(1)
            .ok_or(RosterError::EpochExhausted)?;
        Ok(Roster {
            epoch,
            inbox,
            ..self.clone()
        })
    }

    /// The roster's bytes in the current format, as the persona signs them. Fails if it
    /// lists more than [`MAX_DEVICES`] devices or a name the encoding cannot carry.
    pub fn encode(&self) -> Result<Vec<u8>, RosterError> {
        let mut w = Writer::new();
        w.put_bytes(ROSTER_MAGIC);
        w.put_u8(ROSTER_FORMAT_VERSION);
        w.put_bytes(&self.persona_key);
        w.put_u64(self.epoch);
        w.put_bytes(self.inbox.as_bytes());
        w.put_bytes(&self.profile_read);
        w.put_list("devices", &self.devices, MAX_DEVICES)?;
        Ok(w.into_bytes())
    }

    fn decode(bytes: &[u8]) -> Result<Roster, RosterError> {
        let mut r = Reader::new(bytes);
        let version = match bytes.get(ROSTER_MAGIC.len()) {
            Some(
                &older @ (ROSTER_FORMAT_WITHOUT_PROFILE_READ | ROSTER_FORMAT_WITHOUT_SEALING_KEYS),
            ) => older,
            _ => ROSTER_FORMAT_VERSION,
        };
        r.magic_and_version(ROSTER_MAGIC, version)?;
        let persona_key = r.array("persona_key")?;
        let roster = Roster {
            persona_key,
            epoch: r.u64("epoch")?,
            inbox: MailboxSeed::from_bytes(r.array("inbox")?),
            profile_read: if version == ROSTER_FORMAT_WITHOUT_PROFILE_READ {
                persona_key
            } else {
                r.array("profile_read")?
            },
            devices: {
                let count = r.count("devices", MAX_DEVICES, DEVICE_MIN_LEN)?;
                let mut devices = Vec::with_capacity(count);
                for _ in 0..count {
                    devices.push(RosterDevice::read_in_format(&mut r, version)?);
                }
                devices
            },
        };
        r.finish()?;
        Ok(roster)
    }

    /// Signs the roster with the persona identity key; [`RosterError::WrongPersona`] if
    /// `persona` is not the key the roster names.
    pub fn sign(&self, persona: &SigningKey) -> Result<SignedRoster, RosterError> {
        if persona.verifying_key().to_bytes() != self.persona_key {
            return Err(RosterError::WrongPersona);
        }
        let roster = self.encode()?;
        let signature = persona.sign(&signed_bytes(&roster)).to_bytes();
        Ok(SignedRoster { roster, signature })
    }

    /// Whether `next` may replace this roster: its epoch is newer, or it is this very roster.
    pub fn check_update(&self, next: &Roster) -> Result<(), RosterError> {
        if next.persona_key != self.persona_key {
            return Err(RosterError::WrongPersona);
        }
        if next.epoch < self.epoch {
            return Err(RosterError::EpochRegressed {
                current: self.epoch,
                received: next.epoch,
            });
        }
        if next.epoch == self.epoch && next != self {
            return Err(RosterError::EpochConflict { epoch: next.epoch });
        }
        Ok(())
    }
}

fn signed_bytes(roster: &[u8]) -> Vec<u8> {
    [SIGNATURE_DOMAIN, roster].concat()
}

impl SignedRoster {
    /// The roster, if `persona_key` signed it.
    pub fn verify(&self, persona_key: &[u8; 32]) -> Result<Roster, RosterError> {
        let roster = Roster::decode(&self.roster)?;
        if &roster.persona_key != persona_key {
            return Err(RosterError::WrongPersona);
        }
        let key = VerifyingKey::from_bytes(persona_key).map_err(|_| RosterError::BadSignature)?;
        key.verify(
            &signed_bytes(&self.roster),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| RosterError::BadSignature)?;
        Ok(roster)
    }

    /// Whether the roster was signed with its inbox withheld (read without verifying: for
    /// a roster this device verified when it took it).
    pub fn withholds_inbox(&self) -> Result<bool, RosterError> {
        Ok(Roster::decode(&self.roster)?.withholds_inbox())
    }

    /// The roster as it reads, before anything is verified.
    pub fn claimed(&self) -> Result<Roster, RosterError> {
        Roster::decode(&self.roster)
    }

    /// The persona key the roster claims, before anything is verified.
    pub fn claimed_persona(&self) -> Result<[u8; 32], RosterError> {
        Ok(Roster::decode(&self.roster)?.persona_key)
    }

    /// The signed roster's bytes: the signature, then the roster as it was signed.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.put_bytes(SIGNED_ROSTER_MAGIC);
        w.put_u8(SIGNED_ROSTER_FORMAT_VERSION);
        w.put_bytes(&self.signature);
        w.put_bytes(&self.roster);
        w.into_bytes()
    }

    /// Reads a signed roster's bytes, at most [`MAX_ROSTER_LEN`], without verifying
    /// anything: [`SignedRoster::verify`] does.
    pub fn decode(bytes: &[u8]) -> Result<SignedRoster, RosterError> {
        if bytes.len() > MAX_ROSTER_LEN {
            return Err(WireError::FieldTooLong {
                field: "signed_roster",
                len: bytes.len(),
                max: MAX_ROSTER_LEN,
            }
            .into());
        }
        let mut r = Reader::new(bytes);
        r.magic_and_version(SIGNED_ROSTER_MAGIC, SIGNED_ROSTER_FORMAT_VERSION)?;
        let signature = r.array("signature")?;
        let roster = r.bytes("roster", r.remaining_len())?.to_vec();
        Ok(SignedRoster { roster, signature })
    }
}

/// No sealing key is written as 32 zero bytes: a low-order point no device could have.
const NO_SEALING_KEY: [u8; 32] = [0; 32];

/// The fewest bytes a device takes in any roster format.
const DEVICE_MIN_LEN: usize = 16 + 4 + 8 + 3 * 32;

impl RosterDevice {
    /// A device as a roster of `format` lists it: before format 3, without a sealing key.
    fn read_in_format(r: &mut Reader<'_>, format: u8) -> Result<Self, WireError> {
        Ok(Self {
            device_id: DeviceId::from_bytes(r.array("device_id")?),
            name: r.display_text("device_name", MAX_DEVICE_NAME_LEN)?,
            added_at: r.u64("added_at")?,
            identity_key: r.array("device_identity_key")?,
            signing_key: r.array("device_signing_key")?,
            fallback_key: r.array("fallback_key")?,
            sealing_key: if format == ROSTER_FORMAT_VERSION {
                Some(r.array("sealing_key")?).filter(|key| key != &NO_SEALING_KEY)
            } else {
                None
            },
        })
    }
}

impl WireRecord for RosterDevice {
    const MIN_LEN: usize = DEVICE_MIN_LEN + 32;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(self.device_id.as_bytes());
        w.put_display_text("device_name", &self.name, MAX_DEVICE_NAME_LEN)?;
        w.put_u64(self.added_at);
        w.put_bytes(&self.identity_key);
        w.put_bytes(&self.signing_key);
        w.put_bytes(&self.fallback_key);
        w.put_bytes(&self.sealing_key.unwrap_or(NO_SEALING_KEY));
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Self::read_in_format(r, ROSTER_FORMAT_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> RosterDevice {
        RosterDevice {
            device_id: DeviceId::from_bytes([n; 16]),
            name: format!("Device {n}"),
            added_at: 1_700_000_000,
            identity_key: [n; 32],
            signing_key: [n.wrapping_add(1); 32],
            fallback_key: [n.wrapping_add(2); 32],
            sealing_key: Some([n.wrapping_add(3); 32]),
        }
    }

    fn persona() -> SigningKey {
        SigningKey::from_bytes(&[9; 32])
    }

    fn two_devices() -> Roster {
        let first = Roster::first(
            persona().verifying_key().to_bytes(),
            MailboxSeed::from_bytes([1; 32]),
            [3; 32],
        );
        first
            .with_device(device(1))
            .and_then(|r| r.with_device(device(2)))
            .expect("room for two")
    }

    #[test]
    fn adding_and_revoking_bump_the_epoch_and_revoking_moves_the_inbox() {
        let roster = two_devices();
        assert_eq!(roster.epoch, 2);
        let revoked = roster
            .without_device(
                &DeviceId::from_bytes([2; 16]),
                MailboxSeed::from_bytes([5; 32]),
            )
            .expect("known device");
        assert_eq!(revoked.epoch, 3);
        assert_eq!(revoked.inbox, MailboxSeed::from_bytes([5; 32]));
        assert_eq!(revoked.devices, vec![device(1)]);
        assert_eq!(
            revoked.without_device(&DeviceId::from_bytes([1; 16]), revoked.inbox),
            Err(RosterError::LastDevice)
        );
        assert_eq!(
            revoked.without_device(&DeviceId::from_bytes([2; 16]), revoked.inbox),
            Err(RosterError::UnknownDevice)
        );
    }

    #[test]
    fn an_older_or_conflicting_roster_is_refused() {
        let older = two_devices();
        let newer = older.with_device(device(3)).expect("room");
        assert_eq!(older.check_update(&newer), Ok(()));
        assert_eq!(newer.check_update(&newer), Ok(()), "the same roster again");
        assert_eq!(
            newer.check_update(&older),
            Err(RosterError::EpochRegressed {
                current: 3,
                received: 2
            })
        );
        let mut rival = newer.clone();
        rival.devices.pop();
        assert_eq!(
            newer.check_update(&rival).map_err(|e| e.code()),
            Err("roster_epoch_conflict")
        );
    }

    #[test]
    fn a_tampered_roster_fails_its_signature() {
        let signed = two_devices().sign(&persona()).expect("signed");
        let mut bytes = signed.encode();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = SignedRoster::decode(&bytes).expect("well formed");
        assert_eq!(
            tampered.verify(&persona().verifying_key().to_bytes()),
            Err(RosterError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[4; 32]);
        assert_eq!(
            two_devices().sign(&other).map_err(|e| e.code()),
            Err("roster_wrong_persona")
        );
    }

    /// `roster` as an older format wrote it: format 1 without `profile_read`, both 1 and
    /// 2 without sealing keys.
    fn older_encoding(roster: &Roster, version: u8) -> Vec<u8> {
        let mut w = Writer::new();
        w.put_bytes(ROSTER_MAGIC);
        w.put_u8(version);
        w.put_bytes(&roster.persona_key);
        w.put_u64(roster.epoch);
        w.put_bytes(roster.inbox.as_bytes());
        if version == ROSTER_FORMAT_WITHOUT_SEALING_KEYS {
            w.put_bytes(&roster.profile_read);
        }
        w.put_u32(roster.devices.len() as u32);
        for device in &roster.devices {
            let mut record = Writer::new();
            device.write(&mut record).expect("writes");
            let record = record.into_bytes();
            w.put_bytes(&record[..record.len() - 32]);
        }
        w.into_bytes()
    }

    #[test]
    fn older_rosters_read_without_profile_read_or_sealing_keys() {
        let roster = two_devices();
        let without_sealing_keys = Roster {
            devices: roster
                .devices
                .iter()
                .map(|d| RosterDevice {
                    sealing_key: None,
                    ..d.clone()
                })
                .collect(),
            ..roster.clone()
        };
        let format_2 = Roster::decode(&older_encoding(&roster, 2)).expect("format 2 reads");
        assert_eq!(format_2, without_sealing_keys);
        let format_1 = Roster::decode(&older_encoding(&roster, 1)).expect("format 1 reads");
        assert_eq!(format_1.profile_read, roster.persona_key);
        assert_eq!(
            Roster {
                profile_read: roster.profile_read,
                ..format_1
            },
            without_sealing_keys
        );
    }

    #[test]
    fn the_device_limit_holds() {
        let mut roster = two_devices();
        for n in 3..=MAX_DEVICES as u8 {
            roster = roster.with_device(device(n)).expect("room");
        }
        assert_eq!(
            roster.with_device(device(99)),
            Err(RosterError::TooManyDevices)
        );
        let signed = roster.sign(&persona()).expect("signed").encode();
        assert!(signed.len() <= MAX_ROSTER_LEN, "{} bytes", signed.len());
    }
}
