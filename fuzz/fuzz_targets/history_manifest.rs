//! A history transfer's manifest, and the frames of the direct history channel.
#![no_main]
use libfuzzer_sys::fuzz_target;
use phantom_sync::history::direct::{DirectServer, WantFrame};
use phantom_sync::history::manifest::Manifest;

fuzz_target!(|bytes: &[u8]| {
    let _ = Manifest::decode(bytes);
    if let Ok(want) = WantFrame::decode(bytes) {
        let _ = want.encode();
    }
    if let Ok(server) = DirectServer::new(bytes.to_vec()) {
        let want = WantFrame::decode(bytes).ok();
        if let Some(want) = want {
            let _ = server.frames_for(&want);
        }
    }
});
