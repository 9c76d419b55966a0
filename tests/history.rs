//! History blocks: export, verify, import, resume — natively and in headless Chromium.

use std::collections::HashSet;

use phantom_sync::history::export::{HistoryExport, DEFAULT_BLOCK_SIZE};
use phantom_sync::history::import::HistoryImport;
use phantom_sync::history::manifest::Manifest;
use phantom_sync::history::TransferId;
use phantom_sync::persona::{ContactId, ConversationId, DeviceId, Message, MessageId, Sender};
use phantom_sync::secret::Secret;
use phantom_sync::testing::SeededRng;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// `count` messages of about 200 bytes in conversation `conversation`.
fn conversation(conversation: u8, count: u32) -> Vec<Message> {
    (0..count)
        .map(|n| {
            let mut id = [conversation; 16];
            id[..4].copy_from_slice(&n.to_be_bytes());
            Message {
                id: MessageId::from_bytes(id),
                conversation_id: ConversationId::from_bytes([conversation; 16]),
                sender: if n % 2 == 0 {
                    Sender::Contact(ContactId::from_bytes([conversation; 16]))
                } else {
                    Sender::OwnDevice(DeviceId::from_bytes([1; 16]))
                },
                sent_at_ms: 1_700_000_000_000 + u64::from(n) * 1000,
                body: format!("message {n} ").repeat(16),
            }
        })
        .collect()
}

struct Exported {
    key: Secret<32>,
    manifest: Manifest,
    blocks: Vec<Vec<u8>>,
}

/// Three conversations, 10k messages in all, the most recent conversation first.
fn export() -> Exported {
    let mut rng = SeededRng::new(10);
    let key = Secret::generate(&mut rng);
    let mut export = HistoryExport::new(&key, DEFAULT_BLOCK_SIZE, TransferId::from_bytes([4; 16]));
    let mut blocks = Vec::new();
    for (id, count) in [(3u8, 5_000u32), (2, 3_000), (1, 2_000)] {
        blocks.extend(
            export
                .add_conversation(
                    ConversationId::from_bytes([id; 16]),
                    &conversation(id, count),
                    &mut rng,
                )
                .expect("exports"),
        );
    }
    let (manifest, unsealed) = export.finish(&mut rng).expect("finished");
    assert!(unsealed.is_none(), "each conversation ends its last block");
    Exported {
        key,
        manifest,
        blocks,
    }
}

#[test]
fn ten_thousand_messages_arrive_in_any_order_once_each() {
    let Exported {
        key,
        manifest,
        blocks,
    } = export();
    assert_eq!(manifest.total_messages(), 10_000);
    assert_eq!(manifest.blocks.len(), blocks.len());
    assert!(blocks.iter().all(|b| b.len() <= DEFAULT_BLOCK_SIZE));
    assert_eq!(
        manifest.blocks[0].conversation_id,
        ConversationId::from_bytes([3; 16]),
        "the most recent conversation comes first"
    );
    assert_eq!(
        manifest.blocks[0].last_ms,
        1_700_000_000_000 + 4_999 * 1000,
        "its newest messages first"
    );
    let manifest = Manifest::decode(&manifest.encode().expect("encodes")).expect("decodes");
    let mut import = HistoryImport::new(manifest, key);
    let mut ids = HashSet::new();
    for (index, block) in blocks.iter().enumerate().rev() {
        for message in import.accept(index, block).expect("accepted") {
            assert!(ids.insert(message.id), "each message once");
        }
    }
    assert_eq!(ids.len(), 10_000);
    assert!(import.is_complete());
    let progress = import.progress();
    assert_eq!(progress.messages_done, progress.messages_total);
    assert_eq!(progress.bytes_done, progress.bytes_total);
}

#[test]
fn a_corrupted_or_misplaced_block_is_refused_and_the_right_one_still_fits() {
    let Exported {
        key,
        manifest,
        blocks,
    } = export();
    let mut import = HistoryImport::new(manifest.clone(), key);
    let mut corrupted = blocks[1].clone();
    corrupted[100] ^= 0x40;
    assert_eq!(
        import.accept(1, &corrupted).map_err(|e| e.code()),
        Err("block_tampered")
    );
    assert_eq!(
        import.accept(2, &blocks[1]).map_err(|e| e.code()),
        Err("block_tampered"),
        "a block served in another block's place"
    );
    assert_eq!(
        import
            .accept(blocks.len(), &blocks[1])
            .map_err(|e| e.code()),
        Err("unknown_block")
    );
    assert_eq!(import.missing(), (0..blocks.len()).collect::<Vec<_>>());
    assert!(
        import.accept(1, &blocks[1]).is_ok(),
        "fetched again, it fits"
    );

    let mut other_key = HistoryImport::new(manifest, Secret::from_bytes([9; 32]));
    assert_eq!(
        other_key.accept(0, &blocks[0]).map_err(|e| e.code()),
        Err("block_undecryptable")
    );
}

#[test]
fn an_interrupted_import_resumes_without_fetching_twice() {
    let Exported {
        key,
        manifest,
        blocks,
    } = export();
    let half = blocks.len() / 2;
    let mut import = HistoryImport::new(manifest.clone(), key.clone());
    for (index, block) in blocks.iter().enumerate().take(half) {
        import.accept(index, block).expect("accepted");
    }
    let saved = import.received_state().expect("encodes");
    let mut resumed =
        HistoryImport::resume(manifest.clone(), key.clone(), &saved).expect("resumes");
    assert_eq!(resumed.missing(), (half..blocks.len()).collect::<Vec<_>>());
    assert!(!resumed.is_complete(), "never complete with blocks missing");
    for index in resumed.missing() {
        resumed.accept(index, &blocks[index]).expect("accepted");
    }
    assert!(resumed.is_complete());
    assert!(HistoryImport::resume(manifest, key, &saved[..saved.len() - 1]).is_err());
}

#[test]
fn history_through_a_mailbox_arrives_whole_whatever_the_order_and_repeats() {
    use phantom_sync::history::transfer::{offer_history, HistoryReceiver, Received};

    let mut rng = SeededRng::new(11);
    let conversations = vec![
        (ConversationId::from_bytes([2; 16]), conversation(2, 1_500)),
        (ConversationId::from_bytes([1; 16]), conversation(1, 1_000)),
    ];
    let (offer, envelopes) =
        offer_history(conversations, DEFAULT_BLOCK_SIZE, &mut rng).expect("offered");
    let mut receiver = HistoryReceiver::new(&offer);

    // A node serves the blocks before the manifest: they wait for a second read.
    let mut ids = HashSet::new();
    for envelope in envelopes.iter().skip(1) {
        assert_eq!(receiver.accept(envelope), Ok(Received::Nothing));
    }
    assert_eq!(receiver.accept(&envelopes[0]), Ok(Received::Manifest));
    assert!(!receiver.is_complete());
    for _ in 0..2 {
        for envelope in envelopes.iter().rev() {
            if let Received::Block(messages) = receiver.accept(envelope).expect("accepted") {
                ids.extend(messages.into_iter().map(|m| m.id));
            }
        }
    }
    assert_eq!(ids.len(), 2_500);
    assert!(receiver.is_complete());
    assert_eq!(receiver.progress().map(|p| p.messages_done), Some(2_500));
    let mut stranger = HistoryReceiver::new(&offer);
    assert_eq!(stranger.accept(b"not ours"), Ok(Received::Nothing));
}
