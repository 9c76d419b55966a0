//! Drivers: the thin layers between the sans-IO core and the outside world (camera and QR
//! codes; IndexedDB storage, the WebCrypto device keyring and direct WebRTC data channels
//! in the browser; the network as it arrives). No protocol logic lives here.

pub mod qr;

#[cfg(target_arch = "wasm32")]
pub mod data_channel;
#[cfg(target_arch = "wasm32")]
pub mod indexeddb;
#[cfg(target_arch = "wasm32")]
pub mod webcrypto;
