//! The browser light client against real nodes: `scripts/test.sh` starts a local network
//! and hands its WebSocket addresses to this build in `PHANTOM_TEST_NODES`.
#![cfg(target_arch = "wasm32")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use libp2p::Multiaddr;
use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::keys::MailboxKeys;
use phantom_sync::network::client::{connect_browser, MailboxClient};
use phantom_sync::network::Replication;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn nodes() -> Vec<Multiaddr> {
    parse(common::browser::test_nodes())
}

fn webrtc_nodes() -> Vec<Multiaddr> {
    parse(common::browser::test_webrtc_nodes())
}

fn parse(list: Vec<String>) -> Vec<Multiaddr> {
    list.iter()
        .map(|a| a.parse().expect("a multiaddr"))
        .collect()
}

fn client() -> MailboxClient {
    connect_browser(&nodes(), Replication::default()).expect("a browser client")
}

fn webrtc_client() -> MailboxClient {
    connect_browser(&webrtc_nodes(), Replication::default()).expect("a browser client")
}

fn envelope(text: &str) -> Envelope {
    Envelope::new(text.as_bytes().to_vec()).expect("small")
}

fn random_mailbox() -> MailboxKeys {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("randomness");
    MailboxKeys::shared(&seed)
}

#[wasm_bindgen_test]
async fn a_browser_client_writes_with_quorum_over_websocket_and_another_reads_it() {
    let writer = client();
    let reader = client();
    let mailbox = random_mailbox();
    let receipt = writer
        .put(&mailbox, envelope("from the browser"))
        .await
        .expect("stored");
    assert!(
        receipt.acks.len() >= 2,
        "a quorum acknowledged: {receipt:?}"
    );
    let fetched = reader
        .fetch(&mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(fetched.envelopes, vec![envelope("from the browser")]);
}

#[wasm_bindgen_test]
async fn a_browser_client_receives_a_live_push() {
    let writer = client();
    let reader = client();
    let mailbox = random_mailbox();
    // Warm both clients up so the wait below starts at once.
    writer
        .put(&mailbox, envelope("first"))
        .await
        .expect("stored");
    let first = reader
        .fetch(&mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched");
    let after: HashMap<_, _> = first
        .cursors
        .iter()
        .map(|(peer, cursor)| (*peer, cursor.read_to))
        .collect();
    let waiting = reader.fetch(&mailbox, after, Duration::from_secs(15));
    let pushing = async {
        gloo_timers_sleep(300).await;
        writer
            .put(&mailbox, envelope("second"))
            .await
            .expect("stored");
    };
    let (fetched, ()) = futures::join!(waiting, pushing);
    assert_eq!(
        fetched.expect("fetched").envelopes,
        vec![envelope("second")]
    );
}

async fn gloo_timers_sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let window = web_sys::window().expect("a window");
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[wasm_bindgen_test]
async fn a_browser_client_bootstraps_over_webrtc_direct_and_reads_what_another_wrote() {
    let writer = webrtc_client();
    let reader = client();
    let mailbox = random_mailbox();
    let receipt = writer
        .put(&mailbox, envelope("over WebRTC"))
        .await
        .expect("stored");
    assert!(
        receipt.acks.len() >= 2,
        "a quorum acknowledged: {receipt:?}"
    );
    let fetched = reader
        .fetch(&mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(fetched.envelopes, vec![envelope("over WebRTC")]);
}

/// The nodes also announce WebRTC-direct addresses, over which large stream writes fail
/// (see `connect_browser`): a WebSocket client must keep to WebSocket, whatever it learns.
#[wasm_bindgen_test]
async fn a_browser_client_stores_history_sized_envelopes_after_many_small_operations() {
    let client = client();
    let chatter = random_mailbox();
    for n in 0..60 {
        client
            .put(&chatter, envelope(&format!("small {n}")))
            .await
            .expect("stored");
        client
            .fetch(&chatter, HashMap::new(), Duration::ZERO)
            .await
            .expect("fetched");
    }
    let blocks = random_mailbox();
    for n in 0..12u8 {
        let block = Envelope::new(vec![n; 64 * 1024]).expect("within the cap");
        let receipt = client
            .put(&blocks, block)
            .await
            .expect("a 64 KiB envelope is stored");
        assert!(receipt.acks.len() >= 2, "{receipt:?}");
    }
    // More than one answer holds (`MAX_FETCH_BYTES`): the transport reads on to the end.
    let mut cursor = phantom_sync::mailbox::transport::MailboxCursor::default();
    let fetched = phantom_sync::mailbox::transport::MailboxTransport::fetch(
        &client,
        &blocks,
        &mut cursor,
        Duration::ZERO,
    )
    .await
    .expect("fetched");
    assert_eq!(fetched.len(), 12);
}

// Messaging across devices (issue 5) over the real nodes: the suite natively runs in memory.

#[wasm_bindgen_test]
async fn a_block_read_before_its_manifest_is_read_again_over_real_nodes() {
    common::messaging_suite::a_block_read_before_its_manifest_is_read_again(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn nodes_see_no_sender_or_recipient_key() {
    common::messaging_suite::a_node_sees_no_sender_or_recipient_key(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_device_without_a_sealing_key_gets_one_over_real_nodes() {
    common::messaging_suite::a_device_without_a_sealing_key_gets_one_signed_in(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn alice_writes_to_bob_on_both_devices_over_real_nodes() {
    common::messaging_suite::alice_writes_to_bob_on_both_devices_and_bob_replies(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_dropped_message_is_filled_in_over_real_nodes() {
    common::messaging_suite::a_dropped_message_is_noticed_and_filled_in(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_copy_altered_past_its_seal_does_not_spoil_the_genuine_one_over_real_nodes() {
    common::messaging_suite::a_copy_altered_past_its_seal_does_not_spoil_the_genuine_one(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_device_that_leaves_is_off_the_roster_over_real_nodes() {
    common::messaging_suite::a_device_that_leaves_is_off_the_roster(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_revoked_device_reads_nothing_new_over_real_nodes() {
    common::messaging_suite::a_revoked_device_reads_nothing_new(
        &webrtc_client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_revocation_dropped_on_the_way_still_reaches_the_contact_over_real_nodes() {
    common::messaging_suite::a_revocation_dropped_on_the_way_still_reaches_the_contact(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_removed_device_cannot_sign_a_roster_anyone_accepts_over_real_nodes() {
    common::messaging_suite::a_removed_device_cannot_sign_a_roster_anyone_accepts(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_linked_device_cannot_change_the_roster_it_is_on_over_real_nodes() {
    common::messaging_suite::a_linked_device_cannot_change_the_roster_it_is_on(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn the_recovery_code_moves_the_authority_to_another_device_over_real_nodes() {
    common::messaging_suite::the_recovery_code_moves_the_authority_to_another_device(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_contact_reusing_message_ids_rewrites_no_history_over_real_nodes() {
    common::messaging_suite::a_contact_reusing_message_ids_rewrites_no_history(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_fork_signed_with_a_stolen_recovery_code_is_seen_and_gets_nothing_over_real_nodes() {
    common::messaging_suite::a_fork_signed_with_a_stolen_recovery_code_is_seen_and_gets_nothing(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_removed_device_cannot_learn_the_new_inbox_over_real_nodes() {
    common::messaging_suite::a_removed_device_cannot_learn_the_new_inbox(
        &client(),
        common::browser::random_seed(),
    )
    .await;
}

#[wasm_bindgen_test]
async fn a_newly_linked_device_catches_up_on_the_history_over_real_nodes() {
    common::messaging_suite::a_newly_linked_device_catches_up_on_the_history(
        &client(),
        common::browser::random_seed(),
        100,
    )
    .await;
}

#[wasm_bindgen_test]
async fn nothing_sent_is_lost_when_a_device_is_closed_at_any_moment_over_real_nodes() {
    common::messaging_suite::nothing_sent_is_lost_when_a_device_is_closed_at_any_moment(
        &client(),
        common::browser::random_seed(),
        16,
    )
    .await;
}
