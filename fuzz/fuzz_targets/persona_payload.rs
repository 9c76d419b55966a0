//! The persona as it arrives on a new device (inside the channel), and as the vault keeps it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::pairing::messages::PersonaPayload;
use phantom_sync::pairing::TargetPairing;
use phantom_sync::persona::Persona;

fuzz_target!(|bytes: &[u8]| {
    let _ = PersonaPayload::decode(bytes);
    let _ = Persona::decode(bytes);
    let _ = TargetPairing::resume(bytes);
});
