//! XChaCha20-Poly1305 and ChaCha20-Poly1305 as phantom-sync seals with them, compiled at full
//! speed while the wasm package around them is compiled for size.
//!
//! Rust compiles generic code in the crate that names its concrete types. RustCrypto's
//! ciphers are generic, so used straight from phantom-sync (built at opt-level "z" for a
//! small download, brief §6) their hot loops were built for size too, and ran a quarter
//! slower in the browser. This crate names the two ciphers itself and is built at
//! opt-level 3 (`[profile.shipped.package.phantom-aead]`); its methods are never inlined, so
//! the loops stay here. The API is the `aead` crate's `encrypt`/`decrypt`, nothing more.
//!
//! ```
//! use phantom_aead::{Key, Payload, XChaCha20Poly1305, XNonce};
//!
//! let cipher = XChaCha20Poly1305::new(&Key::from([7; 32]));
//! let nonce = XNonce::from([1; 24]);
//! let sealed = cipher.encrypt(&nonce, Payload { msg: b"hello", aad: b"context" })?;
//! assert_eq!(cipher.decrypt(&nonce, Payload { msg: &sealed, aad: b"context" })?, b"hello");
//! assert!(cipher.decrypt(&nonce, Payload { msg: &sealed, aad: b"other" }).is_err());
//! # Ok::<(), phantom_aead::Error>(())
//! ```

use chacha20poly1305::aead::{Aead, KeyInit};
pub use chacha20poly1305::aead::{Error, Payload};
pub use chacha20poly1305::{Key, Nonce, XNonce};

macro_rules! sealing_cipher {
    ($(#[$doc:meta])* $name:ident, $nonce:ty) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(chacha20poly1305::$name);

        impl $name {
            pub fn new(key: &Key) -> Self {
                Self(chacha20poly1305::$name::new(key))
            }

            /// The ciphertext with its 16-byte tag appended.
            #[inline(never)]
            pub fn encrypt(&self, nonce: &$nonce, payload: Payload<'_, '_>) -> Result<Vec<u8>, Error> {
                self.0.encrypt(nonce, payload)
            }

            /// The plaintext, or an error when the tag does not authenticate the ciphertext
            /// and associated data.
            #[inline(never)]
            pub fn decrypt(&self, nonce: &$nonce, payload: Payload<'_, '_>) -> Result<Vec<u8>, Error> {
                self.0.decrypt(nonce, payload)
            }
        }
    };
}

sealing_cipher!(
    /// ChaCha20-Poly1305 (RFC 8439), 12-byte nonces: the pairing channel's counter nonces.
    ChaCha20Poly1305,
    Nonce
);

sealing_cipher!(
    /// XChaCha20-Poly1305, 24-byte nonces: random nonces for the vault, messages and history.
    XChaCha20Poly1305,
    XNonce
);

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 §2.8.2: the AEAD test vector.
    #[test]
    fn chacha20_poly1305_matches_rfc_8439() {
        let key: [u8; 32] = std::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [
            0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47,
        ];
        let aad = [
            0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
        ];
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let sealed = ChaCha20Poly1305::new(&Key::from(key))
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("seals");
        assert_eq!(sealed.len(), plaintext.len() + 16);
        assert_eq!(&sealed[..4], &[0xd3, 0x1a, 0x8d, 0x34]);
        assert_eq!(
            &sealed[plaintext.len()..],
            &[
                0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a, 0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60,
                0x06, 0x91
            ]
        );
    }

    #[test]
    fn a_changed_byte_does_not_open() {
        let cipher = XChaCha20Poly1305::new(&Key::from([3; 32]));
        let nonce = XNonce::from([9; 24]);
        let mut sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &[1; 100],
                    aad: &[],
                },
            )
            .expect("seals");
        sealed[50] ^= 1;
        assert!(cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed,
                    aad: &[]
                }
            )
            .is_err());
    }
}
