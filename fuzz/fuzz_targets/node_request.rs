//! What a DHT node reads from a peer, and what a client reads back from a node.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::mailbox::protocol::{MailboxRequest, MailboxResponse};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(request) = MailboxRequest::decode(bytes) {
        assert_eq!(MailboxRequest::decode(&request.encode()), Ok(request));
    }
    if let Ok(response) = MailboxResponse::decode(bytes) {
        assert_eq!(MailboxResponse::decode(&response.encode()), Ok(response));
    }
});
