//! GF(2^4) and GF(2^8), the fields of the QR format information and of the data blocks'
//! Reed-Solomon codes.
//!
//! Multiplication goes through logarithm and exponent tables built at compile time (under
//! 1 KiB for both fields). Upstream uses `g2p`, whose full 256 × 256 multiplication table
//! per field put 128 KiB into every wasm build; error correction runs once per decoded
//! code, so the table lookup it saved is not worth that download.

use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Sub};

/// What the Reed-Solomon and BCH decoders need of a field.
pub trait GaloisField:
    Copy
    + PartialEq
    + Add<Output = Self>
    + AddAssign
    + Sub<Output = Self>
    + Mul<Output = Self>
    + MulAssign
    + Div<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    /// A primitive element: its powers run through every non-zero element.
    const GENERATOR: Self;

    fn pow(self, exponent: usize) -> Self;
}

macro_rules! binary_field {
    ($name:ident, bits: $bits:expr, modulus: $modulus:expr) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u8);

        impl $name {
            const SIZE: usize = 1 << $bits;
            /// The order of the multiplicative group.
            const ORDER: usize = Self::SIZE - 1;
            const MASK: u8 = (Self::SIZE - 1) as u8;
            /// `EXP[i]` is the generator to the power `i`, written out twice so that the sum of
            /// two logarithms indexes it directly.
            const EXP: [u8; 2 * Self::ORDER] = {
                let mut exp = [0u8; 2 * Self::ORDER];
                let mut value: u16 = 1;
                let mut i = 0;
                while i < Self::ORDER {
                    exp[i] = value as u8;
                    exp[i + Self::ORDER] = value as u8;
                    value <<= 1;
                    if value & (1 << $bits) != 0 {
                        value ^= $modulus;
                    }
                    i += 1;
                }
                exp
            };
            /// `LOG[x]` is the power of the generator that gives `x` (unused for zero).
            const LOG: [u8; Self::SIZE] = {
                let mut log = [0u8; Self::SIZE];
                let mut i = 0;
                while i < Self::ORDER {
                    log[Self::EXP[i] as usize] = i as u8;
                    i += 1;
                }
                log
            };

            fn log(self) -> usize {
                Self::LOG[(self.0 & Self::MASK) as usize] as usize
            }

            fn exp(power: usize) -> Self {
                Self(Self::EXP[power % Self::ORDER])
            }

            fn is_zero(self) -> bool {
                self.0 & Self::MASK == 0
            }
        }

        impl GaloisField for $name {
            const ZERO: Self = Self(0);
            const ONE: Self = Self(1);
            const GENERATOR: Self = Self(2);

            fn pow(self, exponent: usize) -> Self {
                if exponent == 0 {
                    Self::ONE
                } else if self.is_zero() {
                    Self::ZERO
                } else {
                    Self::exp(self.log() * (exponent % Self::ORDER))
                }
            }
        }

        impl Add for $name {
            type Output = Self;
            fn add(self, other: Self) -> Self {
                Self(self.0 ^ other.0)
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, other: Self) {
                *self = *self + other;
            }
        }

        impl Sub for $name {
            type Output = Self;
            fn sub(self, other: Self) -> Self {
                self + other
            }
        }

        impl Mul for $name {
            type Output = Self;
            fn mul(self, other: Self) -> Self {
                if self.is_zero() || other.is_zero() {
                    Self::ZERO
                } else {
                    Self::exp(self.log() + other.log())
                }
            }
        }

        impl MulAssign for $name {
            fn mul_assign(&mut self, other: Self) {
                *self = *self * other;
            }
        }

        /// Division by zero gives zero: the decoders never divide by zero, and a field
        /// operation that cannot panic keeps a hostile frame from aborting the page.
        impl Div for $name {
            type Output = Self;
            fn div(self, other: Self) -> Self {
                if self.is_zero() || other.is_zero() {
                    Self::ZERO
                } else {
                    Self::exp(self.log() + Self::ORDER - other.log())
                }
            }
        }
    };
}

binary_field!(GF16, bits: 4, modulus: 0b1_0011);
binary_field!(GF256, bits: 8, modulus: 0b1_0001_1101);

#[cfg(test)]
mod tests {
    use super::*;

    /// Carry-less multiplication reduced by the modulus: the definition, bit by bit.
    fn reference_mul(a: u8, b: u8, bits: u32, modulus: u16) -> u8 {
        let mut product: u16 = 0;
        for i in 0..bits {
            if b & (1 << i) != 0 {
                product ^= (a as u16) << i;
            }
        }
        for i in (bits..2 * bits).rev() {
            if product & (1 << i) != 0 {
                product ^= modulus << (i - bits);
            }
        }
        product as u8
    }

    #[test]
    fn gf256_multiplication_and_division_match_the_definition() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let product = GF256(a) * GF256(b);
                assert_eq!(product.0, reference_mul(a, b, 8, 0b1_0001_1101), "{a} * {b}");
                if b != 0 {
                    assert_eq!(product / GF256(b), GF256(a), "({a} * {b}) / {b}");
                }
            }
        }
    }

    #[test]
    fn gf16_multiplication_and_division_match_the_definition() {
        for a in 0..16u8 {
            for b in 0..16u8 {
                let product = GF16(a) * GF16(b);
                assert_eq!(product.0, reference_mul(a, b, 4, 0b1_0011), "{a} * {b}");
                if b != 0 {
                    assert_eq!(product / GF16(b), GF16(a), "({a} * {b}) / {b}");
                }
            }
        }
    }

    #[test]
    fn the_generators_powers_reach_every_nonzero_element() {
        let mut seen = [false; 256];
        for i in 0..255 {
            seen[GF256::GENERATOR.pow(i).0 as usize] = true;
        }
        assert!(seen[1..].iter().all(|&s| s));
        let mut seen = [false; 16];
        for i in 0..15 {
            seen[GF16::GENERATOR.pow(i).0 as usize] = true;
        }
        assert!(seen[1..].iter().all(|&s| s));
    }

    #[test]
    fn powers_agree_with_repeated_multiplication() {
        for base in [0u8, 1, 2, 3, 29, 200, 255] {
            let mut product = GF256::ONE;
            for exponent in 0..600 {
                assert_eq!(GF256(base).pow(exponent), product, "{base}^{exponent}");
                product *= GF256(base);
            }
        }
    }

    #[test]
    fn division_by_zero_gives_zero() {
        assert_eq!(GF256(7) / GF256::ZERO, GF256::ZERO);
        assert_eq!(GF16(7) / GF16::ZERO, GF16::ZERO);
    }
}
