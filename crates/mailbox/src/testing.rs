//! Deterministic randomness for tests, doc examples and test vectors.
//!
//! The sans-IO core never draws randomness itself; it is handed a [`rand_core::CryptoRng`].
//! Production code hands it the operating system's generator; tests hand it a
//! [`SeededRng`] so that runs — and the byte-exact vectors in `tests/vectors/` — repeat.
//! `SeededRng` is **not** a secure generator for real keys: its seed is a small number.
//!
//! ```
//! use phantom_mailbox::testing::SeededRng;
//! use rand_core::Rng;
//!
//! let (mut a, mut b) = (SeededRng::new(9), SeededRng::new(9));
//! assert_eq!(a.next_u64(), b.next_u64());
//! ```

use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};

/// SHA-256 in counter mode over a 64-bit seed: block *i* is `SHA-256(seed_be || i_be)`.
#[derive(Debug, Clone)]
pub struct SeededRng {
    seed: u64,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededRng {
    /// A generator whose every output follows from `seed`: the same seed, the same bytes.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let digest = Sha256::new()
            .chain_update(self.seed.to_be_bytes())
            .chain_update(self.counter.to_be_bytes())
            .finalize();
        self.block.copy_from_slice(&digest);
        self.counter += 1;
        self.used = 0;
    }
}

impl TryRng for SeededRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_be_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_be_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for byte in dst {
            if self.used == self.block.len() {
                self.refill();
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

impl TryCryptoRng for SeededRng {}
