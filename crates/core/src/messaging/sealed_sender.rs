//! Sealed sender: who wrote a message, and to which devices, is readable by its recipients
//! only.
//!
//! A [`SealedMessage`] names its sender and every recipient device in the clear. Sealed
//! sender moves the sender's persona and device, and each recipient's Olm message, into a
//! *header* per recipient, encrypted to the recipient device's sealing key (an X25519 key
//! on its roster entry). One ephemeral key serves every header, so a recipient does one
//! Diffie-Hellman and tries its key on each header; the one that opens gives back the
//! sealed message as if it had travelled in the clear, with this device's seal alone. A
//! node sees the header count and sizes, never a key.
//!
//! ```
//! use phantom_core::messaging::sealed::SealedMessage;
//! use phantom_core::messaging::sealed_sender::{SealingSecret, SenderSealedMessage};
//! use phantom_core::messaging::sessions::Seal;
//! use phantom_core::secret::Secret;
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let laptop = SealingSecret::derive(&Secret::from_bytes([7; 32]));
//! let message = SealedMessage {
//!     sender_persona: [1; 32],
//!     sender_device: [2; 32],
//!     seals: vec![Seal { recipient: [3; 32], message_type: 1, ciphertext: vec![4; 100] }],
//!     nonce: [5; 24],
//!     body: vec![6; 40],
//! };
//! let sealed = SenderSealedMessage::seal(&message, &[laptop.public_key()], &mut rng)?;
//! assert_eq!(sealed.open(&laptop, &[3; 32]), Some(message));
//!
//! let stranger = SealingSecret::derive(&Secret::from_bytes([8; 32]));
//! assert_eq!(sealed.open(&stranger, &[3; 32]), None);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use core::fmt;

use hkdf::Hkdf;
use phantom_aead::{ChaCha20Poly1305, Payload};
use rand_core::CryptoRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::messaging::sealed::SealedMessage;
use crate::messaging::sessions::{Seal, MAX_OLM_MESSAGE_LEN};
use crate::secret::Secret;
use crate::wire::{Reader, WireError, Writer};

const SEALING_KEY_INFO: &[u8] = b"phantom-sync sealing key v1";
const HEADER_KEY_INFO: &[u8] = b"phantom-sync sealed sender v1";
/// Header plaintexts are padded to a multiple of this, so sizes say less about the Olm
/// message inside (a first, pre-key message is longer).
const HEADER_PADDING: usize = 128;
const TAG_LEN: usize = 16;
/// The longest header: sender, seal, padding and tag.
pub const MAX_HEADER_LEN: usize =
    (32 + 32 + 1 + 4 + MAX_OLM_MESSAGE_LEN).div_ceil(HEADER_PADDING) * HEADER_PADDING + TAG_LEN;

/// This device's sealing secret, derived from its device identity seed: nothing new to
/// store, and a device's sealing key never changes.
pub struct SealingSecret {
    secret: StaticSecret,
    public_key: [u8; 32],
}

impl SealingSecret {
    /// The sealing secret of the device with this identity seed: always the same one.
    pub fn derive(identity_seed: &Secret<32>) -> Self {
        let mut scalar = Zeroizing::new([0u8; 32]);
        // The output is 32 bytes, far below HKDF-SHA256's limit, so expansion cannot fail.
        let _ = Hkdf::<Sha256>::new(None, identity_seed.expose())
            .expand(SEALING_KEY_INFO, scalar.as_mut());
        let secret = StaticSecret::from(*scalar);
        Self {
            public_key: PublicKey::from(&secret).to_bytes(),
            secret,
        }
    }

    /// The key a roster lists for this device.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }
}

impl fmt::Debug for SealingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingSecret(redacted)")
    }
}

/// A sealed message with its sender and recipients inside one header per recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderSealedMessage {
    /// The public half of the ephemeral key every header is sealed with.
    pub ephemeral: [u8; 32],
    /// One encrypted header per recipient device, each holding the sender and that
    /// device's seal; at most [`MAX_HEADER_LEN`] bytes each.
    pub headers: Vec<Vec<u8>>,
    /// The XChaCha20-Poly1305 nonce of `body`, as in the [`SealedMessage`].
    pub nonce: [u8; 24],
    /// The content, encrypted once for every recipient, as in the [`SealedMessage`].
    pub body: Vec<u8>,
}

impl SenderSealedMessage {
    /// Seals `message`: its `n`-th seal goes in a header to `sealing_keys[n]`.
    pub fn seal(
        message: &SealedMessage,
        sealing_keys: &[[u8; 32]],
        rng: &mut impl CryptoRng,
    ) -> Result<Self, WireError> {
        if sealing_keys.len() != message.seals.len() {
            return Err(WireError::InvalidValue {
                field: "sealing_keys",
                value: sealing_keys.len() as u64,
            });
        }
        let mut scalar = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(scalar.as_mut());
        let ephemeral_secret = StaticSecret::from(*scalar);
        let ephemeral = PublicKey::from(&ephemeral_secret).to_bytes();
        let mut headers = Vec::with_capacity(sealing_keys.len());
        for (seal, recipient) in message.seals.iter().zip(sealing_keys) {
            let key = header_key(&ephemeral_secret, recipient, &ephemeral, recipient).ok_or(
                WireError::InvalidValue {
                    field: "sealing_key",
                    value: 0,
                },
            )?;
            let mut w = Writer::new();
            w.put_bytes(&message.sender_persona);
            w.put_bytes(&message.sender_device);
            w.put_u8(seal.message_type);
            w.put_var_bytes("seal", &seal.ciphertext, MAX_OLM_MESSAGE_LEN)?;
            let mut plaintext = Zeroizing::new(w.into_bytes());
            let padded = plaintext.len().div_ceil(HEADER_PADDING) * HEADER_PADDING;
            plaintext.resize(padded, 0);
            let header = key
                .encrypt(
                    &HEADER_NONCE.into(),
                    Payload {
                        msg: &plaintext,
                        aad: &header_aad(&ephemeral, &message.nonce),
                    },
                )
                .map_err(|_| WireError::InvalidValue {
                    field: "header",
                    value: plaintext.len() as u64,
                })?;
            headers.push(header);
        }
        Ok(Self {
            ephemeral,
            headers,
            nonce: message.nonce,
            body: message.body.clone(),
        })
    }

    /// The message as its sender sealed it, holding this device's seal alone (addressed to
    /// `device_key`, its Olm identity key); `None` if no header is for this device.
    pub fn open(&self, secret: &SealingSecret, device_key: &[u8; 32]) -> Option<SealedMessage> {
        let key = header_key(
            &secret.secret,
            &self.ephemeral,
            &self.ephemeral,
            &secret.public_key,
        )?;
        let aad = header_aad(&self.ephemeral, &self.nonce);
        let plaintext = self.headers.iter().find_map(|header| {
            key.decrypt(
                &HEADER_NONCE.into(),
                Payload {
                    msg: header,
                    aad: &aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
        })?;
        let mut r = Reader::new(&plaintext);
        let sender_persona = r.array("sender_persona").ok()?;
        let sender_device = r.array("sender_device").ok()?;
        let seal = Seal {
            recipient: *device_key,
            message_type: r.u8("seal_type").ok()?,
            ciphertext: r.var_bytes("seal", MAX_OLM_MESSAGE_LEN).ok()?.to_vec(),
        };
        Some(SealedMessage {
            sender_persona,
            sender_device,
            seals: vec![seal],
            nonce: self.nonce,
            body: self.body.clone(),
        })
    }
}

/// Each header key seals exactly one header, so a fixed nonce is never reused with it.
const HEADER_NONCE: [u8; 12] = [0; 12];

fn header_aad(ephemeral: &[u8; 32], nonce: &[u8; 24]) -> Vec<u8> {
    [HEADER_KEY_INFO, ephemeral, nonce].concat()
}

/// The key of the header from `ephemeral` to `recipient`, made with one side's `secret`
/// and the other side's public key `peer`; `None` for a low-order key, with which every
/// secret is the same.
fn header_key(
    secret: &StaticSecret,
    peer: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> Option<ChaCha20Poly1305> {
    let shared = secret.diffie_hellman(&PublicKey::from(*peer));
    if !shared.was_contributory() {
        return None;
    }
    let mut key = Zeroizing::new([0u8; 32]);
    let _ = Hkdf::<Sha256>::new(
        Some(&[ephemeral.as_slice(), recipient].concat()),
        shared.as_bytes(),
    )
    .expand(HEADER_KEY_INFO, key.as_mut());
    Some(ChaCha20Poly1305::new(&phantom_aead::Key::from(*key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    fn message(olm_len: usize) -> SealedMessage {
        SealedMessage {
            sender_persona: [1; 32],
            sender_device: [2; 32],
            seals: vec![Seal {
                recipient: [3; 32],
                message_type: 1,
                ciphertext: vec![4; olm_len],
            }],
            nonce: [5; 24],
            body: vec![6; 40],
        }
    }

    fn device(n: u8) -> SealingSecret {
        SealingSecret::derive(&Secret::from_bytes([n; 32]))
    }

    #[test]
    fn a_header_opens_only_with_its_own_ephemeral_key_and_nonce() {
        let laptop = device(7);
        let mut rng = SeededRng::new(1);
        let sealed = SenderSealedMessage::seal(&message(100), &[laptop.public_key()], &mut rng)
            .expect("sealed");
        let other = SenderSealedMessage::seal(&message(100), &[laptop.public_key()], &mut rng)
            .expect("sealed");
        let moved = SenderSealedMessage {
            headers: other.headers.clone(),
            ..sealed.clone()
        };
        assert_eq!(moved.open(&laptop, &[3; 32]), None, "another ephemeral key");
        let renonced = SenderSealedMessage {
            nonce: [9; 24],
            ..sealed.clone()
        };
        assert_eq!(renonced.open(&laptop, &[3; 32]), None, "another body nonce");
        assert!(sealed.open(&laptop, &[3; 32]).is_some());
    }

    #[test]
    fn each_recipient_opens_its_own_header_and_no_other() {
        let (laptop, phone) = (device(7), device(8));
        let mut two = message(100);
        two.seals.push(Seal {
            recipient: [10; 32],
            message_type: 0,
            ciphertext: vec![11; 180],
        });
        let sealed = SenderSealedMessage::seal(
            &two,
            &[laptop.public_key(), phone.public_key()],
            &mut SeededRng::new(2),
        )
        .expect("sealed");
        let on_phone = sealed.open(&phone, &[10; 32]).expect("the phone's header");
        assert_eq!(on_phone.seals, vec![two.seals[1].clone()]);
        let on_laptop = sealed.open(&laptop, &[3; 32]).expect("the laptop's header");
        assert_eq!(on_laptop.seals, vec![two.seals[0].clone()]);
    }

    #[test]
    fn low_order_keys_are_refused_and_sizes_are_padded() {
        let mut rng = SeededRng::new(3);
        assert!(SenderSealedMessage::seal(&message(100), &[[0; 32]], &mut rng).is_err());
        let key = device(7).public_key();
        let short = SenderSealedMessage::seal(&message(60), &[key], &mut rng).expect("sealed");
        let long = SenderSealedMessage::seal(&message(120), &[key], &mut rng).expect("sealed");
        assert_eq!(short.headers[0].len(), long.headers[0].len());
        assert_eq!(short.headers[0].len() % HEADER_PADDING, TAG_LEN);
    }
}
