//! # phantom-sync
//!
//! Makes a browser tab or an installed PWA a *linked device* of a Phantom Net persona.
//!
//! The workspace is layered the way the product is, one crate per layer, so that a layer
//! reaching into the one above it does not compile:
//!
//! - **`phantom-mailbox`** — what a device and a DHT node share: the [`wire`] codec, the
//!   [`mailbox`] protocol, its envelopes and keys.
//! - **`phantom-core`** — the sans-IO core of a device: [`pairing`], [`persona`],
//!   [`roster`], [`messaging`], [`history`], [`vault`]. No network, storage or clock.
//! - **`phantom-network`** — [`network`]: libp2p (the mailbox codec and client, shared
//!   with the DHT nodes in `node/`).
//! - **This crate** — [`drivers`] (QR rendering and camera-frame decoding, IndexedDB
//!   storage, the WebCrypto device keyring, the WebRTC data channel) and the JS facade,
//!   `facade` (wasm32 only): `SyncManager`, the seed's API for the PWA. It re-exports the
//!   crates below it under their module names.
//!
//! The wire formats are specified in `docs/PROTOCOL.md`.

pub use phantom_core::{
    device, encoding, history, mailbox, messaging, pairing, persona, roster, secret, tagged,
    testing, vault, wire,
};
pub use phantom_network as network;

pub mod drivers;

#[cfg(target_arch = "wasm32")]
pub mod facade;

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
