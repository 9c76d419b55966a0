//! History catch-up benchmarks in headless Chromium — not tests: they assert nothing about
//! speed and are ignored by the test run. Run them with `scripts/bench.sh` (which starts the
//! local network the link travels through).
//!
//! Side by side in one page: the raw throughput of a data channel between two peer
//! connections, the raw IndexedDB insert rate of the same messages in transactions of the
//! catch-up's size, and the catch-up itself — a phone whose conversation holds N messages of
//! about 200 bytes, a laptop linked to it, timed from the link's end until every block is
//! imported (direct channel, mailbox as fallback) — with the wasm memory before and after.
#![cfg(target_arch = "wasm32")]

mod common;

use common::link::{device, get, link, phone_with_persona, text};
use phantom_sync::drivers::data_channel::DirectChannel;
use phantom_sync::drivers::indexeddb::IndexedDbStore;
use phantom_sync::persona::{ContactId, Message, MessageId, Sender};
use phantom_sync::vault::store::{RawStore, StoreName, WriteOp};
use phantom_sync::wire::WireRecord;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const BODY_LEN: usize = 200;
/// Messages per vault transaction in the catch-up: 16 blocks of 64 KiB.
const IMPORT_BATCH: u64 = 4_000;
const CHUNK: usize = 64 * 1024;

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

fn wasm_memory_mib() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    f64::from(buffer.byte_length()) / (1024.0 * 1024.0)
}

/// Megabytes per second and items per second for `bytes` and `items` in `ms`.
fn rates(bytes: f64, items: f64, ms: f64) -> (f64, f64) {
    let seconds = ms / 1000.0;
    (bytes / 1e6 / seconds, items / seconds)
}

/// Sends `total` bytes in 64 KiB messages from one peer connection of this page to another.
async fn raw_channel_ms(total: usize) -> f64 {
    let (asking, offer) = DirectChannel::offer("bench").await.expect("an offer");
    let (answering, answer) = DirectChannel::answer(&offer).await.expect("an answer");
    asking.accept_answer(&answer).await.expect("answered");
    let chunk = vec![7u8; CHUNK];
    let total = total / CHUNK * CHUNK;
    let start = now_ms();
    let receiving = async {
        let mut received = 0;
        while received < total {
            match answering.next_message().await {
                Some(message) => received += message.len(),
                None => break,
            }
        }
        received
    };
    let sending = async {
        for _ in 0..total / CHUNK {
            asking.send(&chunk).await.expect("sent");
        }
    };
    let (received, ()) = futures::join!(receiving, sending);
    assert_eq!(received, total);
    now_ms() - start
}

/// Raw IndexedDB puts of `count` plaintext messages of the catch-up's size, made a
/// transaction's worth at a time so the page's memory stays the catch-up's to measure.
async fn raw_indexeddb_ms(count: u64) -> (f64, usize) {
    let message = |n: u64| Message {
        id: MessageId::from_bytes(u128::from(n).to_be_bytes()),
        conversation_id: phantom_sync::persona::ConversationId::from_bytes([9; 16]),
        sender: Sender::Contact(ContactId::from_bytes([3; 16])),
        sent_at_ms: 1_767_225_600_000 + n,
        body: format!("{n:>8} ").repeat(BODY_LEN / 9 + 1)[..BODY_LEN].to_owned(),
    };
    IndexedDbStore::delete("phantom-sync-bench-history-raw")
        .await
        .expect("deleted");
    let store = IndexedDbStore::open("phantom-sync-bench-history-raw")
        .await
        .expect("opened");
    let mut bytes = 0;
    let mut ms = 0.0;
    let mut first = 0;
    while first < count {
        let ops: Vec<WriteOp> = (first..count.min(first + IMPORT_BATCH))
            .map(|n| {
                let m = message(n);
                let mut key = m.conversation_id.as_bytes().to_vec();
                key.extend_from_slice(m.id.as_bytes());
                let value = m.encode().expect("encodes").to_vec();
                bytes += value.len();
                WriteOp::Put {
                    store: StoreName::Messages,
                    key,
                    value,
                }
            })
            .collect();
        first += IMPORT_BATCH;
        let start = now_ms();
        store.write(ops).await.expect("raw write");
        ms += now_ms() - start;
    }
    (ms, bytes)
}

struct CatchUp {
    ms: f64,
    bytes: f64,
    via_direct: usize,
    via_mailbox: usize,
    memory_before_mib: f64,
    memory_after_mib: f64,
}

/// A phone with `count` messages, a laptop linked to it; the catch-up timed.
async fn catch_up(count: u32, direct: bool) -> CatchUp {
    let phone = phone_with_persona().await;
    let grace = device("grace").await;
    grace.create_persona("Grace".into()).await.expect("persona");
    phone
        .add_contact(grace.contact_card().expect("a card"))
        .await
        .expect("added");
    let conversation = text(
        &phone.contacts().expect("contacts").get(0),
        "conversationId",
    );
    phone
        .add_history_fixture(&conversation, count, BODY_LEN)
        .await
        .expect("history");
    let laptop = device("laptop").await;
    laptop.set_direct_history(direct);
    let memory_before_mib = wasm_memory_mib();
    link(&phone, &laptop).await;
    phone.flush_to_network().await.expect("announced");
    let start = now_ms();
    let (mut via_direct, mut via_mailbox) = (0, 0);
    let mut rounds = 0;
    let bytes = 'sync: loop {
        rounds += 1;
        assert!(
            rounds < 5_000,
            "the catch-up of {count} messages never completed"
        );
        for event in laptop.sync_messages(100).await.expect("synced").iter() {
            if text(&event, "type") != "history_progress" {
                continue;
            }
            match text(&event, "via").as_str() {
                "direct" => via_direct += 1,
                _ => via_mailbox += 1,
            }
            if get(&event, "complete").as_bool() == Some(true) {
                break 'sync get(&event, "bytesTotal").as_f64().unwrap_or_default();
            }
        }
        phone.sync_messages(0).await.expect("synced");
    };
    let ms = now_ms() - start;
    assert_eq!(
        laptop.message_count(&conversation).await.expect("counted"),
        count
    );
    CatchUp {
        ms,
        bytes,
        via_direct,
        via_mailbox,
        memory_before_mib,
        memory_after_mib: wasm_memory_mib(),
    }
}

async fn bench(count: u32) {
    let memory_at_start_mib = wasm_memory_mib();
    let (idb_ms, idb_bytes) = raw_indexeddb_ms(count.into()).await;
    let channel_ms = raw_channel_ms(idb_bytes).await;
    let direct = catch_up(count, true).await;
    let mailbox = catch_up(count, false).await;
    let (channel_mb_s, _) = rates(idb_bytes as f64, 0.0, channel_ms);
    let (idb_mb_s, idb_per_s) = rates(idb_bytes as f64, f64::from(count), idb_ms);
    let (direct_mb_s, direct_per_s) = rates(direct.bytes, f64::from(count), direct.ms);
    let (mailbox_mb_s, mailbox_per_s) = rates(mailbox.bytes, f64::from(count), mailbox.ms);
    console_log!(
        "BENCH history_catch_up messages={count} body_bytes={BODY_LEN} \
         direct_ms={:.0} direct_msgs_per_s={direct_per_s:.0} direct_mb_per_s={direct_mb_s:.2} \
         direct_blocks_via_channel={} direct_blocks_via_mailbox={} \
         mailbox_ms={:.0} mailbox_msgs_per_s={mailbox_per_s:.0} mailbox_mb_per_s={mailbox_mb_s:.2} \
         raw_channel_mb_per_s={channel_mb_s:.1} raw_indexeddb_msgs_per_s={idb_per_s:.0} raw_indexeddb_mb_per_s={idb_mb_s:.2} \
         direct_vs_raw_channel={:.3} direct_vs_raw_indexeddb={:.3} \
         wasm_memory_mib_at_start={memory_at_start_mib:.0} before_link={:.0} \
         peak_after_direct={:.0} peak_after_mailbox={:.0}",
        direct.ms,
        direct.via_direct,
        direct.via_mailbox,
        mailbox.ms,
        direct_mb_s / channel_mb_s,
        direct_per_s / idb_per_s,
        direct.memory_before_mib,
        direct.memory_after_mib,
        mailbox.memory_after_mib,
    );
}

#[wasm_bindgen_test]
#[ignore = "benchmark: scripts/bench.sh"]
async fn bench_history_catch_up_of_10k_messages() {
    bench(10_000).await;
}

#[wasm_bindgen_test]
#[ignore = "benchmark: scripts/bench.sh"]
async fn bench_history_catch_up_of_100k_messages() {
    bench(100_000).await;
}
