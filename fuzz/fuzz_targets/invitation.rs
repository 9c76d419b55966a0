//! The QR code's payload: the 98 invitation bytes a camera reads.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::pairing::invitation::PairingInvitation;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(invitation) = PairingInvitation::decode(bytes) {
        assert_eq!(
            PairingInvitation::decode(&invitation.encode()),
            Ok(invitation)
        );
    }
});
