//! Drivers: the thin layers between the sans-IO core and the outside world (camera and QR
//! codes today; storage and network as they arrive). No protocol logic lives here.

pub mod qr;
