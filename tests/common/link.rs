//! Link Device through the JS facade over the local network `scripts/test.sh` starts:
//! devices, a scanned invitation, the steps of the link, and syncing until an event.

use phantom_sync::facade::SyncManager;
use wasm_bindgen::{JsCast, JsValue};

use super::browser::{
    code_of, fresh_device, random_seed, rasterise, test_nodes, FRAME_HEIGHT, FRAME_WIDTH,
};

/// Rounds of waiting before a step counts as lost (each waits up to a second).
pub const ROUNDS: usize = 20;

pub async fn device(name: &str) -> SyncManager {
    let profile = format!("link-{name}-{}", random_seed());
    let device = fresh_device(&profile, name).await;
    device
        .connect_network(test_nodes(), None, None)
        .expect("connects");
    device
}

pub fn get(value: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(value, &key.into()).expect("a property")
}

pub fn text(value: &JsValue, key: &str) -> String {
    get(value, key).as_string().unwrap_or_default()
}

/// Sends what `from` has for the network, then hands `to` what arrives until it says `want`.
pub async fn deliver_until(from: &SyncManager, to: &SyncManager, want: &str) -> Result<(), String> {
    from.flush_to_network().await.map_err(|e| code_of(&e))?;
    for _ in 0..ROUNDS {
        for bytes in to.poll_network(1000).await.map_err(|e| code_of(&e))?.iter() {
            let bytes: js_sys::Uint8Array = bytes.dyn_into().expect("bytes");
            match to.receive(bytes.to_vec()).await {
                Ok(event) if event == want => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(code_of(&error)),
            }
        }
    }
    Err(format!("no {want}"))
}

/// Syncs `device` until an event satisfies `wanted`; returns it.
pub async fn sync_until(device: &SyncManager, wanted: impl Fn(&JsValue) -> bool) -> JsValue {
    let mut seen = Vec::new();
    for _ in 0..ROUNDS {
        let events = device.sync_messages(1000).await.expect("synced");
        if let Some(event) = events.iter().find(|e| wanted(e)) {
            return event;
        }
        seen.extend(
            events
                .iter()
                .map(|e| format!("{} {}", text(&e, "type"), text(&e, "code"))),
        );
    }
    panic!("the awaited event never came; saw {seen:?}");
}

pub fn message_with(body: &'static str) -> impl Fn(&JsValue) -> bool {
    move |event| text(event, "type") == "message" && text(event, "body") == body
}

/// Phone A shows an invitation; the laptop decodes it from a camera-like frame and answers.
pub async fn scan(source: &SyncManager, target: &SyncManager) -> Vec<String> {
    let invitation = source.generate_pairing_invitation().expect("an invitation");
    let frame = rasterise(&invitation.svg, 300.0).await;
    let code = SyncManager::scan_frame(FRAME_WIDTH, FRAME_HEIGHT, &frame)
        .expect("a frame")
        .expect("the code is read");
    target.accept_invitation(&code).expect("answers")
}

/// A phone with a fresh persona.
pub async fn phone_with_persona() -> SyncManager {
    let phone = device("phone").await;
    phone.create_persona("Ada".into()).await.expect("persona");
    phone
}

/// The laptop scans the phone's code and its request reaches the phone; returns its words.
pub async fn request_link(phone: &SyncManager, laptop: &SyncManager) -> Vec<String> {
    let words = scan(phone, laptop).await;
    deliver_until(laptop, phone, "request_received")
        .await
        .expect("the request arrives");
    words
}

/// The index of the candidate showing `words`.
pub fn right_choice(source: &SyncManager, words: &[String]) -> usize {
    let choice = source.word_choice().expect("a choice");
    choice
        .candidates()
        .iter()
        .position(|candidate| {
            let candidate: js_sys::Array = candidate.dyn_into().expect("an array");
            candidate
                .iter()
                .map(|w| w.as_string().unwrap_or_default())
                .collect::<Vec<_>>()
                == words
        })
        .expect("offered")
}

/// Links `laptop` to `phone` all the way: scan, words, approval, the persona across, the
/// import confirmed.
pub async fn link(phone: &SyncManager, laptop: &SyncManager) {
    let words = request_link(phone, laptop).await;
    phone
        .approve(right_choice(phone, &words), None)
        .await
        .expect("approved");
    deliver_until(phone, laptop, "persona_imported")
        .await
        .expect("the persona arrives");
    deliver_until(laptop, phone, "link_completed")
        .await
        .expect("the import is confirmed");
}
