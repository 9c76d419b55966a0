//! Messaging across devices over the in-memory mailbox (the browser runs the same suite
//! over real nodes: `tests/browser_network.rs`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::messaging_suite as suite;
use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::transport::MemoryTransport;
use phantom_sync::messaging::messenger::profile_keys;
use phantom_sync::messaging::sealed::InboxItem;
use phantom_sync::messaging::Messenger;
use phantom_sync::persona::{ConversationId, DeviceKeys, Persona};
use phantom_sync::roster::RosterError;
use phantom_sync::testing::SeededRng;

#[test]
fn a_node_sees_no_sender_or_recipient_key() {
    pollster::block_on(suite::a_node_sees_no_sender_or_recipient_key(
        &MemoryTransport::default(),
        2,
    ));
}

#[test]
fn a_device_without_a_sealing_key_gets_one_signed_in() {
    pollster::block_on(suite::a_device_without_a_sealing_key_gets_one_signed_in(
        &MemoryTransport::default(),
        3,
    ));
}

#[test]
fn alice_writes_to_bob_on_both_devices_and_bob_replies() {
    pollster::block_on(suite::alice_writes_to_bob_on_both_devices_and_bob_replies(
        &MemoryTransport::default(),
        1,
    ));
}

#[test]
fn a_dropped_message_is_noticed_and_filled_in() {
    pollster::block_on(suite::a_dropped_message_is_noticed_and_filled_in(
        &MemoryTransport::default(),
        2,
    ));
}

#[test]
fn a_copy_altered_past_its_seal_does_not_spoil_the_genuine_one() {
    pollster::block_on(
        suite::a_copy_altered_past_its_seal_does_not_spoil_the_genuine_one(
            &MemoryTransport::default(),
            3,
        ),
    );
}

#[test]
fn a_block_read_before_its_manifest_is_read_again() {
    pollster::block_on(suite::a_block_read_before_its_manifest_is_read_again(
        &MemoryTransport::default(),
        4,
    ));
}

#[test]
fn a_newly_linked_device_catches_up_on_the_history() {
    pollster::block_on(suite::a_newly_linked_device_catches_up_on_the_history(
        &MemoryTransport::default(),
        8,
        300,
    ));
}

#[test]
fn a_revoked_device_reads_nothing_new() {
    pollster::block_on(suite::a_revoked_device_reads_nothing_new(
        &MemoryTransport::default(),
        3,
    ));
}

#[test]
fn a_device_that_leaves_is_off_the_roster() {
    pollster::block_on(suite::a_device_that_leaves_is_off_the_roster(
        &MemoryTransport::default(),
        4,
    ));
}

#[test]
fn a_revocation_dropped_on_the_way_still_reaches_the_contact() {
    pollster::block_on(
        suite::a_revocation_dropped_on_the_way_still_reaches_the_contact(
            &MemoryTransport::default(),
            5,
        ),
    );
}

#[test]
fn a_removed_device_cannot_sign_a_roster_anyone_accepts() {
    pollster::block_on(suite::a_removed_device_cannot_sign_a_roster_anyone_accepts(
        &MemoryTransport::default(),
        6,
    ));
}

#[test]
fn a_linked_device_cannot_change_the_roster_it_is_on() {
    pollster::block_on(suite::a_linked_device_cannot_change_the_roster_it_is_on(
        &MemoryTransport::default(),
        7,
    ));
}

#[test]
fn the_recovery_code_moves_the_authority_to_another_device() {
    pollster::block_on(
        suite::the_recovery_code_moves_the_authority_to_another_device(
            &MemoryTransport::default(),
            8,
        ),
    );
}

#[test]
fn a_contact_reusing_message_ids_rewrites_no_history() {
    pollster::block_on(suite::a_contact_reusing_message_ids_rewrites_no_history(
        &MemoryTransport::default(),
        9,
    ));
}

#[test]
fn a_fork_signed_with_a_stolen_recovery_code_is_seen_and_gets_nothing() {
    pollster::block_on(
        suite::a_fork_signed_with_a_stolen_recovery_code_is_seen_and_gets_nothing(
            &MemoryTransport::default(),
            10,
        ),
    );
}

#[test]
fn a_removed_device_cannot_learn_the_new_inbox() {
    pollster::block_on(suite::a_removed_device_cannot_learn_the_new_inbox(
        &MemoryTransport::default(),
        11,
    ));
}

/// The linking crash test found it: a new device that reads its persona's published
/// roster (inbox withheld) before the sealed one of the same epoch must still end up
/// holding the full roster, or it can give no contact card — and cannot introduce itself
/// to a contact.
#[test]
fn the_sealed_roster_completes_one_read_first_as_published() {
    use phantom_sync::messaging::messenger::profile_keys;

    let mut rng = SeededRng::new(13);
    let bob = Persona::create("Bob", 0, &mut rng).expect("persona");
    let device =
        |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 0, rng).expect("keys");
    let mut a = Messenger::create(&bob, &device("A", &mut rng), 0, &mut rng).expect("created");
    a.outbox_mut().take_envelopes();
    let mut b = Messenger::join(
        &bob.for_linked_device(),
        &device("B", &mut rng),
        a.signed_roster(),
    )
    .expect("joined");
    a.add_device(b.roster_entry(1), &mut rng).expect("added");
    let mut transmits = a.outbox_mut().take_envelopes();
    let profile = profile_keys(a.roster()).address();
    transmits.sort_by_key(|t| t.mailbox.address() != profile);
    assert_eq!(
        transmits[0].mailbox.address(),
        profile,
        "the published copy, read first"
    );
    for (n, transmit) in transmits.into_iter().enumerate() {
        let envelope = Envelope::new(transmit.bytes).expect("envelope");
        b.receive(transmit.mailbox.address(), &envelope, &mut rng)
            .expect("received");
        if n == 0 {
            assert_eq!(b.roster().epoch, 2);
            assert_eq!(
                b.contact_card().map(drop).map_err(|e| e.code()),
                Err("inbox_not_yet_known")
            );
        }
    }
    assert_eq!(b.roster(), a.roster());
    assert_eq!(b.signed_roster(), a.signed_roster());
    assert!(b.contact_card().is_ok());
}

fn messenger(name: &str, rng: &mut SeededRng) -> (Persona, Messenger) {
    let persona = Persona::create(name, 0, rng).expect("persona");
    let device = DeviceKeys::generate("device", 0, rng).expect("device");
    let mut messenger = Messenger::create(&persona, &device, 0, rng).expect("created");
    messenger.outbox_mut().take_envelopes();
    (persona, messenger)
}

#[test]
fn a_roster_signed_by_another_key_is_refused() {
    use ed25519_dalek::Signer;
    use phantom_sync::roster::SignedRoster;

    let mut rng = SeededRng::new(4);
    let (_, alice) = messenger("Alice", &mut rng);
    let (_, mut bob) = messenger("Bob", &mut rng);
    let (mallory, _) = messenger("Mallory", &mut rng);
    bob.add_contact(&alice.contact_card().expect("card"), &mut rng)
        .expect("added");

    // Mallory's roster claims Alice's persona, one epoch ahead, with Mallory's device.
    let forged = alice
        .roster()
        .with_device(bob.roster_entry(0))
        .expect("room");
    let mallory = mallory.authority_key().expect("Mallory's own authority");
    assert_eq!(
        forged.sign(&mallory),
        Err(RosterError::WrongPersona),
        "our own code never signs another persona's roster"
    );
    let roster = forged.encode().expect("encoded");
    let signature = mallory.sign(&[b"phantom-sync roster v1".as_slice(), &roster].concat());
    let bytes = [b"PS\x01".as_slice(), &signature.to_bytes(), &roster].concat();
    let signed = SignedRoster::decode(&bytes).expect("well formed");
    let envelope = Envelope::new(
        InboxItem::PublishedRoster(signed)
            .encode()
            .expect("encoded"),
    )
    .expect("envelope");
    assert_eq!(
        bob.receive(
            profile_keys(alice.roster()).address(),
            &envelope,
            &mut phantom_sync::testing::SeededRng::new(0)
        )
        .map_err(|e| e.code()),
        Err("roster_bad_signature")
    );
    // Rosters are read where they are published, nowhere else.
    assert_eq!(
        bob.receive(
            bob.roster().inbox.address(),
            &envelope,
            &mut phantom_sync::testing::SeededRng::new(0)
        )
        .map_err(|e| e.code()),
        Err("roster_out_of_place")
    );
    assert_eq!(
        bob.contact_roster(&alice.persona_key()),
        Some(alice.roster()),
        "Bob still holds Alice's real roster"
    );
}

#[test]
fn messaging_state_and_messages_survive_in_the_vault() {
    use phantom_sync::vault::store::MemoryStore;
    use phantom_sync::vault::unlock::MemoryKeyring;
    use phantom_sync::vault::Vault;

    pollster::block_on(async {
        let mut rng = SeededRng::new(5);
        let alice_persona = Persona::create("Alice", 0, &mut rng).expect("persona");
        let alice_device = DeviceKeys::generate("phone", 0, &mut rng).expect("device");
        let mut alice =
            Messenger::create(&alice_persona, &alice_device, 0, &mut rng).expect("created");
        alice.outbox_mut().take_envelopes();
        let (_, mut bob) = messenger("Bob", &mut rng);
        alice
            .add_contact(&bob.contact_card().expect("card"), &mut rng)
            .expect("added");
        let sent = alice
            .send_text(&bob.persona_key(), "kept", 1_000, &mut rng)
            .expect("sent");
        let transmits = alice.outbox_mut().take_envelopes();
        bob.receive(
            transmits[0].mailbox.address(),
            &Envelope::new(transmits[0].bytes.clone()).expect("envelope"),
            &mut phantom_sync::testing::SeededRng::new(0),
        )
        .expect("received");

        let keyring = MemoryKeyring::generate(&mut rng);
        let vault = Vault::import(
            MemoryStore::new(),
            &alice_persona,
            alice_device,
            &keyring,
            &mut rng,
        )
        .await
        .expect("imported");
        vault
            .save_messaging(
                &alice.snapshot().expect("snapshot"),
                phantom_sync::vault::MessageWrites {
                    live: &[sent],
                    ..Default::default()
                },
                &mut rng,
            )
            .await
            .expect("saved");
        let vault = Vault::unlock(vault.lock(), &keyring, None, 0)
            .await
            .expect("reopened");

        let state = vault
            .messaging_state()
            .await
            .expect("read")
            .expect("a state");
        let persona = vault.persona().await.expect("persona");
        let device = vault.device().await.expect("device");
        let mut restored = Messenger::restore(&persona, &device, &state).expect("restored");
        let ids: Vec<ConversationId> = restored.conversations().map(|(id, _)| *id).collect();
        for id in &ids {
            let messages = vault.messages(id).await.expect("messages");
            restored.restore_messages(id, messages).expect("restored");
        }
        let bodies: Vec<String> = restored
            .conversations()
            .flat_map(|(_, log)| log.recent_messages().map(|m| m.body.clone()))
            .collect();
        assert_eq!(bodies, vec!["kept"]);
        assert_eq!(
            restored.contact_roster(&bob.persona_key()),
            Some(bob.roster())
        );

        bob.send_text(&alice.persona_key(), "got it", 2_000, &mut rng)
            .expect("sent");
        let reply = bob.outbox_mut().take_envelopes();
        let events = restored
            .receive(
                reply[0].mailbox.address(),
                &Envelope::new(reply[0].bytes.clone()).expect("envelope"),
                &mut phantom_sync::testing::SeededRng::new(0),
            )
            .expect("the restored sessions open it");
        assert_eq!(events.len(), 1);
        assert_eq!(
            Messenger::restore(&persona, &device, &state[..state.len() - 1])
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("truncated")
        );
    });
}

#[test]
fn a_device_with_unusable_keys_is_refused_and_the_roster_stays() {
    use phantom_sync::roster::RosterDevice;

    let mut rng = SeededRng::new(6);
    let (_, mut bob) = messenger("Bob", &mut rng);
    let before = bob.roster().clone();
    let bogus = RosterDevice {
        device_id: phantom_sync::persona::DeviceId::from_bytes([9; 16]),
        name: "Bogus".into(),
        added_at: 0,
        identity_key: [0; 32],
        signing_key: [0; 32],
        fallback_key: [0; 32],
        sealing_key: None,
    };
    assert_eq!(
        bob.add_device(bogus, &mut rng)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("session_creation_failed")
    );
    assert_eq!(bob.roster(), &before, "nothing half-added");
}

#[test]
fn every_device_hears_of_a_newly_linked_one() {
    use phantom_sync::messaging::MessagingEvent;

    let mut rng = SeededRng::new(7);
    let bob = Persona::create("Bob", 0, &mut rng).expect("persona");
    let device =
        |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 0, rng).expect("keys");
    let mut a = Messenger::create(&bob, &device("A", &mut rng), 0, &mut rng).expect("created");
    a.outbox_mut().take_envelopes();
    let mut b = Messenger::join(
        &bob.for_linked_device(),
        &device("B", &mut rng),
        a.signed_roster(),
    )
    .expect("joined");
    let inbox = a.roster().inbox;
    a.add_device(b.roster_entry(5), &mut rng).expect("added");
    for transmit in a.outbox_mut().take_envelopes() {
        if transmit.mailbox == inbox.keys() {
            b.receive(
                transmit.mailbox.address(),
                &Envelope::new(transmit.bytes).expect("envelope"),
                &mut phantom_sync::testing::SeededRng::new(0),
            )
            .expect("received");
        }
    }
    let c = Messenger::join(
        &bob.for_linked_device(),
        &device("C", &mut rng),
        a.signed_roster(),
    )
    .expect("joined");
    let mut events = Vec::new();
    a.add_device(c.roster_entry(9), &mut rng).expect("added");
    for transmit in a.outbox_mut().take_envelopes() {
        if transmit.mailbox == inbox.keys() {
            if let Ok(received) = b.receive(
                transmit.mailbox.address(),
                &Envelope::new(transmit.bytes).expect("envelope"),
                &mut phantom_sync::testing::SeededRng::new(0),
            ) {
                events.extend(received);
            }
        }
    }
    assert!(
        events.contains(&MessagingEvent::DeviceLinked {
            device_id: c.device_id(),
            name: "C".into(),
            added_at: 9
        }),
        "{events:?}"
    );
}

/// The direct-channel signals (content kinds 6 and 7): only the device a transfer was
/// offered to may ask for a channel, only its source may answer, and the want the new
/// device sends asks for what it lacks.
#[test]
fn a_direct_channel_is_asked_for_and_answered_only_between_the_transfer_s_two_devices() {
    use phantom_sync::history::direct::DirectServer;
    use phantom_sync::messaging::{MessagingError, MessagingEvent};

    let mut rng = SeededRng::new(11);
    let bob = Persona::create("Bob", 0, &mut rng).expect("persona");
    let device =
        |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 0, rng).expect("keys");
    let mut a = Messenger::create(&bob, &device("A", &mut rng), 0, &mut rng).expect("created");
    a.outbox_mut().take_envelopes();
    let deliver = |to: &mut Messenger,
                   transmits: Vec<phantom_sync::mailbox::Transmit>,
                   inbox: phantom_sync::mailbox::keys::MailboxSeed| {
        let mut events = Vec::new();
        for transmit in transmits {
            if transmit.mailbox == inbox.keys() {
                match to.receive(
                    transmit.mailbox.address(),
                    &Envelope::new(transmit.bytes).expect("envelope"),
                    &mut phantom_sync::testing::SeededRng::new(0),
                ) {
                    Ok(received) => events.extend(received),
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(events)
    };
    let inbox = a.roster().inbox;
    let mut b = Messenger::join(
        &bob.for_linked_device(),
        &device("B", &mut rng),
        a.signed_roster(),
    )
    .expect("joined");
    a.add_device(b.roster_entry(5), &mut rng).expect("added");
    // A has no messages: the transfer is a manifest of no blocks.
    let plan = a
        .begin_history_offer(&b.device_id(), &mut rng)
        .expect("planned");
    let offered = a
        .finish_history_offer(&plan.device_id, plan.transfer, &mut rng)
        .expect("offered");
    assert_eq!(offered.publication.blocks, 0);
    let linked = a.outbox_mut().take_envelopes();
    let events = deliver(&mut b, linked, inbox).expect("received");
    let Some(MessagingEvent::HistoryOffered { transfer_id }) = events
        .iter()
        .find(|e| matches!(e, MessagingEvent::HistoryOffered { .. }))
        .cloned()
    else {
        panic!("no history offer: {events:?}");
    };

    // B asks A; A hears it with B's offer.
    b.request_direct("v=0 offer".into(), &mut rng)
        .expect("asked");
    let request = b.outbox_mut().take_envelopes();
    let events = deliver(&mut a, request, inbox).expect("received");
    assert_eq!(
        events,
        vec![MessagingEvent::DirectRequested {
            transfer_id,
            device_id: b.device_id(),
            sdp: "v=0 offer".into()
        }]
    );
    a.accept_direct(&transfer_id, "v=0 answer".into(), &mut rng)
        .expect("answered");
    let answer = a.outbox_mut().take_envelopes();
    let events = deliver(&mut b, answer, inbox).expect("received");
    assert_eq!(
        events,
        vec![MessagingEvent::DirectAccepted {
            transfer_id,
            sdp: "v=0 answer".into()
        }]
    );

    // The want asks for everything; A's server answers it with the manifest and each block.
    let want = b.direct_want(None).expect("a transfer under way");
    assert!(!want.manifest_known && want.received.is_empty());
    let server: std::sync::Arc<DirectServer> = a.direct_server(&transfer_id).expect("served");
    assert_eq!(
        server.frames_for(&want).expect("frames").len(),
        server.blocks() + 1
    );

    // A third device of the persona was offered nothing: its request is refused.
    let mut c = Messenger::join(
        &bob.for_linked_device(),
        &device("C", &mut rng),
        a.signed_roster(),
    )
    .expect("joined");
    a.add_device(c.roster_entry(9), &mut rng).expect("added");
    deliver(&mut c, a.outbox_mut().take_envelopes(), inbox).ok();
    assert_eq!(
        c.request_direct("v=0".into(), &mut rng).map(|_| ()),
        Err(MessagingError::NoHistoryTransfer)
    );
    assert_eq!(
        a.accept_direct(
            &phantom_sync::history::TransferId::from_bytes([0; 16]),
            "v=0".into(),
            &mut rng
        )
        .map(|_| ()),
        Err(MessagingError::UnknownTransfer)
    );
}

#[test]
fn nothing_sent_is_lost_when_a_device_is_closed_at_any_moment() {
    pollster::block_on(
        suite::nothing_sent_is_lost_when_a_device_is_closed_at_any_moment(
            &MemoryTransport::default(),
            12,
            60,
        ),
    );
}

/// A persona with no messages yet still offers a history: a manifest of no blocks. The
/// new device hears that its catch-up is complete as soon as the manifest arrives (it
/// used to wait for blocks that never come).
#[test]
fn a_history_of_no_messages_is_complete_with_its_manifest() {
    use phantom_sync::messaging::MessagingEvent;

    let mut rng = SeededRng::new(13);
    let bob = Persona::create("Bob", 0, &mut rng).expect("persona");
    let device =
        |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 0, rng).expect("keys");
    let mut a = Messenger::create(&bob, &device("A", &mut rng), 0, &mut rng).expect("created");
    let mut b = Messenger::join(
        &bob.for_linked_device(),
        &device("B", &mut rng),
        a.signed_roster(),
    )
    .expect("joined");
    a.add_device(b.roster_entry(5), &mut rng).expect("added");
    let plan = a
        .begin_history_offer(&b.device_id(), &mut rng)
        .expect("planned");
    let offered = a
        .finish_history_offer(&plan.device_id, plan.transfer, &mut rng)
        .expect("offered");
    assert_eq!(offered.publication.blocks, 0);
    assert_eq!(a.outbox().blocks(), 0, "no blocks to publish");
    let sent = a.outbox_mut().take_envelopes();
    let inbox = a.roster().inbox;
    for transmit in sent.iter().filter(|t| t.mailbox == inbox.keys()) {
        let _ = b.receive(
            transmit.mailbox.address(),
            &Envelope::new(transmit.bytes.clone()).expect("envelope"),
            &mut phantom_sync::testing::SeededRng::new(0),
        );
    }
    assert_eq!(
        b.history_mailbox(),
        Some(offered.publication.mailbox.keys())
    );
    let manifest = sent
        .iter()
        .find(|t| t.mailbox == offered.publication.mailbox.keys())
        .expect("the manifest");
    let events = b.receive_history(&manifest.bytes).expect("read");
    let [MessagingEvent::HistoryImported {
        messages, progress, ..
    }] = &events[..]
    else {
        panic!("one progress event: {events:?}");
    };
    assert!(messages.is_empty());
    assert_eq!((progress.blocks_done, progress.blocks_total), (0, 0));
    assert_eq!(b.history_mailbox(), None, "nothing more to wait for");
}

/// The source keeps a transfer's blocks until a newer offer to the same device replaces
/// it. Which stored transfers that frees is the messenger's to say: the one offered earlier
/// since it started, and one a reload left waiting in its outbox, each named once.
#[test]
fn a_new_history_offer_frees_the_transfers_it_replaces_once() {
    use phantom_sync::persona::{Message, MessageId, Sender};

    let mut rng = SeededRng::new(14);
    let bob = Persona::create("Bob", 0, &mut rng).expect("persona");
    let device =
        |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 0, rng).expect("keys");
    let keys = device("A", &mut rng);
    let mut a = Messenger::create(&bob, &keys, 0, &mut rng).expect("created");
    let b = Messenger::join(
        &bob.for_linked_device(),
        &device("B", &mut rng),
        a.signed_roster(),
    )
    .expect("joined");
    a.add_device(b.roster_entry(5), &mut rng).expect("added");
    let message = Message {
        id: MessageId::from_bytes([7; 16]),
        conversation_id: ConversationId::from_bytes([1; 16]),
        sender: Sender::OwnDevice(a.device_id()),
        sent_at_ms: 1_000,
        body: "kept for the history".into(),
    };
    let offer = |a: &mut Messenger, rng: &mut SeededRng| {
        let mut plan = a.begin_history_offer(&b.device_id(), rng).expect("planned");
        plan.transfer
            .push(message.conversation_id, &message, rng)
            .expect("packed");
        a.finish_history_offer(&plan.device_id, plan.transfer, rng)
            .expect("offered")
    };
    let ids = |offered: &[phantom_sync::messaging::outbox::HistoryPublication]| {
        offered.iter().map(|p| p.transfer_id).collect::<Vec<_>>()
    };

    let first = offer(&mut a, &mut rng);
    assert!(first.superseded.is_empty());
    assert_eq!(first.publication.blocks, 1);
    // Its block still waits in the outbox and was offered this session: named once.
    let second = offer(&mut a, &mut rng);
    assert_eq!(ids(&second.superseded), [first.publication.transfer_id]);
    // Its block was put: only the session remembers it.
    a.outbox_mut()
        .block_sent(&second.publication.transfer_id, 0);
    assert_eq!(a.outbox().blocks(), 0);
    let third = offer(&mut a, &mut rng);
    assert_eq!(ids(&third.superseded), [second.publication.transfer_id]);
    // A reload: the outbox kept the third transfer's block, the session's memory did not.
    let snapshot = a.snapshot().expect("snapshot");
    let mut reloaded = Messenger::restore(&bob, &keys, &snapshot).expect("restored");
    let fourth = offer(&mut reloaded, &mut rng);
    assert_eq!(ids(&fourth.superseded), [third.publication.transfer_id]);
}

/// Vaults written before the snapshot knew when devices were last active (format 2), which
/// rosters are disputed (format 3), the inboxes of rosters held as published (format 4) or
/// the keys of the mailboxes its outbox writes to (format 5) open as they were, with that
/// unknown; a current snapshot cut short is refused, not misread.
#[test]
fn older_snapshot_formats_open_with_what_they_lack_unknown() {
    let mut rng = SeededRng::new(12);
    let persona = Persona::create("Bob", 0, &mut rng).expect("persona");
    let device = DeviceKeys::generate("device", 0, &mut rng).expect("device");
    let mut bob = Messenger::create(&persona, &device, 0, &mut rng).expect("created");
    // An empty outbox reads the same in formats 5 and 6 (the outbox's own test covers one
    // that waits).
    bob.outbox_mut().take_envelopes();
    let current = bob.snapshot().expect("snapshot");
    assert_eq!(current.get(2), Some(&6), "format 6 after the magic");
    // Format 5 names no mailbox keys, none here; format 4 is format 5 without the trailing
    // inbox (32 bytes, no contacts here); each older one is the next without its trailing
    // count (empty here: 4 bytes).
    for (format, cut) in [(5u8, 0), (4, 32), (3, 36), (2, 40)] {
        let mut older = current[..current.len() - cut].to_vec();
        older[2] = format;
        let reopened =
            Messenger::restore(&persona, &device, &older).expect("an older format opens");
        assert_eq!(reopened.roster(), bob.roster());
        assert_eq!(reopened.outbox().envelopes(), bob.outbox().envelopes());
        assert_eq!(reopened.last_active(&device.device_id), None);
    }
    assert!(Messenger::restore(&persona, &device, &current[..current.len() - 4]).is_err());
}
