//! Camera frames: any size and any pixels, into the QR reader.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::drivers::qr;

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (width, height, pixels) = input;
    let _ = qr::decode_luma(u32::from(width), u32::from(height), pixels);
    let _ = qr::decode_rgba(u32::from(width) / 2, u32::from(height) / 2, pixels);
});
