//! # phantom-sync
//!
//! Makes a browser tab or an installed PWA a *linked device* of a Phantom Net persona.
//!
//! The crate is layered the way the product is:
//!
//! - **Sans-IO core** — plain state machines and data types, no network, storage, clock or
//!   randomness of their own; tested natively and in the browser alike:
//!   [`pairing`] (the seed's four steps: [`pairing::invitation`], [`pairing::channel`],
//!   [`pairing::words`], [`pairing::messages`], [`pairing::state`] — the `SyncViewModel`),
//!   [`persona`], [`roster`] (the persona's devices, signed), [`messaging`] (vodozemac
//!   sessions per device, fan-out, dedupe, read-state sync), [`mailbox`], and the shared
//!   [`wire`] codec, [`encoding`] (hex and base32 text) and [`secret`] type; [`history`] (encrypted, content-addressed history
//!   blocks and their manifest).
//!   The [`vault`] (encrypted records over a storage trait) and the [`mailbox`] protocol
//!   and replication logic are sans-IO too.
//! - **Drivers** — [`drivers`]: QR rendering and camera-frame decoding, IndexedDB storage and
//!   the WebCrypto device keyring; [`network`]: libp2p (the mailbox codec and client, shared
//!   with the DHT nodes in `node/`).
//! - **JS facade** — `facade` (wasm32 only): `SyncManager`, the seed's API for the PWA.
//!
//! The wire formats are specified in `docs/PROTOCOL.md`.

pub mod drivers;
pub mod encoding;
pub mod history;
pub mod mailbox;
pub mod messaging;
pub mod network;
pub mod pairing;
pub mod persona;
pub mod roster;
pub mod secret;
pub mod testing;
pub mod vault;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod facade;

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
