//! Text a person pastes or types: a link code, a contact card code, the three words.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::messaging::sealed::ContactCard;
use phantom_sync::pairing::invitation::PairingInvitation;
use phantom_sync::pairing::words::AuthWords;

fuzz_target!(|text: &str| {
    if let Ok(invitation) = PairingInvitation::from_link_code(text) {
        assert_eq!(
            PairingInvitation::from_link_code(&invitation.to_link_code()),
            Ok(invitation)
        );
    }
    let _ = ContactCard::from_link_code(text);
    let _ = AuthWords::parse(text);
});
