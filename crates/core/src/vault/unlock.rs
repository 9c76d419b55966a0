//! Unlocking: the database passphrase is never stored in clear; it is wrapped by a key that
//! never leaves this device, and optionally by a PIN too.
//!
//! By default a [`DeviceKeyring`] wraps it — in the browser a non-extractable WebCrypto key
//! kept in IndexedDB (`drivers::webcrypto`), so the vault opens by itself in milliseconds.
//! With a PIN, the passphrase is first sealed under Argon2id(PIN) — memory-hard, tuned to
//! about a second in the browser — and then wrapped by the device key. Wrong PINs are
//! counted and each one doubles the wait before the next try ([`PinAttempts`]); the count
//! is sealed by the device key and raised before each try, so editing, deleting or racing
//! it earns the longest wait rather than more tries. A new PIN has at least
//! [`MIN_PIN_LEN`] characters.
//!
//! ```
//! use phantom_core::secret::Secret;
//! use phantom_core::vault::unlock::{protect, recover, MemoryKeyring, PinParams};
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let keyring = MemoryKeyring::generate(&mut rng);
//! let passphrase = Secret::from_bytes([9; 32]);
//! pollster::block_on(async {
//!     let record = protect(&passphrase, &keyring, Some(("246813", PinParams::FOR_TESTS)), &mut rng).await?;
//!     assert!(recover(&record, &keyring, Some("135791")).await.is_err());
//!     assert_eq!(recover(&record, &keyring, Some("246813")).await?, passphrase);
//!     Ok::<(), phantom_core::vault::unlock::UnlockError>(())
//! })?;
//! # Ok::<(), phantom_core::vault::unlock::UnlockError>(())
//! ```

use argon2::{Algorithm, Argon2, Params, Version};
use phantom_aead::{Payload, XChaCha20Poly1305};
use rand_core::CryptoRng;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::secret::Secret;
use crate::wire::{Reader, WireError, WireRecord, Writer};

const PIN_AAD: &[u8] = b"phantom-sync pin v1";
/// Appended to the PIN layer's associated data of a record whose attempt count is sealed,
/// so that turning it back into an older record (whose count may be missing) breaks it.
const COUNTED_AAD: &[u8] = b" counted";
const ATTEMPTS_MAGIC: &[u8; 2] = b"PA";
/// The shortest new PIN: six digits make 10^6 guesses, a passphrase may be any text.
pub const MIN_PIN_LEN: usize = 6;
const KEYRING_AAD: &[u8] = b"phantom-sync device keyring v1";
const MAX_WRAPPED_LEN: usize = 1024;
/// The longest wait a run of wrong PINs imposes, in seconds.
pub const MAX_PIN_BACKOFF_SECS: u64 = 900;

/// Why the passphrase could not be protected or recovered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnlockError {
    /// The record is protected by a PIN and none was given.
    #[error("this vault is protected by a PIN; enter it")]
    PinRequired,
    /// The PIN does not open the record.
    #[error("wrong PIN ({failures} wrong so far); try again in {retry_after_secs} s")]
    WrongPin {
        /// Wrong PINs in a row, this one included; 0 from [`recover`], which counts nothing.
        failures: u32,
        /// Seconds to wait before the next try; 0 from [`recover`].
        retry_after_secs: u64,
    },
    /// The wait after the last wrong PIN has not passed: this PIN was not tried.
    #[error("too many wrong PINs; try again in {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds still to wait, at most [`MAX_PIN_BACKOFF_SECS`].
        retry_after_secs: u64,
    },
    /// The keyring holds no device key (the site's data was cleared): this device can no
    /// longer open its vault and must be linked again.
    #[error("this device's key is missing (site data was cleared?); link the device again")]
    DeviceKeyMissing,
    /// The device key does not open what it is given: another key wrapped it, or it was
    /// altered.
    #[error("this device's key does not open the vault")]
    DeviceKeyRejected,
    /// The keyring itself failed (no WebCrypto outside a secure context, the key could not
    /// be made or stored); the text says how.
    #[error("the device keyring failed: {0}")]
    Keyring(String),
    /// The Argon2id settings are beyond what a stored record may ask for (256 MiB, 32
    /// passes, 1 to 4 lanes), or Argon2 refuses them.
    #[error("the PIN settings are out of range")]
    InvalidPinParams,
    /// A new PIN has fewer than [`MIN_PIN_LEN`] characters.
    #[error("a PIN needs at least {MIN_PIN_LEN} digits or characters")]
    PinTooShort,
    /// The unlock record does not decode, or its wrapped passphrase is longer than the
    /// format allows (1024 bytes).
    #[error("malformed unlock record: {0}")]
    Wire(#[from] WireError),
}

impl UnlockError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            UnlockError::PinRequired => "pin_required",
            UnlockError::WrongPin { .. } => "wrong_pin",
            UnlockError::TooManyAttempts { .. } => "too_many_attempts",
            UnlockError::DeviceKeyMissing => "device_key_missing",
            UnlockError::DeviceKeyRejected => "device_key_rejected",
            UnlockError::Keyring(_) => "keyring_failed",
            UnlockError::InvalidPinParams => "invalid_pin_params",
            UnlockError::PinTooShort => "pin_too_short",
            UnlockError::Wire(inner) => inner.code(),
        }
    }
}

/// Argon2id cost settings, stored with the record so they can be raised later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinParams {
    /// Memory Argon2id fills, in KiB.
    pub memory_kib: u32,
    /// Passes over that memory.
    pub iterations: u32,
    /// Lanes computed in parallel.
    pub parallelism: u32,
}

impl PinParams {
    /// How long unlocking with a PIN should take on the device that set it: long enough
    /// that each guess costs an attacker with the disk that much, short enough to wait.
    pub const TARGET_MS: f64 = 1000.0;
    /// Never less, however slow the device: RFC 9106's second recommended setting
    /// (Argon2id, 64 MiB, 3 passes). Memory stays at 64 MiB on every device, since wasm
    /// memory never shrinks; the passes carry the cost.
    pub const FLOOR: PinParams = PinParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
    /// Cheap settings for tests only.
    pub const FOR_TESTS: PinParams = PinParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    /// Bounds on settings read back from storage, which anyone with the disk can edit: a
    /// hostile record must not make unlocking allocate gigabytes or run for minutes.
    const MAX_MEMORY_KIB: u32 = 256 * 1024;
    const MAX_ITERATIONS: u32 = 32;
    const MAX_PARALLELISM: u32 = 4;

    fn argon2(&self) -> Result<Argon2<'static>, UnlockError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism == 0
            || self.parallelism > Self::MAX_PARALLELISM
        {
            return Err(UnlockError::InvalidPinParams);
        }
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|_| UnlockError::InvalidPinParams)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl PinParams {
    /// The settings that take about [`PinParams::TARGET_MS`] on a device where one pass
    /// over the floor's memory took `one_pass_ms`: as many passes as fit, at least the
    /// floor's and at most a stored record may ask for (32). A clock that measured no
    /// time, or nonsense, gets the most.
    pub fn for_pass_time(one_pass_ms: f64) -> PinParams {
        let passes = Self::TARGET_MS / one_pass_ms;
        let iterations = if passes.is_finite() && passes > 0.0 {
            (passes.round() as u32).clamp(Self::FLOOR.iterations, Self::MAX_ITERATIONS)
        } else {
            Self::MAX_ITERATIONS
        };
        PinParams {
            iterations,
            ..Self::FLOOR
        }
    }

    /// Measures one pass of Argon2id over the floor's memory on this device, timed by
    /// `clock_ms` (milliseconds from any origin), and chooses the settings for about
    /// [`PinParams::TARGET_MS`] ([`PinParams::for_pass_time`]). The pass runs three times
    /// and the fastest counts: the first also pays for growing memory, which a device pays
    /// once, and for code the browser has not optimised yet. Costs about four passes (a
    /// third of a second here).
    pub fn calibrate(mut clock_ms: impl FnMut() -> f64) -> Result<PinParams, UnlockError> {
        let one_pass = PinParams {
            iterations: 1,
            ..Self::FLOOR
        };
        let argon2 = one_pass.argon2()?;
        let mut out = Zeroizing::new([0u8; 32]);
        let mut fastest = f64::INFINITY;
        for _ in 0..3 {
            let start = clock_ms();
            argon2
                .hash_password_into(b"calibration", b"phantom-sync pin", out.as_mut())
                .map_err(|_| UnlockError::InvalidPinParams)?;
            fastest = fastest.min(clock_ms() - start);
        }
        Ok(Self::for_pass_time(fastest))
    }
}

/// A key held by this device alone that wraps and unwraps small secrets.
#[allow(async_fn_in_trait)]
pub trait DeviceKeyring {
    /// Seals `secret` so that only this device's key opens it.
    async fn wrap(&self, secret: &[u8]) -> Result<Vec<u8>, UnlockError>;
    /// Opens what [`DeviceKeyring::wrap`] sealed: [`UnlockError::DeviceKeyRejected`] when
    /// this key did not seal it or it was altered.
    async fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnlockError>;
}

/// A keyring whose key lives in memory: for native tests and tools.
pub struct MemoryKeyring {
    cipher: XChaCha20Poly1305,
    nonces: core::cell::RefCell<[u8; 24]>,
}

impl MemoryKeyring {
    /// A keyring with a fresh random key, gone when the keyring is dropped.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let key = Secret::<32>::generate(rng);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        Self {
            cipher: XChaCha20Poly1305::new(&phantom_aead::Key::from(*key.expose())),
            nonces: core::cell::RefCell::new(nonce),
        }
    }
}

impl DeviceKeyring for MemoryKeyring {
    async fn wrap(&self, secret: &[u8]) -> Result<Vec<u8>, UnlockError> {
        let mut nonce = self.nonces.borrow_mut();
        // A counter in the nonce's last bytes: every wrap gets a fresh nonce.
        for byte in nonce.iter_mut().rev() {
            *byte = byte.wrapping_add(1);
            if *byte != 0 {
                break;
            }
        }
        seal(&self.cipher, &nonce, secret, KEYRING_AAD)
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnlockError> {
        open(&self.cipher, wrapped, KEYRING_AAD).ok_or(UnlockError::DeviceKeyRejected)
    }
}

/// How the passphrase is protected on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockMethod {
    /// The device key alone wraps the passphrase: the vault opens without asking anything.
    DeviceKey,
    /// `counted`: the attempt count is sealed by the device key and must be there (every
    /// PIN set since; records from before read a missing count as none).
    Pin {
        /// The Argon2id settings the PIN's key was derived with.
        params: PinParams,
        /// Argon2id's random salt; it also binds the sealed attempt count to this record.
        salt: [u8; 16],
        /// Whether the attempt count is sealed by the device key.
        counted: bool,
    },
}

/// The wrapped passphrase, as stored in the vault's meta store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlockRecord {
    /// How the passphrase is protected.
    pub method: UnlockMethod,
    /// The passphrase as the device key wrapped it (sealed under the PIN first, with a
    /// PIN); at most 1024 bytes.
    pub wrapped: Vec<u8>,
}

impl UnlockRecord {
    /// Whether recovering the passphrase asks for a PIN.
    pub fn needs_pin(&self) -> bool {
        matches!(self.method, UnlockMethod::Pin { .. })
    }
}

impl WireRecord for UnlockRecord {
    const MIN_LEN: usize = 1 + 4;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        match &self.method {
            UnlockMethod::DeviceKey => w.put_u8(1),
            UnlockMethod::Pin {
                params,
                salt,
                counted,
            } => {
                w.put_u8(if *counted { 3 } else { 2 });
                w.put_u32(params.memory_kib);
                w.put_u32(params.iterations);
                w.put_u32(params.parallelism);
                w.put_bytes(salt);
            }
        }
        w.put_var_bytes("wrapped", &self.wrapped, MAX_WRAPPED_LEN)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let method = match r.u8("unlock_method")? {
            1 => UnlockMethod::DeviceKey,
            method @ (2 | 3) => UnlockMethod::Pin {
                params: PinParams {
                    memory_kib: r.u32("memory_kib")?,
                    iterations: r.u32("iterations")?,
                    parallelism: r.u32("parallelism")?,
                },
                salt: r.array("salt")?,
                counted: method == 3,
            },
            other => {
                return Err(WireError::InvalidValue {
                    field: "unlock_method",
                    value: other.into(),
                })
            }
        };
        Ok(Self {
            method,
            wrapped: r.var_bytes("wrapped", MAX_WRAPPED_LEN)?.to_vec(),
        })
    }
}

/// Wrong PINs so far and the earliest time (Unix seconds) of the next try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PinAttempts {
    /// Wrong PINs in a row since the last right one.
    pub failures: u32,
    /// The earliest time of the next try, in seconds since the Unix epoch.
    pub not_before: u64,
}

impl PinAttempts {
    /// The count after a damaged record: as many failures as earn the longest wait.
    pub fn damaged(now: u64) -> Self {
        Self {
            failures: 11,
            not_before: now.saturating_add(MAX_PIN_BACKOFF_SECS),
        }
    }

    /// Refuses a try before the back-off has passed. A wait longer than any back-off means
    /// the clock went back or the record was edited; it is cut to the longest back-off.
    pub fn check(&self, now: u64) -> Result<(), UnlockError> {
        if now < self.not_before {
            Err(UnlockError::TooManyAttempts {
                retry_after_secs: (self.not_before - now).min(MAX_PIN_BACKOFF_SECS),
            })
        } else {
            Ok(())
        }
    }

    /// Counts a wrong PIN: the wait doubles with each one, up to [`MAX_PIN_BACKOFF_SECS`].
    pub fn record_failure(&mut self, now: u64) -> UnlockError {
        self.failures = self.failures.saturating_add(1);
        let wait = 1u64
            .checked_shl(self.failures.saturating_sub(1))
            .unwrap_or(u64::MAX)
            .min(MAX_PIN_BACKOFF_SECS);
        self.not_before = now.saturating_add(wait);
        UnlockError::WrongPin {
            failures: self.failures,
            retry_after_secs: wait,
        }
    }
}

impl WireRecord for PinAttempts {
    const MIN_LEN: usize = 4 + 8;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_u32(self.failures);
        w.put_u64(self.not_before);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            failures: r.u32("failures")?,
            not_before: r.u64("not_before")?,
        })
    }
}

/// The attempt count sealed by the device key, bound to the PIN record's salt: a count from
/// another record or another device does not open here.
pub async fn seal_attempts(
    keyring: &impl DeviceKeyring,
    salt: &[u8; 16],
    attempts: &PinAttempts,
) -> Result<Vec<u8>, UnlockError> {
    let mut w = Writer::new();
    w.put_bytes(ATTEMPTS_MAGIC);
    w.put_bytes(salt);
    attempts.write(&mut w)?;
    keyring.wrap(&w.into_bytes()).await
}

/// The sealed attempt count; `None` when it does not open or belongs to another record.
pub async fn open_attempts(
    keyring: &impl DeviceKeyring,
    salt: &[u8; 16],
    sealed: &[u8],
) -> Option<PinAttempts> {
    let plain = keyring.unwrap(sealed).await.ok()?;
    let mut r = Reader::new(&plain);
    if r.bytes("attempts_magic", 2).ok()? != ATTEMPTS_MAGIC || r.array::<16>("salt").ok()? != *salt
    {
        return None;
    }
    let attempts = PinAttempts::read(&mut r).ok()?;
    r.finish().ok()?;
    Some(attempts)
}

/// Refuses a new PIN shorter than [`MIN_PIN_LEN`] characters.
pub fn check_new_pin(pin: &str) -> Result<(), UnlockError> {
    if pin.chars().count() < MIN_PIN_LEN {
        Err(UnlockError::PinTooShort)
    } else {
        Ok(())
    }
}

/// Wraps the passphrase with the device key, and first with the PIN if one is given.
pub async fn protect(
    passphrase: &Secret<32>,
    keyring: &impl DeviceKeyring,
    pin: Option<(&str, PinParams)>,
    rng: &mut impl CryptoRng,
) -> Result<UnlockRecord, UnlockError> {
    let Some((pin, params)) = pin else {
        return Ok(UnlockRecord {
            method: UnlockMethod::DeviceKey,
            wrapped: keyring.wrap(passphrase.expose()).await?,
        });
    };
    check_new_pin(pin)?;
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let pin_key = pin_cipher(pin, &params, &salt)?;
    let pin_sealed = seal(
        &pin_key,
        &nonce,
        passphrase.expose(),
        &pin_aad(&params, &salt, true),
    )?;
    Ok(UnlockRecord {
        method: UnlockMethod::Pin {
            params,
            salt,
            counted: true,
        },
        wrapped: keyring.wrap(&pin_sealed).await?,
    })
}

/// Recovers the passphrase; a PIN-protected record needs the PIN.
pub async fn recover(
    record: &UnlockRecord,
    keyring: &impl DeviceKeyring,
    pin: Option<&str>,
) -> Result<Secret<32>, UnlockError> {
    let unwrapped = keyring.unwrap(&record.wrapped).await?;
    let passphrase = match &record.method {
        UnlockMethod::DeviceKey => unwrapped,
        UnlockMethod::Pin {
            params,
            salt,
            counted,
        } => {
            let pin = pin.ok_or(UnlockError::PinRequired)?;
            let pin_key = pin_cipher(pin, params, salt)?;
            let aad = pin_aad(params, salt, *counted);
            open(&pin_key, &unwrapped, &aad).ok_or(UnlockError::WrongPin {
                failures: 0,
                retry_after_secs: 0,
            })?
        }
    };
    let bytes: [u8; 32] = passphrase
        .as_slice()
        .try_into()
        .map_err(|_| UnlockError::DeviceKeyRejected)?;
    Ok(Secret::from_bytes(bytes))
}

/// The PIN layer's associated data binds the settings and salt it was sealed with, and
/// whether its attempt count is sealed.
fn pin_aad(params: &PinParams, salt: &[u8; 16], counted: bool) -> Vec<u8> {
    let mut aad = PIN_AAD.to_vec();
    for value in [params.memory_kib, params.iterations, params.parallelism] {
        aad.extend_from_slice(&value.to_be_bytes());
    }
    aad.extend_from_slice(salt);
    if counted {
        aad.extend_from_slice(COUNTED_AAD);
    }
    aad
}

fn pin_cipher(
    pin: &str,
    params: &PinParams,
    salt: &[u8; 16],
) -> Result<XChaCha20Poly1305, UnlockError> {
    let mut key = Zeroizing::new([0u8; 32]);
    params
        .argon2()?
        .hash_password_into(pin.as_bytes(), salt, key.as_mut())
        .map_err(|_| UnlockError::InvalidPinParams)?;
    Ok(XChaCha20Poly1305::new(&phantom_aead::Key::from(*key)))
}

fn seal(
    cipher: &XChaCha20Poly1305,
    nonce: &[u8; 24],
    secret: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, UnlockError> {
    let ciphertext = cipher
        .encrypt(
            &phantom_aead::XNonce::from(*nonce),
            Payload { msg: secret, aad },
        )
        .map_err(|_| UnlockError::Keyring("sealing failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

fn open(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let (nonce, ciphertext) = sealed.split_at_checked(24)?;
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    cipher
        .decrypt(
            &phantom_aead::XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}
