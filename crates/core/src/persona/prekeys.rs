//! Prekey bundles: the X25519 keys contacts use to open sessions with the persona.
//!
//! ```
//! use phantom_core::persona::PrekeyBundle;
//! use phantom_core::wire::WireRecord;
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let bundle = PrekeyBundle::generate(0, 3, 1_700_000_000, &mut rng);
//! assert_eq!(PrekeyBundle::decode(&bundle.encode()?)?, bundle);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use rand_core::CryptoRng;

use crate::secret::Secret;
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// The most one-time prekeys a bundle's encoding carries; more is refused.
pub const MAX_ONE_TIME_PREKEYS: usize = 256;

/// A signed prekey and a batch of one-time prekeys.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PrekeyBundle {
    /// The bundle's number among the persona's bundles (a new persona's first is 0).
    pub bundle_id: u32,
    /// When the bundle was made, in seconds since the Unix epoch.
    pub created_at: u64,
    /// The bundle's signed prekey: id 0 in a generated bundle.
    pub signed_prekey: Prekey,
    /// Prekeys each meant for one session: ids 1 and up in a generated bundle, at most
    /// [`MAX_ONE_TIME_PREKEYS`].
    pub one_time_prekeys: Vec<Prekey>,
}

/// An X25519 prekey; only its secret half is stored, the public half is derived.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Prekey {
    /// The prekey's number within its bundle.
    pub id: u32,
    /// The X25519 private key. Secret.
    pub secret: Secret<32>,
}

impl PrekeyBundle {
    /// A fresh bundle: signed prekey id 0, one-time prekeys 1..=`one_time_count`.
    pub fn generate(
        bundle_id: u32,
        one_time_count: u32,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Self {
        Self {
            bundle_id,
            created_at: now,
            signed_prekey: Prekey {
                id: 0,
                secret: Secret::generate(rng),
            },
            one_time_prekeys: (1..=one_time_count)
                .map(|id| Prekey {
                    id,
                    secret: Secret::generate(rng),
                })
                .collect(),
        }
    }
}

impl Prekey {
    /// The X25519 public key, `X25519(secret, 9)`, that contacts are given.
    pub fn public_key(&self) -> [u8; 32] {
        let secret = x25519_dalek::StaticSecret::from(*self.secret.expose());
        x25519_dalek::PublicKey::from(&secret).to_bytes()
    }
}

impl WireRecord for Prekey {
    const MIN_LEN: usize = 4 + 32;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_u32(self.id);
        w.put_bytes(self.secret.expose());
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            id: r.u32("prekey_id")?,
            secret: r.secret("prekey_secret")?,
        })
    }
}

impl WireRecord for PrekeyBundle {
    const MIN_LEN: usize = 4 + 8 + Prekey::MIN_LEN + 4;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_u32(self.bundle_id);
        w.put_u64(self.created_at);
        self.signed_prekey.write(w)?;
        w.put_list(
            "one_time_prekeys",
            &self.one_time_prekeys,
            MAX_ONE_TIME_PREKEYS,
        )
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            bundle_id: r.u32("bundle_id")?,
            created_at: r.u64("bundle_created_at")?,
            signed_prekey: Prekey::read(r)?,
            one_time_prekeys: r.list("one_time_prekeys", MAX_ONE_TIME_PREKEYS)?,
        })
    }
}
