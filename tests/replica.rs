//! Hostile nodes, seen from the device's side of replication: natively and in the browser.

use phantom_sync::mailbox::envelope::{Envelope, EnvelopeId};
use phantom_sync::mailbox::keys::{verify_put, MailboxKeys, PutStamp};
use phantom_sync::mailbox::protocol::StoredEnvelope;
use phantom_sync::mailbox::replica::{Progress, QuorumWrite, UnionRead};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn envelope(n: u8) -> Envelope {
    Envelope::new(vec![n; 20]).expect("small")
}

fn mailbox() -> MailboxKeys {
    MailboxKeys::shared(&[9; 32])
}

/// The writer's stamp for `envelope` in [`mailbox`].
fn stamp(envelope: &Envelope) -> PutStamp {
    mailbox()
        .stamp(&envelope.id(), 1_700_000_000)
        .expect("writable")
}

/// What a reader checks a stamp with before it repairs anything.
fn genuine(id: &EnvelopeId, stamp: &PutStamp) -> bool {
    verify_put(mailbox().public(), id, stamp).is_ok()
}

fn stored(seq: u64, n: u8) -> StoredEnvelope {
    StoredEnvelope {
        seq,
        stamp: stamp(&envelope(n)),
        envelope: envelope(n),
    }
}

#[test]
fn replays_reorders_and_copies_are_kept_once_and_counted() {
    let mut read = UnionRead::new();
    read.add(
        "honest",
        0,
        vec![stored(1, 1), stored(2, 2), stored(3, 3)],
        3,
    );
    // Reordered, and replaying envelope 1 twice.
    read.add(
        "replayer",
        0,
        vec![stored(3, 3), stored(1, 1), stored(2, 2), stored(4, 1)],
        4,
    );
    assert_eq!(read.envelopes(), &[envelope(1), envelope(2), envelope(3)]);
    assert_eq!(read.duplicates(), 4);
    assert!(read.repairs(genuine).is_empty());
}

#[test]
fn an_altered_envelope_is_a_different_id_and_the_original_survives() {
    let mut read = UnionRead::new();
    read.add("honest", 0, vec![stored(1, 1)], 1);
    let mut altered = envelope(1).into_bytes();
    altered[0] ^= 0xff;
    read.add(
        "corrupter",
        0,
        vec![StoredEnvelope {
            seq: 1,
            stamp: stamp(&envelope(1)),
            envelope: Envelope::new(altered).expect("small"),
        }],
        1,
    );
    assert!(
        read.envelopes().contains(&envelope(1)),
        "the honest copy is kept"
    );
    assert_eq!(
        read.envelopes().len(),
        2,
        "the altered one is handed up, to fail to open"
    );
    assert_eq!(
        read.repairs(genuine),
        vec![("corrupter", envelope(1), stamp(&envelope(1)))],
        "the original goes back to the corrupter; the altered copy, whose stamp is the \
         original's, never reaches the honest node"
    );
}

#[test]
fn an_envelope_one_node_made_up_is_repaired_only_with_a_genuine_stamp() {
    let made_up = envelope(5);
    let forged = PutStamp {
        written_at: 1_700_000_000,
        signature: [0x55; 64],
    };
    let mut read = UnionRead::new();
    read.add("honest", 0, vec![stored(1, 1)], 1);
    read.add(
        "liar",
        0,
        vec![
            stored(1, 1),
            StoredEnvelope {
                seq: 2,
                stamp: forged,
                envelope: made_up.clone(),
            },
        ],
        2,
    );
    assert!(
        read.repairs(genuine).is_empty(),
        "nothing spreads on one node's word"
    );
    // Another node, with more to read, holds it with the writer's stamp: that one is sent on.
    read.add(
        "behind",
        0,
        vec![StoredEnvelope {
            seq: 1,
            stamp: stamp(&made_up),
            envelope: made_up.clone(),
        }],
        3,
    );
    assert_eq!(
        read.repairs(genuine),
        vec![("honest", made_up.clone(), stamp(&made_up))]
    );
}

#[test]
fn a_node_missing_envelopes_gets_them_back() {
    let mut read = UnionRead::new();
    read.add("full", 0, vec![stored(1, 1), stored(2, 2)], 2);
    read.add("dropper", 0, vec![stored(1, 1)], 1);
    read.add("partial-read", 5, vec![], 5);
    let repairs = read.repairs(genuine);
    assert_eq!(
        repairs,
        vec![("dropper", envelope(2), stamp(&envelope(2)))],
        "only complete answers are repaired"
    );
}

#[test]
fn a_node_behind_its_own_last_number_has_more_to_read() {
    let mut read = UnionRead::new();
    read.add("paged", 0, vec![stored(1, 1)], 300);
    assert!(read.has_more());
    assert_eq!(read.cursors()[0].1.read_to, 1);
}

#[test]
fn a_quorum_write_fails_once_too_few_nodes_remain() {
    let mut write = QuorumWrite::new(vec![1, 2, 3], 2);
    assert_eq!(write.on_failure(&1), Progress::Pending);
    assert_eq!(
        write.on_failure(&1),
        Progress::Pending,
        "a node counts once"
    );
    assert_eq!(write.on_failure(&2), Progress::Impossible);
    let mut lone = QuorumWrite::new(vec![9], 2);
    assert_eq!(
        lone.on_ack(&9, 1),
        Progress::Reached,
        "one node is a quorum of one"
    );
}
