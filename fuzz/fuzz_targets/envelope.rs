//! What a mailbox holds: envelopes of inbox items, their sealed content and seals.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::messaging::sealed::{Content, InboxItem, SealedKey};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(envelope) = Envelope::new(bytes.to_vec()) {
        let _ = InboxItem::decode(envelope.as_bytes());
    }
    let _ = Content::decode(bytes);
    let _ = SealedKey::from_bytes(bytes);
});
