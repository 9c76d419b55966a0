//! What reaches a device showing an invitation: framed channel messages, and the request,
//! abort and acknowledgement inside them, through the source's state machine itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::pairing::channel::ChannelMessage;
use phantom_sync::pairing::messages::{Abort, ImportAck, SyncRequest};
use phantom_sync::pairing::SourcePairing;
use phantom_sync::testing::SeededRng;

fuzz_target!(|bytes: &[u8]| {
    let _ = ChannelMessage::peek_kind(bytes);
    let _ = ChannelMessage::decode(bytes);
    let _ = SyncRequest::decode(bytes);
    let _ = Abort::decode(bytes);
    let _ = ImportAck::decode(bytes);
    let mut rng = SeededRng::new(1);
    let mut source = SourcePairing::new();
    if source.generate_invitation(0, &mut rng).is_ok() {
        let _ = source.receive(bytes, 1, &mut rng);
    }
});
