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
//!
//! The mailbox protocol, the [`wire`] codec, [`encoding`] and [`secret`] come from
//! `phantom-mailbox` (the part a DHT node shares) and are re-exported here under the same
//! names. The wire formats are specified in `docs/PROTOCOL.md`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use phantom_mailbox as mailbox;
pub use phantom_mailbox::{encoding, secret, testing, wire};

pub mod device;
pub mod history;
pub mod messaging;
pub mod pairing;
pub mod persona;
pub mod roster;
pub mod vault;
