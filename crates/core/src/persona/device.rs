//! This device's own keys. Every device of a persona has its own, never shared, so one
//! device can be revoked without the others.
//!
//! ```
//! use phantom_core::persona::DeviceKeys;
//! use phantom_core::wire::WireRecord;
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let laptop = DeviceKeys::generate("Laptop", 1_700_000_000, &mut rng)?;
//! let copy = DeviceKeys::decode(&laptop.encode()?)?;
//! assert_eq!(copy.verifying_key(), laptop.verifying_key());
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::CryptoRng;

use crate::secret::Secret;
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// The longest device name, in bytes of UTF-8 (after trimming white space).
pub const MAX_DEVICE_NAME_LEN: usize = 64;

byte_id! {
    random
    /// A device's id: random, chosen when its keys are made; the roster, the persona's
    /// messages and its history offers name the device by it.
    DeviceId
}

/// This device's identity: its id, its name and the seed of its keys. Secret: `Debug`
/// redacts the seed.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    /// The device's random id, by which the roster and the persona's messages name it.
    pub device_id: DeviceId,
    /// The name shown for the device, checked by [`DeviceKeys::checked_name`].
    pub name: String,
    /// When the keys were made, in seconds since the Unix epoch.
    pub created_at: u64,
    /// The Ed25519 seed of this device's identity key.
    pub identity_seed: Secret<32>,
}

impl DeviceKeys {
    /// Fresh keys with a random id and seed, named `name` (trimmed); fails if the name is
    /// longer than [`MAX_DEVICE_NAME_LEN`] bytes or holds characters that disguise text.
    pub fn generate(name: &str, now: u64, rng: &mut impl CryptoRng) -> Result<Self, WireError> {
        let name = Self::checked_name(name)?;
        Ok(Self {
            device_id: DeviceId::random(rng),
            name: name.to_owned(),
            created_at: now,
            identity_seed: Secret::generate(rng),
        })
    }

    /// A device name as it is kept: trimmed, without characters that disguise text, and
    /// at most [`MAX_DEVICE_NAME_LEN`] bytes.
    pub fn checked_name(name: &str) -> Result<&str, WireError> {
        let name = name.trim();
        crate::wire::check_display_text("device_name", name)?;
        if name.len() > MAX_DEVICE_NAME_LEN {
            return Err(WireError::FieldTooLong {
                field: "device_name",
                len: name.len(),
                max: MAX_DEVICE_NAME_LEN,
            });
        }
        Ok(name)
    }

    /// This device's Ed25519 identity key, made from [`DeviceKeys::identity_seed`].
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(self.identity_seed.expose())
    }

    /// The public half of [`DeviceKeys::signing_key`].
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key().verifying_key()
    }
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("device_id", &self.device_id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("identity_seed", &self.identity_seed)
            .finish()
    }
}

impl WireRecord for DeviceKeys {
    const MIN_LEN: usize = 16 + 4 + 8 + 32;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(self.device_id.as_bytes());
        w.put_display_text("device_name", &self.name, MAX_DEVICE_NAME_LEN)?;
        w.put_u64(self.created_at);
        w.put_bytes(self.identity_seed.expose());
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            device_id: DeviceId::from_bytes(r.array("device_id")?),
            name: r.display_text("device_name", MAX_DEVICE_NAME_LEN)?,
            created_at: r.u64("device_created_at")?,
            identity_seed: r.secret("identity_seed")?,
        })
    }
}
