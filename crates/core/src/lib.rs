//! # phantom-core
//!
//! A linked device's sans-IO core: plain state machines and data types with no network,
//! storage, clock or randomness of their own, tested natively and in the browser alike.
//! The crate has no dependency that does I/O (no libp2p, `web-sys` or tokio), so a module
//! here that reached for one would not compile.
//!
//! - [`pairing`]: the seed's four steps — [`pairing::invitation`], [`pairing::channel`],
//!   [`pairing::words`], [`pairing::messages`], and [`pairing::state`] (the `SyncViewModel`).
//! - [`persona`] and [`roster`] (the persona's devices, signed).
//! - [`messaging`]: Olm sessions per device, sealed sender, fan-out, dedupe, read-state
//!   sync, the durable outbox and the cursors a device reads its mailboxes with.
//! - [`history`]: encrypted, content-addressed history blocks, their manifest, and the
//!   direct channel's rules.
//! - [`vault`]: encrypted records over a storage trait.
//! - [`device`]: a device's messaging and the rules of its sync, as one machine driven by
//!   requests and answers.
//! - [`tagged`]: the compact serde format Olm pickles are kept in.
//!
//! The mailbox protocol, the [`wire`] codec, [`encoding`] and [`secret`] come from
//! `phantom-mailbox` (the part a DHT node shares) and are re-exported here under the same
//! names. The wire formats are specified in `docs/PROTOCOL.md`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use phantom_mailbox as mailbox;
pub use phantom_mailbox::{encoding, secret, testing, wire};

/// Declares a 16-byte id of one kind of thing, a type apart from every other kind's: made
/// from its bytes as stored or sent (any 16 are accepted), read back as bytes, shown in
/// hex by `Debug`. `random` in front adds `random`, for ids that are 16 random bytes.
macro_rules! byte_id {
    (random $(#[$meta:meta])* $name:ident) => {
        byte_id! { $(#[$meta])* $name }

        impl $name {
            /// A fresh random id.
            pub fn random(rng: &mut impl rand_core::CryptoRng) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill_bytes(&mut bytes);
                Self(bytes)
            }
        }
    };
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        impl $name {
            /// An id as stored or sent; any 16 bytes are accepted.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The id's 16 bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let hex = crate::encoding::hex(&self.0);
                write!(f, concat!(stringify!($name), "({})"), hex)
            }
        }
    };
}

pub mod device;
pub mod history;
pub mod messaging;
pub mod pairing;
pub mod persona;
pub mod roster;
pub mod tagged;
pub mod vault;
