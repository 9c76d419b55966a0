//! Fixed-size secret bytes that are wiped on drop and never printed.
//!
//! Every key the crate holds — a persona's root key, a database passphrase, a channel key —
//! is a [`Secret`]. Its `Debug` output says only how long it is, so a secret cannot reach a
//! log by accident, and comparison runs in constant time.
//!
//! ```
//! use phantom_mailbox::secret::Secret;
//!
//! let key = Secret::<32>::from_bytes([7; 32]);
//! assert_eq!(format!("{key:?}"), "Secret<32>(redacted)");
//! assert_eq!(key.expose()[0], 7);
//! ```

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// `N` secret bytes, zeroized on drop, redacted in `Debug`. Transparent, so a test can
/// look at the bytes a dropped one leaves behind.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
#[repr(transparent)]
pub struct Secret<const N: usize>([u8; N]);

impl<const N: usize> Secret<N> {
    /// Wraps bytes that are already secret; the caller's copy should be zeroized by the caller.
    pub fn from_bytes(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// Draws fresh secret bytes from a cryptographic random source.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; N];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The secret bytes, for handing to a cipher or KDF.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> PartialEq for Secret<N> {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl<const N: usize> Eq for Secret<N> {}

impl<const N: usize> fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret<{N}>(redacted)")
    }
}
