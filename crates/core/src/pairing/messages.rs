//! The plaintexts sealed inside channel messages: `SyncRequest` (also the plaintext of a
//! `Hello` and a `LinkRequest`), `PersonaPayload`, `Abort` and `ImportAck`. Each starts
//! with its own format version so it can evolve on its own.
//!
//! ```
//! use phantom_core::pairing::messages::SyncRequest;
//!
//! let request = SyncRequest { device_name: "Laptop".into(), requested_at: 1_700_000_000 };
//! assert_eq!(SyncRequest::decode(&request.encode()?)?, request);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use zeroize::Zeroizing;

use crate::persona::device::MAX_DEVICE_NAME_LEN;
use crate::persona::{Fingerprint, Persona, PersonaError};
use crate::roster::{RosterDevice, SignedRoster, MAX_ROSTER_LEN};
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// The format version byte each plaintext starts with.
pub const MESSAGE_FORMAT_VERSION: u8 = 1;

/// Step 2 of the seed: the new device asks to join. A source that scans a new device's
/// code says which device it is in the same form (a `Hello`), and the new device then asks
/// in it (a `LinkRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// What the other device shows as the sender ("Firefox on Laptop").
    pub device_name: String,
    /// The sender's clock when it sent (Unix seconds); informative only.
    pub requested_at: u64,
}

impl SyncRequest {
    /// The plaintext a `SyncRequest`, `Hello` or `LinkRequest` frame seals. Fails if the device name is
    /// longer than 64 bytes or holds control or direction-changing characters.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new();
        w.put_u8(MESSAGE_FORMAT_VERSION);
        w.put_display_text("device_name", &self.device_name, MAX_DEVICE_NAME_LEN)?;
        w.put_u64(self.requested_at);
        Ok(w.into_bytes())
    }

    /// Reads the plaintext of a `SyncRequest`, refusing a name [`encode`](Self::encode)
    /// would refuse.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        read_version(&mut r)?;
        let request = Self {
            device_name: r.display_text("device_name", MAX_DEVICE_NAME_LEN)?,
            requested_at: r.u64("requested_at")?,
        };
        r.finish()?;
        Ok(request)
    }
}

/// Step 4 of the seed: what the source hands over once the user approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaPayload {
    /// The persona to import, with every secret but the authority: only the source signs
    /// rosters.
    pub persona: Persona,
    /// The source's clock when it approved (Unix seconds).
    pub approved_at: u64,
    /// The persona's current roster: the devices the new one will talk to.
    pub roster: SignedRoster,
}

impl PersonaPayload {
    /// The plaintext holds every secret of the persona; it is zeroized on drop.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, PersonaError> {
        let persona = self.persona.encode()?;
        let mut w = Writer::new();
        w.put_u8(MESSAGE_FORMAT_VERSION);
        w.put_u64(self.approved_at);
        w.put_var_bytes("roster", &self.roster.encode(), MAX_ROSTER_LEN)?;
        w.put_bytes(&persona);
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// Reads the plaintext of a `PersonaPayload`; a roster that does not decode is
    /// `invalid_value`. The roster's signature is not checked here.
    pub fn decode(bytes: &[u8]) -> Result<Self, PersonaError> {
        let mut r = Reader::new(bytes);
        read_version(&mut r)?;
        let approved_at = r.u64("approved_at")?;
        let roster_bytes = r.var_bytes("roster", MAX_ROSTER_LEN)?;
        let roster = SignedRoster::decode(roster_bytes).map_err(|_| WireError::InvalidValue {
            field: "roster",
            value: roster_bytes.len() as u64,
        })?;
        let rest = r.bytes("persona", r.remaining_len())?;
        Ok(Self {
            persona: Persona::decode(rest)?,
            approved_at,
            roster,
        })
    }
}

/// Why a device stopped the pairing; the other device shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    /// The user cancelled.
    Cancelled,
    /// The user on the source did not find the target's words among the candidates.
    WordsRejected,
    /// The invitation ran out before the request arrived.
    Expired,
    /// The target could not import what it received.
    ImportFailed,
    /// Another device already answered this invitation.
    InvitationUsed,
    /// The source cannot use the keys the target's confirmation asks to join with.
    DeviceRejected,
}

impl AbortReason {
    /// The `reason` byte of an `Abort` plaintext, 1 to 6.
    pub fn to_byte(self) -> u8 {
        match self {
            AbortReason::Cancelled => 1,
            AbortReason::WordsRejected => 2,
            AbortReason::Expired => 3,
            AbortReason::ImportFailed => 4,
            AbortReason::InvitationUsed => 5,
            AbortReason::DeviceRejected => 6,
        }
    }

    /// The reason a `reason` byte names; any byte outside 1 to 6 is `invalid_value`.
    pub fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            1 => Ok(AbortReason::Cancelled),
            2 => Ok(AbortReason::WordsRejected),
            3 => Ok(AbortReason::Expired),
            4 => Ok(AbortReason::ImportFailed),
            5 => Ok(AbortReason::InvitationUsed),
            6 => Ok(AbortReason::DeviceRejected),
            other => Err(WireError::InvalidValue {
                field: "abort_reason",
                value: other.into(),
            }),
        }
    }
}

/// Either device stops the pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort {
    /// Why the sender stopped; the receiver shows it.
    pub reason: AbortReason,
}

impl Abort {
    /// The plaintext an `Abort` frame (kind 4) seals: the version and the reason byte.
    pub fn encode(&self) -> Vec<u8> {
        vec![MESSAGE_FORMAT_VERSION, self.reason.to_byte()]
    }

    /// Reads the plaintext of an `Abort`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        read_version(&mut r)?;
        let reason = AbortReason::from_byte(r.u8("abort_reason")?)?;
        r.finish()?;
        Ok(Self { reason })
    }
}

/// The target imported the persona whose fingerprint it names, and asks to be on its
/// roster as `device` (its own Olm keys, made for this persona).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportAck {
    /// The fingerprint of the persona imported; the source refuses one other than the
    /// persona it sent.
    pub fingerprint: Fingerprint,
    /// The new device as a roster entry: its id, name, the Olm keys it made after the
    /// import, and its sealing key.
    pub device: RosterDevice,
}

impl ImportAck {
    /// The plaintext an `ImportAck` frame (kind 5) seals.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new();
        w.put_u8(MESSAGE_FORMAT_VERSION);
        w.put_bytes(self.fingerprint.as_bytes());
        self.device.write(&mut w)?;
        Ok(w.into_bytes())
    }

    /// Reads the plaintext of an `ImportAck`. The device's keys are not checked here.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        read_version(&mut r)?;
        let fingerprint = Fingerprint::from_bytes(r.array("fingerprint")?);
        let device = RosterDevice::read(&mut r)?;
        r.finish()?;
        Ok(Self {
            fingerprint,
            device,
        })
    }
}

fn read_version(r: &mut Reader<'_>) -> Result<(), WireError> {
    let found = r.u8("message_version")?;
    if found == MESSAGE_FORMAT_VERSION {
        Ok(())
    } else {
        Err(WireError::UnsupportedVersion {
            found,
            supported: MESSAGE_FORMAT_VERSION,
        })
    }
}
