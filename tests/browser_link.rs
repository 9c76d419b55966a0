//! Link Device end to end through the JS facade, over the local network `scripts/test.sh`
//! starts: the QR is decoded from a rendered frame, the pairing travels through DHT
//! mailboxes, and the linked device takes part in the persona's conversations.
#![cfg(target_arch = "wasm32")]

mod common;

use common::browser::{code_of, fresh_device, random_seed, test_nodes};
use common::link::{
    deliver_until, device, message_with, phone_with_persona, request_link, right_choice, scan,
    sync_until, text, ROUNDS,
};
use phantom_sync::facade::SyncManager;
use phantom_sync::mailbox::keys::MailboxSeed;
use phantom_sync::pairing::invitation::{Capabilities, Intent, InvitationId, PairingInvitation};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_linked_laptop_mirrors_the_persona_and_joins_its_conversations() {
    let phone = phone_with_persona().await;
    let grace = device("grace").await;
    grace.create_persona("Grace".into()).await.expect("persona");
    let ada = grace
        .add_contact(phone.contact_card().expect("a card"))
        .await
        .expect("added");
    grace
        .send_text(&ada, "Welcome, Ada".into())
        .await
        .expect("sent");
    grace.flush_to_network().await.expect("flushed");
    sync_until(&phone, message_with("Welcome, Ada")).await;

    let laptop = device("laptop").await;
    let words = request_link(&phone, &laptop).await;
    phone
        .approve(right_choice(&phone, &words), None)
        .await
        .expect("approved");
    deliver_until(&phone, &laptop, "persona_imported")
        .await
        .expect("the persona arrives");
    deliver_until(&laptop, &phone, "link_completed")
        .await
        .expect("the import is confirmed");
    assert_eq!(phone.state(), "completed");
    assert_eq!(laptop.state(), "completed");
    assert_eq!(laptop.fingerprint(), phone.fingerprint());
    assert_eq!(phone.roster_epoch(), Some(2.0));
    // The authority stayed on the phone: the laptop's vault in IndexedDB holds no root key.
    assert!(phone.holds_authority() && phone.recovery_code().is_some());
    assert!(!laptop.holds_authority() && laptop.recovery_code().is_none());
    assert_eq!(
        laptop
            .generate_pairing_invitation()
            .map(drop)
            .map_err(|e| code_of(&e)),
        Err("not_authority".to_owned())
    );

    // The phone announces the roster; the laptop learns it is on it, and learns Grace.
    phone.flush_to_network().await.expect("announced");
    sync_until(&laptop, |e| text(e, "type") == "contact_added").await;
    let contacts = laptop.contacts().expect("contacts");
    assert_eq!(contacts.length(), 1);
    assert_eq!(text(&contacts.get(0), "displayName"), "Grace");
    assert_eq!(laptop.conversations().expect("conversations").length(), 1);
    assert_eq!(laptop.roster_epoch(), Some(2.0));

    // The history follows through the network: Grace's first message, from before the link.
    let conversation = text(&contacts.get(0), "conversationId");
    let mut history = laptop.messages(&conversation).expect("messages");
    for _ in 0..ROUNDS {
        if history.length() > 0 {
            break;
        }
        laptop.sync_messages(1000).await.expect("synced");
        history = laptop.messages(&conversation).expect("messages");
    }
    assert_eq!(history.length(), 1);
    assert_eq!(text(&history.get(0), "body"), "Welcome, Ada");

    // Grace hears of the laptop, then writes: both of Ada's devices show it.
    sync_until(&grace, |e| text(e, "type") == "roster_changed").await;
    grace
        .send_text(&ada, "Hello, both of you".into())
        .await
        .expect("sent");
    grace.flush_to_network().await.expect("flushed");
    sync_until(&phone, message_with("Hello, both of you")).await;
    sync_until(&laptop, message_with("Hello, both of you")).await;

    // The laptop replies: Grace gets it, and the phone shows it as its persona's own.
    let grace_key = text(&contacts.get(0), "personaKey");
    laptop
        .send_text(&grace_key, "Hi Grace, from the laptop".into())
        .await
        .expect("sent");
    laptop.flush_to_network().await.expect("flushed");
    sync_until(&grace, message_with("Hi Grace, from the laptop")).await;
    let on_phone = sync_until(&phone, message_with("Hi Grace, from the laptop")).await;
    assert_eq!(text(&on_phone, "sender"), "own_device");
    assert_eq!(text(&on_phone, "senderName"), "laptop");
}

#[wasm_bindgen_test]
async fn picking_the_wrong_words_ends_both_sides_with_nothing_imported() {
    let phone = phone_with_persona().await;
    let laptop = device("laptop").await;
    let words = request_link(&phone, &laptop).await;
    let wrong = (right_choice(&phone, &words) + 1) % 5;
    let refused = phone.approve(wrong, None).await.expect_err("refused");
    assert_eq!(code_of(&refused), "words_mismatch");
    assert_eq!(phone.failure_reason().as_deref(), Some("words_rejected"));
    deliver_until(&phone, &laptop, "aborted")
        .await
        .expect("the laptop is told");
    assert_eq!(laptop.failure_reason().as_deref(), Some("words_rejected"));
    assert_eq!(laptop.fingerprint(), None, "nothing imported");
    assert_eq!(laptop.roster_epoch(), None);
}

#[wasm_bindgen_test]
async fn a_second_device_racing_for_the_invitation_is_turned_away() {
    let phone = phone_with_persona().await;
    let invitation = phone.generate_pairing_invitation().expect("an invitation");
    let laptop = device("laptop").await;
    let intruder = device("intruder").await;
    let words = laptop
        .accept_invitation(&invitation.link_code)
        .expect("answers");
    intruder
        .accept_invitation(&invitation.link_code)
        .expect("answers too");
    deliver_until(&laptop, &phone, "request_received")
        .await
        .expect("the first request");
    deliver_until(&intruder, &phone, "turned_away")
        .await
        .expect("the intruder is turned away, and named on the phone");
    assert_eq!(phone.turned_away(), vec!["intruder".to_owned()]);
    deliver_until(&phone, &intruder, "aborted")
        .await
        .expect("the intruder is told");
    assert_eq!(
        intruder.failure_reason().as_deref(),
        Some("invitation_used")
    );
    assert_eq!(intruder.fingerprint(), None);

    phone
        .approve(right_choice(&phone, &words), None)
        .await
        .expect("the first device goes on");
    deliver_until(&phone, &laptop, "persona_imported")
        .await
        .expect("imported");
}

#[wasm_bindgen_test]
async fn cancelling_on_either_side_ends_the_other_as_cancelled() {
    let phone = phone_with_persona().await;
    let laptop = device("laptop").await;
    request_link(&phone, &laptop).await;
    laptop.cancel().await.expect("cancelled");
    assert_eq!(laptop.state(), "cancelled");
    deliver_until(&laptop, &phone, "aborted")
        .await
        .expect("the phone is told");
    assert_eq!(phone.failure_reason().as_deref(), Some("peer_cancelled"));

    let other = device("other-laptop").await;
    request_link(&phone, &other).await;
    phone.cancel().await.expect("cancelled");
    deliver_until(&phone, &other, "aborted")
        .await
        .expect("the laptop is told");
    assert_eq!(other.failure_reason().as_deref(), Some("peer_cancelled"));
    assert_eq!(other.fingerprint(), None, "nothing imported");
}

#[wasm_bindgen_test]
async fn an_expired_invitation_is_refused_before_anything_is_sent() {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("randomness");
    let expired = PairingInvitation {
        intent: Intent::LinkDevice,
        id: InvitationId::from_bytes(id),
        public_key: [9; 32],
        mailbox: MailboxSeed::from_bytes([7; 32]),
        expires_at: (js_sys::Date::now() / 1000.0) as u64 - 1,
        capabilities: Capabilities::default(),
    };
    let laptop = device("laptop").await;
    let refused = laptop
        .accept_invitation(&expired.to_link_code())
        .expect_err("expired");
    assert_eq!(code_of(&refused), "invitation_expired");
    assert_eq!(laptop.state(), "idle");
    assert!(laptop.poll_transmit().is_none(), "nothing was sent");
}

#[wasm_bindgen_test]
async fn a_reload_of_the_new_device_during_the_link_picks_up_where_it_stopped() {
    let phone = phone_with_persona().await;
    let profile = format!("link-reloading-{}", random_seed());
    let laptop = fresh_device(&profile, "Laptop").await;
    laptop
        .connect_network(test_nodes(), None, None)
        .expect("connects");
    let words = request_link(&phone, &laptop).await;
    drop(laptop);

    // The tab reloads while the phone's user picks the words.
    let laptop = SyncManager::open(profile.clone(), "Laptop".into())
        .await
        .expect("reopens");
    assert_eq!(laptop.state(), "awaiting_approval");
    assert_eq!(laptop.words(), Some(words.clone()));
    laptop
        .connect_network(test_nodes(), None, None)
        .expect("connects");
    phone
        .approve(right_choice(&phone, &words), None)
        .await
        .expect("approved");
    deliver_until(&phone, &laptop, "persona_imported")
        .await
        .expect("the persona arrives after the reload");
    drop(laptop);

    // Reloaded again before the import confirmation went out: it goes out now.
    let laptop = SyncManager::open(profile, "Laptop".into())
        .await
        .expect("reopens");
    assert_eq!(laptop.fingerprint(), phone.fingerprint());
    assert_eq!(laptop.state(), "completed");
    laptop
        .connect_network(test_nodes(), None, None)
        .expect("connects");
    deliver_until(&laptop, &phone, "link_completed")
        .await
        .expect("the phone completes");
    assert_eq!(laptop.resume_error(), None);
}

#[wasm_bindgen_test]
async fn a_reload_as_two_flushes_meet_still_sends_the_request() {
    // The adversary is the moment: the screen that read the code and the pairing loop both
    // flush, and the tab reloads as soon as one of them has returned.
    let phone = phone_with_persona().await;
    let profile = format!("link-two-flushes-{}", random_seed());
    let laptop = fresh_device(&profile, "Laptop").await;
    laptop
        .connect_network(test_nodes(), None, None)
        .expect("connects");
    let words = scan(&phone, &laptop).await;
    let (screen, pairing_loop) = (laptop.flush_to_network(), laptop.flush_to_network());
    futures::future::select(Box::pin(screen), Box::pin(pairing_loop)).await;
    let arrived = phone.poll_network(0).await.expect("polled").length() > 0;
    drop(laptop);

    let laptop = SyncManager::open(profile, "Laptop".into())
        .await
        .expect("reopens");
    assert_eq!(laptop.words(), Some(words));
    laptop
        .connect_network(test_nodes(), None, None)
        .expect("connects");
    let sent_again = laptop.flush_to_network().await.expect("flushed") > 0;
    assert!(
        arrived || sent_again,
        "the request neither arrived before the reload nor was kept to send after it"
    );
}

/// The first test node's address with its port changed to one nobody listens on.
fn unreachable_node() -> String {
    let address = test_nodes().remove(0);
    let mut parts: Vec<&str> = address.split('/').collect();
    if let Some(port) = parts.iter().position(|p| *p == "tcp").map(|i| i + 1) {
        if let Some(part) = parts.get_mut(port) {
            *part = "9";
        }
    }
    parts.join("/")
}

#[wasm_bindgen_test]
async fn a_network_cut_during_the_transfer_is_reported_and_loses_nothing() {
    let phone = phone_with_persona().await;
    let laptop = device("laptop").await;
    let words = request_link(&phone, &laptop).await;
    phone
        .approve(right_choice(&phone, &words), None)
        .await
        .expect("approved");

    // The phone's network goes: the sealed persona cannot leave.
    phone
        .connect_network(vec![unreachable_node()], None, None)
        .expect("a client");
    let cut = phone.flush_to_network().await.expect_err("no network");
    assert!(
        ["network_unreachable", "quorum_not_reached"].contains(&code_of(&cut).as_str()),
        "a typed network error: {}",
        code_of(&cut)
    );
    assert_eq!(phone.state(), "transferring");
    assert_eq!(laptop.state(), "awaiting_approval");
    assert_eq!(laptop.fingerprint(), None, "nothing half-imported");

    // While the network is gone, the app's loop is told to wait longer after each failed
    // step (1 s, then 2 s, …), not to spin.
    phone.poll_network(0).await.expect_err("no network");
    let first = phone.poll_timeout().expect("a time to try again");
    assert!(first > 0.0 && first <= 1000.0, "{first} ms");
    phone.poll_network(0).await.expect_err("no network");
    let second = phone.poll_timeout().expect("a time to try again");
    assert!(second > 1000.0 && second <= 2000.0, "{second} ms");

    // The network comes back: the same sealed payload goes out and the link completes.
    phone
        .connect_network(test_nodes(), None, None)
        .expect("reconnects");
    phone.poll_network(0).await.expect("the network is back");
    assert!(
        phone.poll_timeout().is_none_or(|ms| ms > 2000.0),
        "a step that succeeds starts the waits over"
    );
    deliver_until(&phone, &laptop, "persona_imported")
        .await
        .expect("the persona arrives");
    deliver_until(&laptop, &phone, "link_completed")
        .await
        .expect("completed");
    assert_eq!(laptop.fingerprint(), phone.fingerprint());
}

/// Issue 21 in the app's own facade: a thief with Ada's recovery code (as the phone shows
/// it) publishes a fork of her device list with a device of its own. Grace's conversation
/// with Ada says the list is disputed, and so does the phone, which settles it; Grace then
/// follows the settled list and the dispute is gone.
#[wasm_bindgen_test]
async fn a_fork_from_a_stolen_recovery_code_is_shown_and_settled() {
    use phantom_sync::mailbox::envelope::Envelope;
    use phantom_sync::mailbox::keys::MailboxKeys;
    use phantom_sync::mailbox::transport::{MailboxCursor, MailboxTransport};
    use phantom_sync::messaging::sealed::{ContactCard, InboxItem};
    use phantom_sync::messaging::sessions::DeviceSessions;
    use phantom_sync::network::client::connect_browser;
    use phantom_sync::network::Replication;
    use phantom_sync::persona::{Persona, RecoveryCode};
    use std::time::Duration;

    let phone = phone_with_persona().await;
    phone
        .flush_to_network()
        .await
        .expect("Ada's roster published");
    let grace = device("grace").await;
    grace.create_persona("Grace".into()).await.expect("persona");
    grace
        .add_contact(phone.contact_card().expect("a card"))
        .await
        .expect("added");
    let contacts = grace.contacts().expect("contacts");
    let ada_key: [u8; 32] =
        phantom_sync::encoding::hex_decode(&text(&contacts.get(0), "personaKey"))
            .and_then(|bytes| bytes.try_into().ok())
            .expect("a persona key");
    let disputed = |device: &SyncManager| {
        let conversations = device.conversations().expect("conversations");
        js_sys::Reflect::get(&conversations.get(0), &"disputed".into())
            .expect("a property")
            .is_truthy()
    };
    assert!(!disputed(&grace) && !phone.roster_disputed());

    // The thief: Ada's code and her contact card (whoever she gave it to), and her published
    // roster with a device of its own added.
    let code = RecoveryCode::parse(&phone.recovery_code().expect("the phone's")).expect("words");
    let mut thief_persona = Persona::create(
        "Thief",
        0,
        &mut phantom_sync::testing::SeededRng::new(random_seed()),
    )
    .expect("a persona");
    thief_persona.persona_key = ada_key;
    thief_persona.authority = None;
    thief_persona.take_authority(&code).expect("Ada's code");
    let key = thief_persona.authority_key().expect("Ada's key");
    let nodes: Vec<libp2p::Multiaddr> = test_nodes()
        .iter()
        .map(|a| a.parse().expect("an address"))
        .collect();
    let thief = connect_browser(&nodes, Replication::default()).expect("a client");
    let card = ContactCard::from_link_code(&phone.contact_card().expect("a card")).expect("read");
    let profile_read = card.roster.claimed().expect("a roster").profile_read;
    let profile = MailboxKeys::signed_by(&key, &profile_read);
    let published = MailboxTransport::fetch(
        &thief,
        &profile,
        &mut MailboxCursor::default(),
        Duration::from_secs(2),
    )
    .await
    .expect("fetched");
    let mut genuine = published
        .iter()
        .filter_map(|envelope| match InboxItem::decode(envelope.as_bytes()) {
            Ok(InboxItem::PublishedRoster(signed)) => signed.verify(&ada_key).ok(),
            _ => None,
        })
        .max_by_key(|roster| roster.epoch)
        .expect("Ada's roster");
    genuine.devices.push(DeviceSessions::new().roster_device(
        phantom_sync::persona::DeviceId::from_bytes([0x1d; 16]),
        "Ada's tablet",
        0,
        [0x1e; 32],
    ));
    let fork = common::attacker::sign_as(&genuine, &key);
    MailboxTransport::put(
        &thief,
        &profile,
        Envelope::new(InboxItem::PublishedRoster(fork).encode().expect("encodes")).expect("fits"),
    )
    .await
    .expect("published");

    sync_until(&grace, |e| text(e, "type") == "roster_disputed").await;
    assert!(disputed(&grace), "Grace's conversation with Ada says so");
    sync_until(&phone, |e| text(e, "type") == "roster_disputed").await;
    assert!(phone.roster_disputed());
    phone.settle_roster().await.expect("settled");
    assert!(!phone.roster_disputed());
    phone.flush_to_network().await.expect("announced");
    sync_until(&grace, |e| text(e, "type") == "roster_changed").await;
    assert!(!disputed(&grace), "settled");
}

/// Issue 21 through the facade and IndexedDB: Grace, a contact who turns hostile, sends Ada a
/// text and then, with the encoders and her own sessions, a copy under the same id with
/// other words. Ada's app keeps the first, says a conflicting copy arrived, and lists it.
#[wasm_bindgen_test]
async fn a_contact_rewriting_a_sent_text_is_flagged_and_changes_nothing() {
    use phantom_sync::mailbox::envelope::Envelope;
    use phantom_sync::messaging::sealed::{ContactCard, Content, Text};
    use phantom_sync::messaging::Messenger;
    use phantom_sync::network::client::connect_browser;
    use phantom_sync::network::Replication;
    use phantom_sync::persona::{DeviceKeys, Persona};
    use phantom_sync::testing::SeededRng;

    let ada = phone_with_persona().await;
    ada.flush_to_network().await.expect("published");
    let mut rng = SeededRng::new(random_seed());
    let persona = Persona::create("Grace", 0, &mut rng).expect("persona");
    let keys = DeviceKeys::generate("Grace's phone", 0, &mut rng).expect("keys");
    let mut grace = Messenger::create(&persona, &keys, 0, &mut rng).expect("created");
    let card = ContactCard::from_link_code(&ada.contact_card().expect("a card")).expect("read");
    let ada_key = grace.add_contact(&card, &mut rng).expect("added");
    let sent = grace
        .send_text(
            &ada_key,
            "I will pay you back on Friday",
            1_767_225_600_000,
            &mut rng,
        )
        .expect("sent");
    let mut thief = common::attacker::MaliciousDevice::steal(
        &persona,
        &keys,
        &grace.snapshot().expect("a snapshot"),
        random_seed(),
    );
    let ada_roster = grace
        .contact_roster(&ada_key)
        .expect("Ada's roster")
        .clone();
    let mut transmits = grace.outbox_mut().take_envelopes();
    transmits.push(thief.seal(
        &Content::Text(Text {
            message_id: sent.id,
            recipient: ada_key,
            sent_at_ms: sent.sent_at_ms,
            sequence: 2,
            body: "I never owed you anything".into(),
            introduction: None,
        }),
        &ada_roster.devices,
        ada_roster.inbox,
    ));
    let nodes: Vec<libp2p::Multiaddr> = test_nodes()
        .iter()
        .map(|a| a.parse().expect("an address"))
        .collect();
    let network = connect_browser(&nodes, Replication::default()).expect("a client");
    for transmit in transmits {
        let envelope = Envelope::new(transmit.bytes).expect("fits");
        phantom_sync::mailbox::transport::MailboxTransport::put(
            &network,
            &transmit.mailbox,
            envelope,
        )
        .await
        .expect("stored");
    }

    sync_until(&ada, |e| text(e, "type") == "conflict").await;
    let conversation = text(
        &ada.conversations().expect("conversations").get(0),
        "conversationId",
    );
    let shown = ada.messages(&conversation).expect("messages");
    assert_eq!(shown.length(), 1);
    assert_eq!(text(&shown.get(0), "body"), "I will pay you back on Friday");
    let conflicts = ada.conflicts(&conversation).await.expect("conflicts");
    assert_eq!(conflicts.length(), 1);
    assert_eq!(text(&conflicts.get(0), "body"), "I never owed you anything");
    assert_eq!(text(&conflicts.get(0), "id"), text(&shown.get(0), "id"));
    let stored = ada
        .earlier_messages(&conversation, None, 10)
        .await
        .expect("from IndexedDB");
    assert_eq!(stored.length(), 1, "the vault keeps the first");
    assert_eq!(
        text(&stored.get(0), "body"),
        "I will pay you back on Friday"
    );
}
