//! A signed roster, from a profile mailbox, a contact card or a sealed message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::roster::SignedRoster;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(signed) = SignedRoster::decode(bytes) {
        if let Ok(key) = signed.claimed_persona() {
            let _ = signed.verify(&key);
        }
    }
});
