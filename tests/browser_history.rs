//! History catch-up through the JS facade, in headless Chromium over the local network
//! `scripts/test.sh` starts: a real WebRTC data channel between two device profiles of one
//! page, its offer and answer sealed through the mailbox, the mailbox network as the
//! fallback, and the vault underneath.
#![cfg(target_arch = "wasm32")]

mod common;

use common::link::{device, get, link, phone_with_persona, text};
use phantom_core::history::direct_link::DIRECT_STALL_MS;
use phantom_sync::facade::SyncManager;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// How long a transfer may take before it counts as stuck. It is wall-clock time, not a
/// number of rounds: the fallback from a silent channel comes [`DIRECT_STALL_MS`] after its
/// want however many rounds ran meanwhile, and a round on an open channel does not wait
/// on the inbox, so a fast machine runs many rounds in that time.
const STUCK_AFTER_MS: f64 = (6 * DIRECT_STALL_MS) as f64;
const BODY_LEN: usize = 200;

/// A phone whose conversation with Grace holds `count` messages, and a laptop linked to it.
/// Returns both and the conversation's id.
async fn linked_with_history(count: u32) -> (SyncManager, SyncManager, String) {
    let (phone, laptop, mut conversations) = linked_with_histories(&[("Grace", count)]).await;
    let conversation = conversations.pop().expect("one conversation");
    (phone, laptop, conversation)
}

/// A phone with a conversation of `count` messages with each contact, added in this order
/// (so the last is the most recent), and a laptop linked to it; the conversations' ids.
async fn linked_with_histories(
    contacts: &[(&str, u32)],
) -> (SyncManager, SyncManager, Vec<String>) {
    let phone = phone_with_persona().await;
    let mut conversations = Vec::new();
    for (name, count) in contacts {
        let contact = device(&name.to_lowercase()).await;
        contact
            .create_persona((*name).into())
            .await
            .expect("persona");
        let key = phone
            .add_contact(contact.contact_card().expect("a card"))
            .await
            .expect("added");
        let listed = phone.contacts().expect("contacts");
        let conversation = (0..listed.length())
            .map(|i| listed.get(i))
            .find(|c| text(c, "personaKey") == key)
            .map(|c| text(&c, "conversationId"))
            .expect("a conversation");
        phone
            .add_history_fixture(&conversation, *count, BODY_LEN)
            .await
            .expect("history");
        conversations.push(conversation);
    }
    let laptop = device("laptop").await;
    link(&phone, &laptop).await;
    phone.flush_to_network().await.expect("announced");
    (phone, laptop, conversations)
}

/// What a transfer did, as the new device's events told it.
#[derive(Debug, Default)]
struct Transfer {
    imported: u64,
    blocks_total: u64,
    via_direct: usize,
    via_mailbox: usize,
    refused: Vec<String>,
    complete: bool,
}

impl Transfer {
    fn take(&mut self, events: &js_sys::Array) {
        for event in events.iter() {
            match text(&event, "type").as_str() {
                "history_progress" => {
                    self.imported += number(&event, "imported");
                    self.blocks_total = number(&event, "blocksTotal");
                    match text(&event, "via").as_str() {
                        "direct" => self.via_direct += 1,
                        _ => self.via_mailbox += 1,
                    }
                    self.complete |= get(&event, "complete").as_bool() == Some(true);
                }
                "refused" | "history_channel_failed" => self.refused.push(text(&event, "code")),
                _ => {}
            }
        }
    }
}

fn number(value: &JsValue, key: &str) -> u64 {
    get(value, key).as_f64().unwrap_or_default() as u64
}

/// One round: the laptop syncs (asks, takes blocks), the phone syncs (answers requests).
async fn round(phone: &SyncManager, laptop: &SyncManager, transfer: &mut Transfer) {
    transfer.take(&laptop.sync_messages(100).await.expect("laptop synced"));
    phone.sync_messages(0).await.expect("phone synced");
}

/// When a transfer started counting as stuck.
struct Deadline(f64);

impl Deadline {
    fn start() -> Self {
        Self(js_sys::Date::now() + STUCK_AFTER_MS)
    }

    fn passed(&self) -> bool {
        js_sys::Date::now() >= self.0
    }
}

async fn until_complete(phone: &SyncManager, laptop: &SyncManager, transfer: &mut Transfer) {
    let deadline = Deadline::start();
    while !transfer.complete {
        assert!(
            !deadline.passed(),
            "the history never completed: {transfer:?}"
        );
        round(phone, laptop, transfer).await;
    }
}

async fn message_count(device: &SyncManager, conversation: &str) -> u32 {
    device.message_count(conversation).await.expect("counted")
}

#[wasm_bindgen_test]
async fn a_ten_thousand_message_history_arrives_over_webrtc() {
    let (phone, laptop, conversation) = linked_with_history(10_000).await;
    let mut transfer = Transfer::default();
    until_complete(&phone, &laptop, &mut transfer).await;
    assert_eq!(transfer.imported, 10_000, "{transfer:?}");
    assert_eq!(transfer.via_mailbox, 0, "every block came over the channel");
    assert!(transfer.refused.is_empty(), "{transfer:?}");
    assert_eq!(message_count(&laptop, &conversation).await, 10_000);
    // The latest 100 are at hand; the rest scroll back out of the vault, in order.
    let latest = laptop.messages(&conversation).expect("messages");
    assert_eq!(latest.length(), 100);
    let first_shown = latest.get(0);
    assert!(text(&first_shown, "body").trim_start().starts_with("9900 "));
    let earlier = laptop
        .earlier_messages(&conversation, Some(text(&first_shown, "id")), 50)
        .await
        .expect("earlier");
    let bodies: Vec<String> = earlier.iter().map(|m| text(&m, "body")).collect();
    assert_eq!(bodies.len(), 50);
    assert!(bodies[0].trim_start().starts_with("9850 "), "{}", bodies[0]);
    assert!(
        bodies[49].trim_start().starts_with("9899 "),
        "{}",
        bodies[49]
    );
    // The manifest and each block crossed the channel once.
    assert_eq!(
        u64::from(phone.history_frames_sent()),
        transfer.blocks_total + 1
    );
}

#[wasm_bindgen_test]
async fn a_channel_closed_half_way_is_opened_again_and_resumes_without_duplicates() {
    let (phone, laptop, conversation) = linked_with_history(6_000).await;
    let mut transfer = Transfer::default();
    let deadline = Deadline::start();
    while transfer.imported == 0 {
        assert!(!deadline.passed(), "nothing arrived: {transfer:?}");
        round(&phone, &laptop, &mut transfer).await;
    }
    assert!(!transfer.complete, "only a first batch before the cut");
    laptop.close_history_channel();
    until_complete(&phone, &laptop, &mut transfer).await;
    assert_eq!(transfer.imported, 6_000, "each message once: {transfer:?}");
    assert_eq!(
        transfer.via_mailbox, 0,
        "the second channel carried the rest"
    );
    assert_eq!(message_count(&laptop, &conversation).await, 6_000);
}

/// The adversary is a source that freezes with its channel open: the channel opens, the
/// want goes out, and nothing comes back, nor any close event. The new device counts the
/// silent channel as dead and the mailbox carries the history.
#[wasm_bindgen_test]
async fn a_source_frozen_on_an_open_channel_leaves_the_history_to_the_mailbox() {
    let (phone, laptop, conversation) = linked_with_history(3_000).await;
    phone.mute_served_history(true);
    let mut transfer = Transfer::default();
    until_complete(&phone, &laptop, &mut transfer).await;
    assert_eq!(transfer.imported, 3_000, "each message once: {transfer:?}");
    assert_eq!(transfer.via_direct, 0, "{transfer:?}");
    assert!(
        phone.unanswered_history_wants() > 0,
        "the channel opened and was left silent"
    );
    assert_eq!(message_count(&laptop, &conversation).await, 3_000);
}

#[wasm_bindgen_test]
async fn without_webrtc_the_history_comes_through_the_mailbox_network() {
    let (phone, laptop, conversation) = linked_with_history(3_000).await;
    laptop.set_direct_history(false);
    let mut transfer = Transfer::default();
    until_complete(&phone, &laptop, &mut transfer).await;
    assert_eq!(transfer.imported, 3_000);
    assert_eq!(transfer.via_direct, 0);
    assert_eq!(phone.history_frames_sent(), 0, "no channel was asked for");
    assert_eq!(message_count(&laptop, &conversation).await, 3_000);
}

#[wasm_bindgen_test]
async fn a_corrupted_block_is_refused_and_fetched_again() {
    let (phone, laptop, conversation) = linked_with_history(3_000).await;
    phone.corrupt_served_history(1);
    let mut transfer = Transfer::default();
    until_complete(&phone, &laptop, &mut transfer).await;
    assert_eq!(transfer.imported, 3_000, "{transfer:?}");
    assert_eq!(
        transfer.via_mailbox, 0,
        "a second channel carried the block again"
    );
    // The damaged block matched no hash, was not imported, and was asked for again.
    assert_eq!(
        u64::from(phone.history_frames_sent()),
        transfer.blocks_total + 2
    );
    assert_eq!(message_count(&laptop, &conversation).await, 3_000);
}

#[wasm_bindgen_test]
async fn a_second_run_of_the_history_imports_nothing_twice() {
    let (phone, laptop, conversation) = linked_with_history(2_000).await;
    let mut first = Transfer::default();
    until_complete(&phone, &laptop, &mut first).await;
    assert_eq!(first.imported, 2_000);

    let devices = phone.devices().expect("devices");
    let laptop_id = (0..devices.length())
        .map(|i| devices.get(i))
        .find(|d| get(d, "thisDevice").as_bool() != Some(true))
        .map(|d| text(&d, "deviceId"))
        .expect("the laptop on the roster");
    phone
        .offer_history(&laptop_id)
        .await
        .expect("offered again");
    phone.flush_to_network().await.expect("sent");
    let mut second = Transfer::default();
    until_complete(&phone, &laptop, &mut second).await;
    assert_eq!(second.imported, 0, "{second:?}");
    assert_eq!(message_count(&laptop, &conversation).await, 2_000);
}

#[wasm_bindgen_test]
async fn a_conversation_asked_for_first_arrives_before_the_others() {
    // Heidi's conversation is the most recent: it would come first.
    let (phone, laptop, conversations) =
        linked_with_histories(&[("Grace", 6_000), ("Heidi", 2_000)]).await;
    let [grace, heidi] = <[String; 2]>::try_from(conversations).expect("two");
    laptop
        .prioritize_history(Some(grace.clone()))
        .expect("asked");
    let mut transfer = Transfer::default();
    let mut heidi_when_grace_was_complete = None;
    let deadline = Deadline::start();
    while !transfer.complete {
        assert!(
            !deadline.passed(),
            "the history never completed: {transfer:?}"
        );
        round(&phone, &laptop, &mut transfer).await;
        if heidi_when_grace_was_complete.is_none() && message_count(&laptop, &grace).await == 6_000
        {
            heidi_when_grace_was_complete = Some(message_count(&laptop, &heidi).await);
        }
    }
    let heidi_then = heidi_when_grace_was_complete.expect("Grace's history completed");
    assert!(
        heidi_then < 2_000,
        "Grace's came first: Heidi had {heidi_then}"
    );
    assert_eq!(transfer.imported, 8_000, "{transfer:?}");
    assert_eq!(message_count(&laptop, &heidi).await, 2_000);
}

/// The driver alone: two peer connections of this page, 64 KiB messages through the send
/// queue's high-water mark, in order and whole.
#[wasm_bindgen_test]
async fn a_data_channel_carries_large_messages_in_order_through_its_backpressure() {
    use phantom_sync::drivers::data_channel::DirectChannel;
    let (asking, offer) = DirectChannel::offer("test").await.expect("an offer");
    let (answering, answer) = DirectChannel::answer(&offer).await.expect("an answer");
    asking.accept_answer(&answer).await.expect("answered");
    let count = 64u8;
    let sending = async {
        for n in 0..count {
            asking.send(&vec![n; 64 * 1024]).await.expect("sent");
        }
    };
    let receiving = async {
        let mut received = Vec::new();
        while received.len() < usize::from(count) {
            received.push(answering.next_message().await.expect("a message"));
        }
        received
    };
    let ((), received) = futures::join!(sending, receiving);
    for (n, message) in received.iter().enumerate() {
        assert_eq!(message.len(), 64 * 1024);
        assert!(message.iter().all(|byte| usize::from(*byte) == n));
    }
}
