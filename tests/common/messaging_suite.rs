//! One messaging scenario, run over any mailbox transport: in memory natively, and over
//! real local nodes from headless Chromium.
//!
//! Alice has one device; Bob has devices A and B. Each step checks what the issue asks:
//! fan-out to every device once, CC to self, read state synced, duplicates and replays
//! ignored, gaps noticed and filled, and a revoked device that reads nothing new.

use std::time::Duration;

use super::attacker::{sign_as, MaliciousDevice};
use phantom_sync::device::{
    DeviceEvent, HistoryBlockStored, OfferRequest, PersonaSync, SyncRequest, SyncStart,
};
use phantom_sync::history::vault_export::export_from_vault;
use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::keys::{MailboxKeys, MailboxSeed};
use phantom_sync::mailbox::transport::{FetchedPage, MailboxCursor, MailboxTransport};
use phantom_sync::mailbox::{MailboxAddress, Transmit};
use phantom_sync::messaging::conversation_log::RECENT_MESSAGES;
use phantom_sync::messaging::messenger::profile_keys;
use phantom_sync::messaging::reading::Reading;
use phantom_sync::messaging::sealed::InboxItem;
use phantom_sync::messaging::sealed::{Content, Text};
use phantom_sync::messaging::sealed_sender::SealingSecret;
use phantom_sync::messaging::sessions::DeviceSessions;
use phantom_sync::messaging::{MessagingError, MessagingEvent, Messenger};
use phantom_sync::persona::{DeviceId, DeviceKeys, Message, Persona, RecoveryCode, Sender};
use phantom_sync::roster::RosterDevice;
use phantom_sync::secret::Secret;
use phantom_sync::testing::SeededRng;
use phantom_sync::vault::store::MemoryStore;
use phantom_sync::vault::unlock::MemoryKeyring;
use phantom_sync::vault::{MessageWrites, Vault};

const NOW: u64 = 1_767_225_600;

/// A device, its persona and keys: the core's [`PersonaSync`] (its messenger, its cursors
/// and the rules of a sync, as the browser runs them), driven over a transport.
pub struct Device {
    core: PersonaSync,
    persona: Persona,
    keys: DeviceKeys,
    /// For what receiving makes the device send.
    rng: SeededRng,
}

/// What one poll brought.
#[derive(Debug, Default)]
pub struct Polled {
    pub events: Vec<MessagingEvent>,
    pub errors: Vec<MessagingError>,
    /// History blocks stored, in order.
    pub blocks: Vec<HistoryBlockStored>,
}

impl Polled {
    pub fn messages(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|event| match event {
                MessagingEvent::Message { message, .. } => Some(message.body.clone()),
                _ => None,
            })
            .collect()
    }

    /// The messages that arrived.
    pub fn received(&self) -> Vec<Message> {
        self.events
            .iter()
            .filter_map(|event| match event {
                MessagingEvent::Message { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn error_codes(&self) -> Vec<&'static str> {
        self.errors.iter().map(|e| e.code()).collect()
    }
}

/// Where a sync takes the history offered to the device from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Its mailbox, a batch a sync, as a page does.
    Mailbox,
    /// Elsewhere: the test reads it itself, step by step.
    Elsewhere,
}

impl Device {
    fn new(messenger: Messenger, persona: &Persona, keys: &DeviceKeys) -> Self {
        Self {
            core: PersonaSync::new(messenger),
            persona: persona.clone(),
            keys: keys.clone(),
            rng: SeededRng::new(u64::from_le_bytes(
                keys.device_id.as_bytes()[..8]
                    .try_into()
                    .unwrap_or_default(),
            )),
        }
    }

    pub fn messenger(&self) -> &Messenger {
        self.core.messenger()
    }

    pub fn messenger_mut(&mut self) -> &mut Messenger {
        self.core.messenger_mut()
    }

    /// The device after a reload: its state from a snapshot, its messages as stored.
    pub fn reload(&mut self) {
        let snapshot = self.messenger().snapshot().expect("a snapshot");
        let mut restored =
            Messenger::restore(&self.persona, &self.keys, &snapshot).expect("restored");
        for (id, log) in self.messenger().conversations() {
            restored
                .restore_messages(id, log.recent_messages().cloned().collect())
                .expect("a known conversation");
        }
        self.core = PersonaSync::new(restored);
    }

    /// The device after a reload, its messages counted back in from its vault.
    pub async fn reload_from(&mut self, vault: &Vault<MemoryStore>) {
        let snapshot = self.messenger().snapshot().expect("a snapshot");
        let mut restored =
            Messenger::restore(&self.persona, &self.keys, &snapshot).expect("restored");
        restored.restore_from_vault(vault).await.expect("read");
        self.core = PersonaSync::new(restored);
    }

    /// What an attacker who takes this device, or a copy of its storage, holds.
    pub fn stolen(&self, seed: u64) -> MaliciousDevice {
        let snapshot = self.messenger().snapshot().expect("a snapshot");
        MaliciousDevice::steal(&self.persona, &self.keys, &snapshot, seed)
    }

    /// The person types the recovery code on this device.
    pub fn take_authority(&mut self, code: &str) -> Result<(), &'static str> {
        let code = RecoveryCode::parse(code).map_err(|e| e.code())?;
        self.persona.take_authority(&code).map_err(|e| e.code())?;
        self.core
            .messenger_mut()
            .take_authority(&self.persona)
            .map_err(|e| e.code())
    }

    /// A sync of every mailbox the device listens on; the history is left to the test.
    pub async fn poll(&mut self, transport: &impl MailboxTransport) -> Polled {
        self.sync(transport, History::Elsewhere).await
    }

    /// A sync as a page runs it (`SyncManager.syncMessages`), with no direct channel. The
    /// device's memory is its vault: every write is stored, every message new to it.
    pub async fn sync(&mut self, transport: &impl MailboxTransport, history: History) -> Polled {
        let mut polled = Polled::default();
        self.core
            .start_sync(SyncStart {
                now_ms: NOW * 1000,
                wait: Duration::ZERO,
                direct_history: false,
                first_conversation: None,
                channel: None,
            })
            .expect("started");
        while let Some(request) = self.core.poll_request() {
            match request {
                // The test reads the history itself: the mailbox shows the sync nothing.
                SyncRequest::Fetch(fetch)
                    if history == History::Elsewhere
                        && Some(&fetch.mailbox) == self.messenger().history_mailbox().as_ref() =>
                {
                    self.core
                        .handle_fetched(fetch.cursor, Vec::new(), &mut self.rng)
                        .expect("a fetch asked for");
                }
                SyncRequest::Fetch(fetch) => {
                    let mut cursor = fetch.cursor;
                    let envelopes = transport
                        .fetch_some(&fetch.mailbox, &mut cursor, fetch.wait, fetch.enough)
                        .await
                        .expect("fetched");
                    self.core
                        .handle_fetched(cursor, envelopes, &mut self.rng)
                        .expect("a fetch asked for");
                }
                SyncRequest::Save(save) => {
                    let messages = save.live.len() + save.history.len();
                    self.core
                        .handle_saved(save.mark, &vec![true; messages], NOW * 1000)
                        .expect("a save asked for");
                }
                // Each test puts what it sends itself (`deliver`), when its story needs it;
                // with direct history off, no channel is held.
                SyncRequest::Flush | SyncRequest::CloseDirect => {}
                other => panic!("no direct channel in this suite: {other:?}"),
            }
            while let Some(event) = self.core.poll_event() {
                match event {
                    DeviceEvent::Messaging(event) => polled.events.push(event),
                    DeviceEvent::Refused(error) => polled.errors.push(error),
                    DeviceEvent::HistoryBlock(block) => polled.blocks.push(block),
                    DeviceEvent::DirectFailed(error) => panic!("no channel was asked: {error}"),
                }
            }
        }
        polled
    }

    /// Reads one mailbox, such as a contact's profile, by the rules of a sync (a hole in a
    /// sender's stream reads every listened mailbox again).
    pub async fn read(
        &mut self,
        transport: &impl MailboxTransport,
        mailbox: &MailboxKeys,
        polled: &mut Polled,
    ) {
        let mut cursor = self.core.reading_mut().take(mailbox.address());
        let envelopes = transport
            .fetch(mailbox, &mut cursor, Duration::ZERO)
            .await
            .expect("fetched");
        self.core.reading_mut().put_back(mailbox.address(), cursor);
        let listening = self.messenger().listening();
        for envelope in envelopes {
            match self
                .core
                .messenger_mut()
                .receive(mailbox.address(), &envelope, &mut self.rng)
            {
                Ok(events) => {
                    for event in &events {
                        self.core.reading_mut().after_event(event, &listening);
                    }
                    polled.events.extend(events);
                }
                Err(error) => polled.errors.push(error),
            }
        }
    }

    fn unread_with(&self, peer: &Messenger) -> usize {
        self.messenger()
            .conversations()
            .find(|(_, log)| log.peer == peer.persona_key())
            .map_or(0, |(_, log)| log.unread())
    }

    fn bodies_with(&self, peer: &Messenger) -> Vec<String> {
        self.messenger()
            .conversations()
            .find(|(_, log)| log.peer == peer.persona_key())
            .map(|(_, log)| log.recent_messages().map(|m| m.body.clone()).collect())
            .unwrap_or_default()
    }
}

pub async fn deliver(transport: &impl MailboxTransport, transmits: Vec<Transmit>) {
    for transmit in transmits {
        let envelope = Envelope::new(transmit.bytes).expect("fits an envelope");
        let size = envelope.len();
        transport
            .put(&transmit.mailbox, envelope)
            .await
            .unwrap_or_else(|e| panic!("a {size}-byte envelope was not stored: {e}"));
    }
}

/// Puts what an attacker made, each envelope wherever the network takes it, and counts
/// those stored: one it refuses (a write to a mailbox the attacker holds no key for — real
/// nodes check; the in-memory transport takes anything) is part of the defence, not a
/// failure of the test.
pub async fn attempt(transport: &impl MailboxTransport, transmits: Vec<Transmit>) -> usize {
    let mut stored = 0;
    for transmit in transmits {
        let envelope = Envelope::new(transmit.bytes).expect("fits an envelope");
        if transport.put(&transmit.mailbox, envelope).await.is_ok() {
            stored += 1;
        }
    }
    stored
}

pub struct Cast {
    pub rng: SeededRng,
    pub alice: Device,
    pub bob_a: Device,
    pub bob_b: Device,
    /// Bob's persona key: Alice added Bob from his contact card.
    pub bob_key: [u8; 32],
}

/// Alice with one device; Bob with A, then B linked (A adds B to the roster); Alice adds
/// Bob as a contact.
pub async fn cast(transport: &impl MailboxTransport, seed: u64) -> Cast {
    cast_with_tablet_entry(transport, seed, |_| {}).await
}

/// [`cast`], with the tablet's roster entry changed by `adjust` before A adds it.
async fn cast_with_tablet_entry(
    transport: &impl MailboxTransport,
    seed: u64,
    adjust: impl FnOnce(&mut RosterDevice),
) -> Cast {
    let mut rng = SeededRng::new(seed);
    let alice_persona = Persona::create("Alice", NOW, &mut rng).expect("persona");
    let alice_phone = DeviceKeys::generate("Alice's phone", NOW, &mut rng).expect("device");
    let mut alice =
        Messenger::create(&alice_persona, &alice_phone, NOW, &mut rng).expect("created");
    deliver(transport, alice.outbox_mut().take_envelopes()).await;

    let bob_persona = Persona::create("Bob", NOW, &mut rng).expect("persona");
    let laptop = DeviceKeys::generate("Bob's laptop", NOW, &mut rng).expect("device");
    let mut bob_a = Messenger::create(&bob_persona, &laptop, NOW, &mut rng).expect("created");
    deliver(transport, bob_a.outbox_mut().take_envelopes()).await;

    let tablet = DeviceKeys::generate("Bob's tablet", NOW, &mut rng).expect("device");
    // What the tablet receives when it links: the persona without the authority.
    let tablet_persona = bob_persona.for_linked_device();
    let bob_b = Messenger::join(&tablet_persona, &tablet, bob_a.signed_roster()).expect("joined");
    let mut entry = bob_b.roster_entry(NOW);
    adjust(&mut entry);
    bob_a.add_device(entry, &mut rng).expect("added");
    deliver(transport, bob_a.outbox_mut().take_envelopes()).await;
    let mut bob_b = Device::new(bob_b, &tablet_persona, &tablet);
    let polled = bob_b.poll(transport).await;
    assert!(
        polled.events.contains(&MessagingEvent::RosterChanged {
            persona_key: bob_a.persona_key(),
            epoch: 2
        }),
        "B learns it is on the roster: {polled:?}"
    );
    assert_eq!(bob_b.messenger().roster().devices.len(), 2);
    let card = bob_a.contact_card().expect("card");
    let bob_key = alice.add_contact(&card, &mut rng).expect("added");
    Cast {
        bob_key,
        rng,
        alice: Device::new(alice, &alice_persona, &alice_phone),
        bob_a: Device::new(bob_a, &bob_persona, &laptop),
        bob_b,
    }
}

/// The cast once Alice wrote "before" to Bob and both his devices read it: Bob now knows
/// Alice as a contact, so what he changes is sealed to her too.
async fn cast_after_a_first_message(transport: &impl MailboxTransport, seed: u64) -> Cast {
    let mut cast = cast(transport, seed).await;
    cast.alice
        .messenger_mut()
        .send_text(&cast.bob_key, "before", NOW * 1000, &mut cast.rng)
        .expect("sent");
    deliver(
        transport,
        cast.alice.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    for bob in [&mut cast.bob_a, &mut cast.bob_b] {
        assert_eq!(bob.poll(transport).await.messages(), vec!["before"]);
    }
    cast
}

pub async fn alice_writes_to_bob_on_both_devices_and_bob_replies(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast(transport, seed).await;

    alice
        .messenger_mut()
        .send_text(&bob_key, "Hi Bob!", NOW * 1000, &mut rng)
        .expect("sent");
    let sent = alice.messenger_mut().outbox_mut().take_envelopes();
    assert_eq!(sent.len(), 1, "Alice has no other device to copy");
    deliver(transport, sent.clone()).await;
    for bob in [&mut bob_a, &mut bob_b] {
        let polled = bob.poll(transport).await;
        assert_eq!(polled.messages(), vec!["Hi Bob!"], "{polled:?}");
        assert!(polled.errors.is_empty(), "{polled:?}");
        assert!(polled
            .events
            .iter()
            .any(|e| matches!(e, MessagingEvent::ContactAdded { display_name, .. } if display_name == "Alice")));
        assert_eq!(bob.unread_with(alice.messenger()), 1);
    }

    // The same envelope again, and a node replaying it: nothing changes.
    deliver(transport, sent.clone()).await;
    let replay = Envelope::new(sent[0].bytes.clone()).expect("envelope");
    assert!(bob_b
        .messenger_mut()
        .receive(sent[0].mailbox.address(), &replay, &mut rng)
        .expect("ignored")
        .is_empty());
    assert!(bob_b.poll(transport).await.events.is_empty());
    assert_eq!(bob_b.bodies_with(alice.messenger()), vec!["Hi Bob!"]);

    // Bob replies from A: Alice gets it, and B shows it in the conversation too.
    bob_a
        .messenger_mut()
        .send_text(
            &alice.messenger().persona_key(),
            "Hi Alice, from my laptop",
            NOW * 1000 + 5,
            &mut rng,
        )
        .expect("sent");
    let reply = bob_a.messenger_mut().outbox_mut().take_envelopes();
    assert_eq!(reply.len(), 2, "to Alice's inbox and Bob's own");
    deliver(transport, reply).await;
    assert_eq!(
        alice.poll(transport).await.messages(),
        vec!["Hi Alice, from my laptop"]
    );
    let on_b = bob_b.poll(transport).await;
    assert_eq!(on_b.messages(), vec!["Hi Alice, from my laptop"]);
    assert!(on_b.events.iter().any(|e| matches!(
        e,
        MessagingEvent::Message { message, .. }
            if message.sender == Sender::OwnDevice(bob_a.messenger().device_id())
    )));
    assert_eq!(
        bob_b.bodies_with(alice.messenger()),
        vec!["Hi Bob!", "Hi Alice, from my laptop"],
        "ordered by sender time"
    );

    // B knows when A was last in use (the reply's time), and it knows it after a reload.
    let bob_a_id = bob_a.messenger().device_id();
    assert_eq!(
        bob_b.messenger().last_active(&bob_a_id),
        Some(NOW * 1000 + 5)
    );
    assert_eq!(
        alice.messenger().last_active(&bob_a_id),
        None,
        "own devices only"
    );

    // B reloads: what it knows, its sessions and what it has seen come back.
    bob_b.reload();
    assert_eq!(
        bob_b.messenger().last_active(&bob_a_id),
        Some(NOW * 1000 + 5)
    );
    assert!(bob_b
        .messenger_mut()
        .receive(sent[0].mailbox.address(), &replay, &mut rng)
        .expect("ignored")
        .is_empty());
    assert_eq!(
        bob_b.bodies_with(alice.messenger()),
        vec!["Hi Bob!", "Hi Alice, from my laptop"]
    );

    // Bob reads on A: B's unread count clears, and applying it sends nothing back.
    assert_eq!(bob_b.unread_with(alice.messenger()), 1);
    let conversation = *bob_a
        .messenger()
        .conversations()
        .next()
        .expect("a conversation")
        .0;
    assert!(bob_a
        .messenger_mut()
        .mark_read(&conversation, &mut rng)
        .expect("read"));
    let read = bob_a.messenger_mut().outbox_mut().take_envelopes();
    assert_eq!(read.len(), 1);
    assert!(
        !bob_a
            .messenger_mut()
            .mark_read(&conversation, &mut rng)
            .expect("again"),
        "reading twice is one state change"
    );
    assert!(bob_a.messenger().outbox().is_empty());
    deliver(transport, read).await;
    let polled = bob_b.poll(transport).await;
    assert_eq!(
        polled.events,
        vec![MessagingEvent::ReadStateChanged {
            conversation_id: conversation,
            unread: 0
        }]
    );
    assert_eq!(bob_b.unread_with(alice.messenger()), 0);
    assert_eq!(bob_a.unread_with(alice.messenger()), 0);

    // After a reload, Alice's next message still opens on B (its Olm session came back).
    bob_b.reload();
    alice
        .messenger_mut()
        .send_text(&bob_key, "Still there?", NOW * 1000 + 9, &mut rng)
        .expect("sent");
    let again = alice.messenger_mut().outbox_mut().take_envelopes();
    deliver(transport, again).await;
    assert_eq!(bob_b.poll(transport).await.messages(), vec!["Still there?"]);
    assert_eq!(bob_b.unread_with(alice.messenger()), 1);
}

/// Issue 22 (sealed sender): a node holds every envelope of both inboxes after Alice and
/// Bob wrote to each other — first messages with their introductions, a reply copied to
/// Bob's other device, read marks between Bob's devices. None of them carries a persona
/// key or any key of any device: the node cannot tell who wrote, or to which devices.
pub async fn a_node_sees_no_sender_or_recipient_key(transport: &impl MailboxTransport, seed: u64) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast(transport, seed).await;
    alice
        .messenger_mut()
        .send_text(&bob_key, "Hi Bob!", NOW * 1000, &mut rng)
        .expect("sent");
    deliver(
        transport,
        alice.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    bob_b.poll(transport).await;
    assert_eq!(bob_a.poll(transport).await.messages(), vec!["Hi Bob!"]);
    let alice_key = alice.messenger().persona_key();
    bob_a
        .messenger_mut()
        .send_text(&alice_key, "Hi Alice", NOW * 1000 + 5, &mut rng)
        .expect("sent");
    let conversation = *bob_a.messenger().conversations().next().expect("one").0;
    bob_a
        .messenger_mut()
        .mark_read(&conversation, &mut rng)
        .expect("read");
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    assert_eq!(alice.poll(transport).await.messages(), vec!["Hi Alice"]);
    assert_eq!(bob_b.poll(transport).await.messages(), vec!["Hi Alice"]);

    let mut keys = vec![alice_key, bob_key];
    for roster in [alice.messenger().roster(), bob_a.messenger().roster()] {
        for device in &roster.devices {
            keys.extend([device.identity_key, device.signing_key, device.fallback_key]);
            keys.extend(device.sealing_key);
        }
    }
    assert_eq!(keys.len(), 2 + 3 * 4, "every device has a sealing key");
    let mut held = 0;
    for roster in [alice.messenger().roster(), bob_a.messenger().roster()] {
        for envelope in everything_in(transport, &roster.inbox.keys()).await {
            let bytes = envelope.as_bytes();
            assert!(
                matches!(InboxItem::decode(bytes), Ok(InboxItem::SenderSealed(_))),
                "sender sealed"
            );
            for key in &keys {
                assert!(
                    !bytes.windows(32).any(|window| window == key),
                    "an envelope names {}",
                    hex::encode(key)
                );
            }
            held += 1;
        }
    }
    // Bob's inbox: the tablet's welcome (roster, no contact yet), Alice's text, Bob's copy
    // of his reply and his read mark; Alice's: the reply.
    assert!(held >= 4, "{held} envelopes");
}

/// A tablet linked before devices had sealing keys is on Bob's roster without one: Alice
/// seals to Bob in the clear-sender format, which both his devices read. The tablet then
/// sends its key; the laptop, holding the authority, signs it in, and Alice's next message
/// hides its sender. The tablet cannot change its key once listed.
pub async fn a_device_without_a_sealing_key_gets_one_signed_in(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast_with_tablet_entry(transport, seed, |entry| entry.sealing_key = None).await;
    let tablet_id = bob_b.messenger().device_id();
    let tablet_key = |bob: &Device| {
        bob.messenger()
            .roster()
            .device(&tablet_id)
            .and_then(|d| d.sealing_key)
    };
    assert_eq!(tablet_key(&bob_a), None);
    let mut send = |alice: &mut Device, body: &str, at: u64| {
        alice
            .messenger_mut()
            .send_text(&bob_key, body, NOW * 1000 + at, &mut rng)
            .expect("sent");
        alice.messenger_mut().outbox_mut().take_envelopes()
    };
    let sent = send(&mut alice, "before", 1);
    assert!(matches!(
        InboxItem::decode(&sent[0].bytes),
        Ok(InboxItem::Sealed(_))
    ));
    deliver(transport, sent).await;
    for bob in [&mut bob_a, &mut bob_b] {
        assert_eq!(bob.poll(transport).await.messages(), vec!["before"]);
    }

    assert!(bob_b
        .messenger_mut()
        .announce_sealing_key(&mut SeededRng::new(seed ^ 9))
        .expect("announced"));
    deliver(
        transport,
        bob_b.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    let polled = bob_a.poll(transport).await;
    assert!(polled
        .events
        .iter()
        .any(|e| matches!(e, MessagingEvent::RosterChanged { .. })));
    let signed_in = tablet_key(&bob_a).expect("the tablet's key on the roster");
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    bob_b.poll(transport).await;
    assert_eq!(tablet_key(&bob_b), Some(signed_in));
    assert!(
        !bob_b
            .messenger_mut()
            .announce_sealing_key(&mut SeededRng::new(seed ^ 10))
            .expect("nothing to do"),
        "listed with its key: nothing more to send"
    );
    alice.poll(transport).await;

    let sent = send(&mut alice, "after", 2);
    assert!(matches!(
        InboxItem::decode(&sent[0].bytes),
        Ok(InboxItem::SenderSealed(_))
    ));
    deliver(transport, sent).await;
    for bob in [&mut bob_a, &mut bob_b] {
        assert_eq!(bob.poll(transport).await.messages(), vec!["after"]);
    }

    // A second key from the tablet (a device trying to swap its key) changes nothing.
    let roster = bob_a.messenger().roster().clone();
    let laptop = roster
        .device(&bob_a.messenger().device_id())
        .cloned()
        .expect("on the roster");
    let swap =
        bob_b
            .stolen(seed ^ 11)
            .seal(&Content::SealingKey([0x77; 32]), &[laptop], roster.inbox);
    deliver(transport, vec![swap]).await;
    bob_a.poll(transport).await;
    assert_eq!(bob_a.messenger().roster(), &roster);
}

/// A network whose first answer for one mailbox has its first two envelopes swapped: nodes'
/// answers merge in the order they arrive, so a history block can come before its manifest
/// in a batch that also brings the manifest and the blocks after it.
struct FirstAnswerSwapped<'a, T> {
    network: &'a T,
    mailbox: MailboxAddress,
    swapped: std::cell::Cell<bool>,
}

impl<T: MailboxTransport> MailboxTransport for FirstAnswerSwapped<'_, T> {
    async fn put(
        &self,
        mailbox: &MailboxKeys,
        envelope: Envelope,
    ) -> Result<(), phantom_sync::mailbox::transport::TransportError> {
        self.network.put(mailbox, envelope).await
    }

    async fn fetch_page(
        &self,
        mailbox: &MailboxKeys,
        cursor: &mut MailboxCursor,
        wait: Duration,
    ) -> Result<FetchedPage, phantom_sync::mailbox::transport::TransportError> {
        let mut page = self.network.fetch_page(mailbox, cursor, wait).await?;
        if mailbox.address() == self.mailbox
            && page.envelopes.len() >= 2
            && !self.swapped.replace(true)
        {
            page.envelopes.swap(0, 1);
        }
        Ok(page)
    }
}

/// The adversary is the order of nodes' answers: the new device's first batch of history
/// brings block 0 before the manifest, then the manifest and the other blocks. Block 0 is
/// passed over (a block is checked against its manifest), and the history mailbox is read
/// again from the start, so the transfer still completes with every message once.
pub async fn a_block_read_before_its_manifest_is_read_again(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast(transport, seed).await;
    const COUNT: u64 = 40;
    for n in 0..COUNT {
        alice
            .messenger_mut()
            .send_text(
                &bob_key,
                &format!("old message {n} ").repeat(60),
                NOW * 1000 + n,
                &mut rng,
            )
            .expect("sent");
        deliver(
            transport,
            alice.messenger_mut().outbox_mut().take_envelopes(),
        )
        .await;
    }
    let received = bob_a.poll(transport).await.received();
    assert_eq!(received.len() as u64, COUNT);
    let vault_a = vault_of(&bob_a.persona, &bob_a.keys, &mut rng).await;
    vault_a
        .put_messages(&received, &mut rng)
        .await
        .expect("stored");
    let tablet = bob_b.messenger().device_id();
    let history = offer_history(transport, &mut bob_a, &vault_a, &tablet, &mut rng).await;
    let swapping = FirstAnswerSwapped {
        network: transport,
        mailbox: history,
        swapped: std::cell::Cell::new(false),
    };

    // Syncs as a page runs them: the offer, then a batch of history each.
    let (mut imported, mut complete, mut syncs) = (0, false, 0);
    while !complete && syncs < 8 {
        syncs += 1;
        let polled = bob_b.sync(&swapping, History::Mailbox).await;
        assert!(polled.errors.is_empty(), "{:?}", polled.errors);
        for block in polled.blocks {
            imported += block.imported as u64;
            complete = block.complete;
        }
    }
    assert!(swapping.swapped.get(), "the first answer came out of order");
    assert!(complete, "every block in, after {syncs} syncs");
    assert_eq!(imported, COUNT, "every message once");
}

pub async fn a_dropped_message_is_noticed_and_filled_in(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        bob_key,
        ..
    } = cast(transport, seed).await;
    let mut sent = Vec::new();
    for n in 1..=3 {
        alice
            .messenger_mut()
            .send_text(&bob_key, &format!("number {n}"), NOW * 1000 + n, &mut rng)
            .expect("sent");
        let transmits = alice.messenger_mut().outbox_mut().take_envelopes();
        sent.push(transmits);
    }
    let second = sent.remove(1);
    for transmits in sent {
        deliver(transport, transmits).await;
    }
    let polled = bob_a.poll(transport).await;
    assert_eq!(polled.messages(), vec!["number 1", "number 3"]);
    assert!(
        polled
            .events
            .iter()
            .any(|e| matches!(e, MessagingEvent::Gap { missing, .. } if missing == &vec![2])),
        "{polled:?}"
    );
    deliver(transport, second).await;
    let polled = bob_a.poll(transport).await;
    assert_eq!(polled.messages(), vec!["number 2"]);
    assert!(!polled
        .events
        .iter()
        .any(|e| matches!(e, MessagingEvent::Gap { .. })));
    assert_eq!(
        bob_a.bodies_with(alice.messenger()),
        vec!["number 1", "number 2", "number 3"]
    );
}

/// A node that alters a message's sealed body serves that copy first: it is refused, and
/// the genuine copy still opens — the altered one did not use up its message key.
pub async fn a_copy_altered_past_its_seal_does_not_spoil_the_genuine_one(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        bob_key,
        ..
    } = cast(transport, seed).await;
    for n in 1..=2 {
        alice
            .messenger_mut()
            .send_text(&bob_key, &format!("number {n}"), NOW * 1000 + n, &mut rng)
            .expect("sent");
        let transmits = alice.messenger_mut().outbox_mut().take_envelopes();
        let altered = transmits
            .iter()
            .cloned()
            .map(|mut transmit| {
                if let Some(last) = transmit.bytes.last_mut() {
                    *last ^= 0x01;
                }
                transmit
            })
            .collect();
        deliver(transport, altered).await;
        let polled = bob_a.poll(transport).await;
        assert!(polled.messages().is_empty(), "{polled:?}");
        assert!(
            polled.error_codes().contains(&"content_undecryptable"),
            "{polled:?}"
        );
        deliver(transport, transmits).await;
        assert_eq!(
            bob_a.poll(transport).await.messages(),
            vec![format!("number {n}")]
        );
    }
}

pub async fn a_revoked_device_reads_nothing_new(transport: &impl MailboxTransport, seed: u64) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let old_roster = bob_a.messenger().roster().clone();

    bob_a
        .messenger_mut()
        .revoke_device(&bob_b.messenger().device_id(), &mut rng)
        .expect("revoked");
    assert_ne!(
        bob_a.messenger().roster().inbox,
        old_roster.inbox,
        "a new inbox"
    );
    assert_eq!(bob_a.messenger().roster().epoch, old_roster.epoch + 1);
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    let at_alice = alice.poll(transport).await;
    assert!(at_alice.events.contains(&MessagingEvent::RosterChanged {
        persona_key: bob_key,
        epoch: old_roster.epoch + 1
    }));

    alice
        .messenger_mut()
        .send_text(&bob_key, "after", NOW * 1000 + 10, &mut rng)
        .expect("sent");
    let after = alice.messenger_mut().outbox_mut().take_envelopes();
    assert_eq!(after[0].mailbox, bob_a.messenger().roster().inbox.keys());
    deliver(transport, after).await;
    assert_eq!(bob_a.poll(transport).await.messages(), vec!["after"]);

    // B reads its old inbox, learns the new one from Bob's profile and reads that too:
    // it learns it was revoked, and nothing sent since is sealed to it.
    let mut polled = bob_b.poll(transport).await;
    bob_b
        .read(
            transport,
            &profile_keys(bob_a.messenger().roster()),
            &mut polled,
        )
        .await;
    bob_b
        .read(
            transport,
            &bob_a.messenger().roster().inbox.keys(),
            &mut polled,
        )
        .await;
    assert!(polled.messages().is_empty(), "{polled:?}");
    assert!(polled.events.contains(&MessagingEvent::DeviceRevoked));
    assert!(polled.error_codes().contains(&"not_for_this_device"));
    assert_eq!(
        bob_b
            .messenger_mut()
            .send_text(
                &alice.messenger().persona_key(),
                "still here?",
                NOW * 1000 + 20,
                &mut rng
            )
            .map_err(|e| e.code())
            .map(|_| ()),
        Err("device_revoked")
    );

    // Alice and Bob's A carry on.
    bob_a
        .messenger_mut()
        .send_text(
            &alice.messenger().persona_key(),
            "still me",
            NOW * 1000 + 30,
            &mut rng,
        )
        .expect("sent");
    let reply = bob_a.messenger_mut().outbox_mut().take_envelopes();
    assert_eq!(reply.len(), 1, "no other own device to copy");
    deliver(transport, reply).await;
    assert_eq!(alice.poll(transport).await.messages(), vec!["still me"]);

    // Bob's profile mailbox still holds his older rosters: read again, they are history
    // and change nothing.
    let mut stale = Polled::default();
    *alice.core.reading_mut() = Reading::default();
    let mut alice_fresh_cursor = alice;
    alice_fresh_cursor
        .read(
            transport,
            &profile_keys(bob_a.messenger().roster()),
            &mut stale,
        )
        .await;
    assert!(
        stale.errors.is_empty() && stale.events.is_empty(),
        "{stale:?}"
    );
    assert_eq!(
        alice_fresh_cursor.messenger().contact_roster(&bob_key),
        Some(bob_a.messenger().roster())
    );
}

/// Bob unlinks his tablet from the tablet itself: his laptop and Alice learn the roster
/// without it, what Alice sends next reaches the laptop only, and the tablet can send
/// nothing more. The laptop, now the last device, cannot leave.
/// The adversary is the network: every node drops the revocation sealed to the contact.
/// The new roster is also published in Bob's profile mailbox, which Alice reads at every
/// poll, so one poll later she seals to Bob's remaining device alone, in his new inbox.
pub async fn a_revocation_dropped_on_the_way_still_reaches_the_contact(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let epoch = bob_a.messenger().roster().epoch;
    bob_a
        .messenger_mut()
        .revoke_device(&bob_b.messenger().device_id(), &mut rng)
        .expect("revoked");
    let alice_inbox = alice.messenger().roster().inbox;
    let (dropped, kept): (Vec<_>, Vec<_>) = bob_a
        .messenger_mut()
        .outbox_mut()
        .take_envelopes()
        .into_iter()
        .partition(|transmit| transmit.mailbox == alice_inbox.keys());
    assert!(
        !dropped.is_empty(),
        "the revocation was sealed to Alice too"
    );
    deliver(transport, kept).await;

    // From Bob's profile mailbox: the devices, with the inbox withheld.
    let at_alice = alice.poll(transport).await;
    assert!(
        at_alice.events.contains(&MessagingEvent::RosterChanged {
            persona_key: bob_key,
            epoch: epoch + 1
        }),
        "{at_alice:?}"
    );
    assert_eq!(
        alice
            .messenger()
            .contact_roster(&bob_key)
            .map(|r| r.devices.clone()),
        Some(bob_a.messenger().roster().devices.clone())
    );
    // Alice knows Bob's devices, not yet his new inbox: her text goes to the old one, which
    // Bob's phone still reads, and which tells her the new inbox again.
    alice
        .messenger_mut()
        .send_text(&bob_key, "for Bob's phone only", NOW * 1000 + 10, &mut rng)
        .expect("sent");
    let sent = alice.messenger_mut().outbox_mut().take_envelopes();
    let old_inbox = bob_a.messenger().listening()[1].clone();
    assert!(sent.iter().all(|transmit| transmit.mailbox == old_inbox));
    deliver(transport, sent).await;
    assert_eq!(
        bob_a.poll(transport).await.messages(),
        vec!["for Bob's phone only"]
    );
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    alice.poll(transport).await;
    alice
        .messenger_mut()
        .send_text(&bob_key, "to the new inbox", NOW * 1000 + 11, &mut rng)
        .expect("sent");
    let sent = alice.messenger_mut().outbox_mut().take_envelopes();
    assert!(sent
        .iter()
        .all(|transmit| transmit.mailbox == bob_a.messenger().roster().inbox.keys()));
    deliver(transport, sent).await;
    assert_eq!(
        bob_a.poll(transport).await.messages(),
        vec!["to the new inbox"]
    );
    let mut at_b = bob_b.poll(transport).await;
    bob_b
        .read(
            transport,
            &bob_a.messenger().roster().inbox.keys(),
            &mut at_b,
        )
        .await;
    assert!(at_b.messages().is_empty(), "{at_b:?}");
}

pub async fn a_device_that_leaves_is_off_the_roster(transport: &impl MailboxTransport, seed: u64) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let epoch = bob_a.messenger().roster().epoch;

    // The tablet holds no authority: it asks the laptop, which signs the roster without it.
    assert!(bob_b.messenger().can_leave() && !bob_b.messenger().holds_authority());
    bob_b.messenger_mut().leave(&mut rng).expect("left");
    deliver(
        transport,
        bob_b.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    let at_laptop = bob_a.poll(transport).await;
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    assert!(
        at_laptop.events.contains(&MessagingEvent::RosterChanged {
            persona_key: bob_key,
            epoch: epoch + 1
        }),
        "{at_laptop:?}"
    );
    assert_eq!(bob_a.messenger().roster().devices.len(), 1);
    assert!(alice
        .poll(transport)
        .await
        .events
        .contains(&MessagingEvent::RosterChanged {
            persona_key: bob_key,
            epoch: epoch + 1
        }));

    alice
        .messenger_mut()
        .send_text(&bob_key, "just the laptop", NOW * 1000 + 10, &mut rng)
        .expect("sent");
    let sent = alice.messenger_mut().outbox_mut().take_envelopes();
    assert_eq!(sent.len(), 1);
    deliver(transport, sent).await;
    assert_eq!(
        bob_a.poll(transport).await.messages(),
        vec!["just the laptop"]
    );
    assert_eq!(
        bob_b
            .messenger_mut()
            .send_text(
                &alice.messenger().persona_key(),
                "gone",
                NOW * 1000,
                &mut rng
            )
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("device_revoked")
    );
    assert!(!bob_b.messenger().can_leave() && !bob_a.messenger().can_leave());
    assert_eq!(
        bob_a
            .messenger_mut()
            .leave(&mut rng)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("last_device")
    );
}

/// Bob's laptop has a conversation with Alice (`count` messages of about a kilobyte); his
/// new tablet links and gets the history through a mailbox of its own, across a reload
/// half-way, each message once.
/// Everything in `mailbox`, from the start.
async fn everything_in(transport: &impl MailboxTransport, mailbox: &MailboxKeys) -> Vec<Envelope> {
    transport
        .fetch(mailbox, &mut MailboxCursor::default(), Duration::ZERO)
        .await
        .expect("fetched")
}

/// Issue 21: the tablet, removed, keeps everything it held and forges rosters with every
/// key it has — one epoch on, `u64::MAX`, a fork of the current epoch, the current roster
/// with itself added back — published and sealed. Nobody believes any of them, nothing new
/// is sealed to it, and its state from before the removal no longer speaks for Bob.
pub async fn a_removed_device_cannot_sign_a_roster_anyone_accepts(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let mut tablet = bob_b.stolen(seed ^ 0x7ab1e7);
    let tablet_before = bob_b.messenger().snapshot().expect("a snapshot");
    let old_inbox = bob_a.messenger().roster().inbox;
    bob_a
        .messenger_mut()
        .revoke_device(&bob_b.messenger().device_id(), &mut rng)
        .expect("revoked");
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    alice.poll(transport).await;
    let genuine = bob_a.messenger().roster().clone();
    assert_eq!(alice.messenger().contact_roster(&bob_key), Some(&genuine));

    // What the tablet can still read: Bob's published roster — his devices, not his inbox.
    let published = everything_in(transport, &profile_keys(bob_a.messenger().roster())).await;
    assert!(!published.is_empty());
    let epoch = genuine.epoch;
    let mut re_added = genuine.withheld();
    re_added.epoch += 1;
    re_added.devices.push(tablet.entry.clone());
    let attempts = [
        tablet.roster_of_its_own(epoch + 1, MailboxSeed::random(&mut rng)),
        tablet.roster_of_its_own(u64::MAX, old_inbox),
        tablet.roster_of_its_own(epoch, old_inbox),
        re_added,
    ];
    let mut forged = Vec::new();
    for roster in &attempts {
        forged.extend(tablet.forge(roster));
    }
    // Published where only the identity key writes: real nodes refuse every one.
    let published = attempt(transport, tablet.publish(&forged)).await;
    let alice_devices = alice.messenger().roster().devices.clone();
    let alice_inbox = alice.messenger().roster().inbox;
    let mut announced = tablet.announce(&forged, &alice_devices, alice_inbox);
    announced.extend(tablet.announce(&forged, &genuine.devices, old_inbox));
    deliver(transport, announced).await;

    for (name, device) in [("Alice", &mut alice), ("Bob's laptop", &mut bob_a)] {
        let polled = device.poll(transport).await;
        let codes = polled.error_codes();
        assert_eq!(
            codes
                .iter()
                .filter(|c| **c == "roster_bad_signature")
                .count(),
            published,
            "{name}: every published forgery that was stored fails its signature: {codes:?}"
        );
        assert!(
            codes
                .iter()
                .all(|c| ["roster_bad_signature", "unknown_sender_device"].contains(c)),
            "{name}: {codes:?}"
        );
        assert!(polled.events.is_empty(), "{name}: {:?}", polled.events);
    }
    assert_eq!(alice.messenger().contact_roster(&bob_key), Some(&genuine));
    assert_eq!(bob_a.messenger().roster(), &genuine);
    assert!(!bob_a.messenger().is_revoked());

    // Alice writes: sealed to the laptop alone, into the inbox the tablet was never told.
    alice
        .messenger_mut()
        .send_text(&bob_key, "only the laptop", NOW * 1000 + 40, &mut rng)
        .expect("sent");
    deliver(
        transport,
        alice.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    assert_eq!(
        bob_a.poll(transport).await.messages(),
        vec!["only the laptop"]
    );
    assert!(
        tablet.can_open_any(&everything_in(transport, &old_inbox.keys()).await),
        "what was sealed to the tablet before, it opens"
    );
    for inbox in [old_inbox, genuine.inbox] {
        let envelopes = everything_in(transport, &inbox.keys()).await;
        let after_removal = &envelopes[envelopes.len().saturating_sub(1)..];
        assert!(
            !tablet.can_open_any(after_removal),
            "nothing new for the tablet"
        );
    }

    // The tablet's own state from before the removal, restored, writes as Bob: refused.
    let mut restored =
        Messenger::restore(&tablet.persona, &tablet.keys, &tablet_before).expect("restored");
    for refused in [
        restored.revoke_device(&bob_a.messenger().device_id(), &mut rng),
        restored.add_device(tablet.entry.clone(), &mut rng),
    ] {
        assert_eq!(refused.map_err(|e| e.code()), Err("not_authority"));
    }
    restored
        .send_text(
            &alice.messenger().persona_key(),
            "I am Bob",
            NOW * 1000 + 50,
            &mut rng,
        )
        .expect("the honest code still sends from its old state");
    deliver(transport, restored.outbox_mut().take_envelopes()).await;
    let at_alice = alice.poll(transport).await;
    assert!(at_alice.messages().is_empty(), "{at_alice:?}");
    assert_eq!(at_alice.error_codes(), vec!["unknown_sender_device"]);
}

/// Issue 21: after the tablet is removed, Bob's laptop moves to a new inbox, and the
/// tablet — holding everything it held, and reading every mailbox it can name, Bob's
/// profile above all — finds that inbox nowhere: the profile mailbox publishes rosters
/// with their inbox withheld, and the sealed copies there are not sealed to it. Alice
/// learns the new inbox all the same.
pub async fn a_removed_device_cannot_learn_the_new_inbox(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let tablet = bob_b.stolen(seed ^ 0x1b0c);
    let old_inbox = bob_a.messenger().roster().inbox;
    let published_before = everything_in(transport, &profile_keys(bob_a.messenger().roster()))
        .await
        .len();
    let old_inbox_before = everything_in(transport, &old_inbox.keys()).await.len();
    bob_a
        .messenger_mut()
        .revoke_device(&bob_b.messenger().device_id(), &mut rng)
        .expect("revoked");
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    let new_inbox = bob_a.messenger().roster().inbox;
    assert_ne!(new_inbox, old_inbox);
    alice.poll(transport).await;
    assert_eq!(
        alice.messenger().contact_roster(&bob_key).map(|r| r.inbox),
        Some(new_inbox),
        "Alice writes to the new inbox"
    );

    let mut readable = Vec::new();
    for mailbox in [
        &profile_keys(bob_a.messenger().roster()),
        &old_inbox.keys(),
        &alice.messenger().roster().inbox.keys(),
    ] {
        readable.extend(everything_in(transport, mailbox).await);
    }
    assert!(!readable.is_empty());
    for envelope in &readable {
        assert!(
            !envelope
                .as_bytes()
                .windows(32)
                .any(|w| w == new_inbox.as_bytes()),
            "the new inbox is in no byte the tablet can read"
        );
        if let Ok(InboxItem::PublishedRoster(signed)) = InboxItem::decode(envelope.as_bytes()) {
            let roster = signed.verify(&bob_key).expect("Bob's");
            assert!(
                roster.withholds_inbox(),
                "published with the inbox withheld"
            );
        }
    }
    // Since the removal, the profile holds the withheld roster alone, and nothing the
    // tablet can read elsewhere is sealed to it.
    let published = everything_in(transport, &profile_keys(bob_a.messenger().roster())).await;
    let since_removal = published.get(published_before..).unwrap_or_default();
    assert_eq!(since_removal.len(), 1, "the withheld roster");
    let sealed_to_alice = everything_in(transport, &alice.messenger().roster().inbox.keys()).await;
    assert!(!tablet.can_open_any(&sealed_to_alice));
    assert_eq!(
        everything_in(transport, &old_inbox.keys()).await.len(),
        old_inbox_before,
        "nothing more in the old inbox"
    );
}

/// Issue 21: a tablet that turns hostile while still linked seals and publishes a roster
/// without the laptop (one epoch on, and `u64::MAX`), signed with every key it holds. The
/// sealed copies open — it is still Bob's device — and their signatures do not verify.
pub async fn a_linked_device_cannot_change_the_roster_it_is_on(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let mut tablet = bob_b.stolen(seed ^ 0x7ab1e7);
    let genuine = bob_a.messenger().roster().clone();
    let mut forged = Vec::new();
    for epoch in [genuine.epoch + 1, u64::MAX] {
        forged.extend(tablet.forge(&tablet.roster_of_its_own(epoch, genuine.inbox)));
    }
    // Published where only the identity key writes: real nodes refuse every one.
    let published = attempt(transport, tablet.publish(&forged)).await;
    let alice_devices = alice.messenger().roster().devices.clone();
    let alice_inbox = alice.messenger().roster().inbox;
    let mut announced = tablet.announce(&forged, &alice_devices, alice_inbox);
    let laptop = genuine.device(&bob_a.messenger().device_id()).cloned();
    announced.extend(tablet.announce(&forged, &Vec::from_iter(laptop.clone()), genuine.inbox));
    deliver(transport, announced).await;

    for (name, device) in [("Alice", &mut alice), ("Bob's laptop", &mut bob_a)] {
        let polled = device.poll(transport).await;
        assert_eq!(
            polled.error_codes(),
            vec!["roster_bad_signature"; published + forged.len()],
            "{name}: published (where stored) and sealed, every one refused"
        );
    }
    assert_eq!(alice.messenger().contact_roster(&bob_key), Some(&genuine));
    assert_eq!(bob_a.messenger().roster(), &genuine);

    // Its one lever is a leave request (content kind 8): it takes off the tablet alone.
    let leave = tablet.seal(
        &Content::Leave,
        &Vec::from_iter(laptop.clone()),
        genuine.inbox,
    );
    deliver(transport, vec![leave]).await;
    bob_a.poll(transport).await;
    let after_leave = bob_a.messenger().roster().clone();
    assert_eq!(after_leave.epoch, genuine.epoch + 1);
    assert_eq!(
        after_leave.devices,
        Vec::from_iter(laptop),
        "the tablet left; the laptop stays"
    );
    bob_a.messenger_mut().outbox_mut().take_envelopes();

    let mut honest = bob_b;
    let laptop_id = bob_a.messenger().device_id();
    assert!(!honest.messenger().holds_authority());
    assert_eq!(
        honest
            .messenger_mut()
            .revoke_device(&laptop_id, &mut rng)
            .map_err(|e| e.code()),
        Err("not_authority")
    );
    assert!(honest.poll(transport).await.events.is_empty());
}

/// Issue 21: the laptop that holds Bob's authority is lost. Bob types the recovery code he
/// wrote down at creation on the tablet, which then removes the laptop; Alice believes it.
pub async fn the_recovery_code_moves_the_authority_to_another_device(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        bob_a,
        mut bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let code = bob_a
        .persona
        .recovery_code()
        .expect("the laptop created Bob")
        .to_string();
    let lost_laptop = bob_a.messenger().device_id();
    let alices_code = alice.persona.recovery_code().expect("Alice's").to_string();
    assert_eq!(
        bob_b.take_authority(&alices_code),
        Err("recovery_code_of_another_persona")
    );
    let mistyped = code.replacen(' ', "  ", 3).to_uppercase();
    bob_b.take_authority(&mistyped).expect("Bob's own code");
    assert!(bob_b.messenger().holds_authority());
    bob_b
        .messenger_mut()
        .revoke_device(&lost_laptop, &mut rng)
        .expect("the tablet removes the lost laptop");
    deliver(
        transport,
        bob_b.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    assert!(alice
        .poll(transport)
        .await
        .events
        .contains(&MessagingEvent::RosterChanged {
            persona_key: bob_key,
            epoch: bob_b.messenger().roster().epoch
        }));
    alice
        .messenger_mut()
        .send_text(&bob_key, "to the tablet", NOW * 1000 + 60, &mut rng)
        .expect("sent");
    deliver(
        transport,
        alice.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    assert_eq!(
        bob_b.poll(transport).await.messages(),
        vec!["to the tablet"]
    );
    // The authority survives a reload.
    bob_b.reload();
    assert!(bob_b.messenger().holds_authority());
}

pub async fn a_newly_linked_device_catches_up_on_the_history(
    transport: &impl MailboxTransport,
    seed: u64,
    count: u64,
) {
    let mut rng = SeededRng::new(seed);
    let alice_persona = Persona::create("Alice", NOW, &mut rng).expect("persona");
    let alice_phone = DeviceKeys::generate("Alice's phone", NOW, &mut rng).expect("device");
    let mut alice =
        Messenger::create(&alice_persona, &alice_phone, NOW, &mut rng).expect("created");
    alice.outbox_mut().take_envelopes();
    let bob_persona = Persona::create("Bob", NOW, &mut rng).expect("persona");
    let laptop = DeviceKeys::generate("Bob's laptop", NOW, &mut rng).expect("device");
    let mut bob_a = Messenger::create(&bob_persona, &laptop, NOW, &mut rng).expect("created");
    bob_a.outbox_mut().take_envelopes();
    let mut alice = Device::new(alice, &alice_persona, &alice_phone);
    let mut bob_a = Device::new(bob_a, &bob_persona, &laptop);
    let card = bob_a.messenger().contact_card().expect("card");
    let bob_key = alice
        .messenger_mut()
        .add_contact(&card, &mut rng)
        .expect("added");
    // Bob reads the first half on A before the second half comes.
    let mut received = Vec::new();
    for half in [0..count / 2, count / 2..count] {
        for n in half {
            alice
                .messenger_mut()
                .send_text(
                    &bob_key,
                    &format!("old message {n} ").repeat(60),
                    NOW * 1000 + n,
                    &mut rng,
                )
                .expect("sent");
            let sent = alice.messenger_mut().outbox_mut().take_envelopes();
            deliver(transport, sent).await;
        }
        received.extend(bob_a.poll(transport).await.received());
        if received.len() as u64 == count / 2 {
            let conversation = *bob_a
                .messenger()
                .conversations()
                .next()
                .expect("a conversation")
                .0;
            bob_a
                .messenger_mut()
                .mark_read(&conversation, &mut rng)
                .expect("read");
        }
    }
    assert_eq!(received.len() as u64, count);
    let vault_a = vault_of(&bob_persona, &laptop, &mut rng).await;
    vault_a
        .put_messages(&received, &mut rng)
        .await
        .expect("stored");

    let (mut bob_b, vault_b) = link_tablet(&mut bob_a, &bob_persona, &mut rng).await;
    offer_history(
        transport,
        &mut bob_a,
        &vault_a,
        &bob_b.messenger().device_id(),
        &mut rng,
    )
    .await;
    let polled = bob_b.poll(transport).await;
    assert!(
        polled
            .events
            .iter()
            .any(|e| matches!(e, MessagingEvent::HistoryOffered { .. })),
        "{polled:?}"
    );
    let history = bob_b.messenger().history_mailbox().expect("a transfer");

    // Half the blocks, a reload, then the rest: each message once, complete at the end.
    let mut cursor = MailboxCursor::default();
    let envelopes = transport
        .fetch(&history, &mut cursor, Duration::ZERO)
        .await
        .expect("fetched");
    assert!(envelopes.len() > 2, "a manifest and several blocks");
    let half = envelopes.len() / 2;
    let mut imported = 0;
    for envelope in &envelopes[..half] {
        for event in bob_b
            .messenger_mut()
            .receive_history(envelope.as_bytes())
            .expect("accepted")
        {
            if let MessagingEvent::HistoryImported {
                messages, progress, ..
            } = event
            {
                imported += new_in(&vault_b, &messages, &mut rng).await;
                assert!(progress.blocks_done < progress.blocks_total);
            }
        }
    }
    bob_b.reload_from(&vault_b).await;
    let mut complete = false;
    for envelope in &envelopes {
        for event in bob_b
            .messenger_mut()
            .receive_history(envelope.as_bytes())
            .expect("accepted")
        {
            if let MessagingEvent::HistoryImported {
                messages, progress, ..
            } = event
            {
                imported += new_in(&vault_b, &messages, &mut rng).await;
                complete = progress.blocks_done == progress.blocks_total;
            }
        }
    }
    assert!(complete);
    assert_eq!(
        imported as u64, count,
        "every message once, across the reload"
    );
    assert_eq!(
        bob_b.messenger().history_mailbox(),
        None,
        "nothing left to fetch"
    );
    assert_eq!(
        bob_b.bodies_with(alice.messenger()).len() as u64,
        count.min(RECENT_MESSAGES as u64),
        "the latest in memory, all in the vault"
    );
    assert_eq!(
        bob_b.unread_with(alice.messenger()) as u64,
        count - count / 2,
        "what A had read, B has read"
    );
}

/// Issue 21: Alice turns hostile when she sees Bob link a tablet. Before the tablet's
/// history arrives she seals two texts with the encoders, reusing ids and times of the
/// conversation: one of Bob's messages, and one of her own with new words. Bob's message is
/// not replaced (a contact's text never takes the place of Bob's), and the history puts
/// her original words back; her rewrite is kept apart as a conflicting copy, on the tablet
/// and on the laptop, which never imported anything.
pub async fn a_contact_reusing_message_ids_rewrites_no_history(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let mut rng = SeededRng::new(seed);
    let alice_persona = Persona::create("Alice", NOW, &mut rng).expect("persona");
    let alice_phone = DeviceKeys::generate("Alice's phone", NOW, &mut rng).expect("device");
    let alice = Messenger::create(&alice_persona, &alice_phone, NOW, &mut rng).expect("created");
    let bob_persona = Persona::create("Bob", NOW, &mut rng).expect("persona");
    let laptop = DeviceKeys::generate("Bob's laptop", NOW, &mut rng).expect("device");
    let bob_a = Messenger::create(&bob_persona, &laptop, NOW, &mut rng).expect("created");
    let mut alice = Device::new(alice, &alice_persona, &alice_phone);
    let mut bob_a = Device::new(bob_a, &bob_persona, &laptop);
    for device in [&mut alice, &mut bob_a] {
        device.messenger_mut().outbox_mut().take_envelopes();
    }
    let card = bob_a.messenger().contact_card().expect("card");
    let bob_key = alice
        .messenger_mut()
        .add_contact(&card, &mut rng)
        .expect("added");
    alice
        .messenger_mut()
        .send_text(&bob_key, "Alice's first words", NOW * 1000 + 1, &mut rng)
        .expect("sent");
    deliver(
        transport,
        alice.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    // As Bob's devices have it: written by a contact.
    let alices_words = bob_a.poll(transport).await.received().remove(0);
    assert_eq!(alices_words.body, "Alice's first words");
    let alice_key = alice.messenger().persona_key();
    let bobs_words = bob_a
        .messenger_mut()
        .send_text(&alice_key, "Bob's first words", NOW * 1000 + 2, &mut rng)
        .expect("sent");
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    alice.poll(transport).await;
    let vault_a = vault_of(&bob_persona, &laptop, &mut rng).await;
    vault_a
        .put_messages(&[alices_words.clone(), bobs_words.clone()], &mut rng)
        .await
        .expect("stored");

    // Bob links his tablet; Alice hears of it.
    let (mut bob_b, vault_b) = link_tablet(&mut bob_a, &bob_persona, &mut rng).await;
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    alice.poll(transport).await;
    let bobs_devices = alice
        .messenger()
        .contact_roster(&bob_key)
        .expect("Bob's roster")
        .clone();
    assert_eq!(bobs_devices.devices.len(), 2);

    // Alice, with her own sessions, writes over her words and over Bob's.
    let mut mallory = alice.stolen(seed ^ 0xa11ce);
    let forged = |of: &Message, sequence: u64, body: &str| {
        Content::Text(Text {
            message_id: of.id,
            recipient: bob_key,
            sent_at_ms: of.sent_at_ms,
            sequence,
            body: body.into(),
            introduction: None,
        })
    };
    let attack = vec![
        mallory.seal(
            &forged(&alices_words, 2, "Alice never wrote this"),
            &bobs_devices.devices,
            bobs_devices.inbox,
        ),
        mallory.seal(
            &forged(&bobs_words, 3, "Bob never wrote this"),
            &bobs_devices.devices,
            bobs_devices.inbox,
        ),
    ];
    deliver(transport, attack).await;

    // The tablet reads them live, before any history, and keeps what is new.
    let live = bob_b.poll(transport).await;
    assert_eq!(
        live.messages(),
        vec!["Alice never wrote this", "Bob never wrote this"],
        "nothing held yet to compare with"
    );
    new_in(&vault_b, &live.received(), &mut rng).await;
    // The laptop holds Alice's words: her rewrite is a conflicting copy, not a message.
    let on_laptop = bob_a.poll(transport).await;
    assert_eq!(on_laptop.messages(), vec!["Bob never wrote this"]);
    assert!(on_laptop.events.iter().any(|event| matches!(
        event,
        MessagingEvent::ConflictingCopy { message, .. } if message.body == "Alice never wrote this"
    )));

    // The laptop's history reaches the tablet.
    offer_history(
        transport,
        &mut bob_a,
        &vault_a,
        &bob_b.messenger().device_id(),
        &mut rng,
    )
    .await;
    bob_b.poll(transport).await;
    let history = bob_b.messenger().history_mailbox().expect("a transfer");
    for envelope in everything_in(transport, &history).await {
        for event in bob_b
            .messenger_mut()
            .receive_history(envelope.as_bytes())
            .expect("accepted")
        {
            if let MessagingEvent::HistoryImported { messages, .. } = event {
                let snapshot = bob_b.messenger().snapshot().expect("a snapshot");
                let writes = MessageWrites {
                    history: &messages,
                    ..MessageWrites::default()
                };
                vault_b
                    .save_messaging(&snapshot, writes, &mut rng)
                    .await
                    .expect("saved");
            }
        }
    }
    assert_eq!(
        bob_b.messenger().history_mailbox(),
        None,
        "all of it arrived"
    );

    // What the tablet shows and stores: everyone's own words, Alice's rewrite kept apart.
    let conversation = alices_words.conversation_id;
    let mut bodies: Vec<String> = vault_b
        .messages(&conversation)
        .await
        .expect("read")
        .into_iter()
        .map(|m| m.body)
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        vec![
            "Alice's first words",
            "Bob never wrote this",
            "Bob's first words"
        ]
    );
    assert_eq!(
        vault_b
            .message(&conversation, bobs_words.identity())
            .await
            .expect("read"),
        Some(bobs_words.clone())
    );
    assert_eq!(
        vault_b
            .message(&conversation, alices_words.identity())
            .await
            .expect("read"),
        Some(alices_words.clone())
    );
    let conflicts = vault_b.conflicts(&conversation).await.expect("read");
    assert_eq!(
        conflicts
            .iter()
            .map(|m| m.body.as_str())
            .collect::<Vec<_>>(),
        vec!["Alice never wrote this"]
    );
    let mut shown = bob_b.bodies_with(alice.messenger());
    shown.sort();
    assert_eq!(shown, bodies, "in memory as in the vault");
}

/// Issue 21: a thief with Bob's recovery code signs a fork — Bob's roster of this epoch
/// with a device of its own added — published and sealed to Alice. Alice and both of
/// Bob's devices see the dispute, and Alice seals nothing to the thief's device. A newer
/// roster the thief signs with Bob's laptop still on it does not fool the laptop, which
/// signs every roster of Bob's. The laptop settles it: one epoch past both, a fresh inbox,
/// the thief's device off; everyone follows.
pub async fn a_fork_signed_with_a_stolen_recovery_code_is_seen_and_gets_nothing(
    transport: &impl MailboxTransport,
    seed: u64,
) {
    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast_after_a_first_message(transport, seed).await;
    let code = bob_a.persona.recovery_code().expect("the laptop's");
    let mut stolen = bob_b.persona.clone();
    stolen.take_authority(&code).expect("Bob's code");
    let key = stolen.authority_key().expect("the persona key");
    let mut thief = bob_b.stolen(seed ^ 0x7415);
    let intruder_sealing = SealingSecret::derive(&Secret::from_bytes([0x1e; 32]));
    let intruder = DeviceSessions::new().roster_device(
        DeviceId::from_bytes([0x1d; 16]),
        "Bob's phone",
        NOW,
        intruder_sealing.public_key(),
    );
    let genuine = bob_a.messenger().roster().clone();
    let mut fork = genuine.clone();
    fork.devices.push(intruder.clone());
    let fork = sign_as(&fork, &key);
    let mut attack = thief.publish_as(std::slice::from_ref(&fork), &key);
    let alice_devices = alice.messenger().roster().devices.clone();
    let alice_inbox = alice.messenger().roster().inbox;
    attack.extend(thief.announce(std::slice::from_ref(&fork), &alice_devices, alice_inbox));
    deliver(transport, attack).await;

    let disputed = MessagingEvent::RosterDisputed {
        persona_key: bob_key,
        epoch: genuine.epoch,
    };
    for (name, device) in [("Alice", &mut alice), ("the tablet", &mut bob_b)] {
        let polled = device.poll(transport).await;
        assert_eq!(
            polled.events,
            vec![disputed.clone()],
            "{name}: reported once"
        );
        assert!(polled.errors.is_empty(), "{name}: {:?}", polled.errors);
        assert!(device.messenger().is_disputed(&bob_key));
    }
    assert_eq!(alice.messenger().contact_roster(&bob_key), Some(&genuine));
    alice.reload();
    assert!(
        alice.messenger().is_disputed(&bob_key),
        "kept across a reload"
    );

    // Alice writes: sealed to the devices both rosters list, not to the thief's.
    alice
        .messenger_mut()
        .send_text(&bob_key, "who is there?", NOW * 1000 + 70, &mut rng)
        .expect("sent");
    let sent = alice.messenger_mut().outbox_mut().take_envelopes();
    let Ok(InboxItem::SenderSealed(sealed)) = InboxItem::decode(&sent[0].bytes) else {
        panic!("a sealed text");
    };
    assert_eq!(
        sealed.open(&intruder_sealing, &intruder.identity_key),
        None,
        "no header for the intruder"
    );
    for device in [&bob_a, &bob_b] {
        let opened = sealed.open(
            &SealingSecret::derive(&device.keys.identity_seed),
            &device.messenger().device_key(),
        );
        assert!(opened.is_some(), "a header for each genuine device");
    }
    deliver(transport, sent).await;

    // The thief moves on to a newer roster that keeps the laptop: the laptop, which
    // signed none of it, reports a dispute instead of following.
    let mut newer = genuine.clone();
    newer.epoch += 3;
    newer.devices.push(intruder.clone());
    deliver(transport, thief.publish_as(&[sign_as(&newer, &key)], &key)).await;
    let at_laptop = bob_a.poll(transport).await;
    assert!(
        at_laptop.messages() == vec!["who is there?"],
        "{at_laptop:?}"
    );
    assert!(at_laptop.events.contains(&MessagingEvent::RosterDisputed {
        persona_key: bob_key,
        epoch: newer.epoch,
    }));
    assert_eq!(bob_a.messenger().roster(), &genuine, "not followed");

    // The laptop settles it; Alice and the tablet follow, and the dispute is over.
    bob_a
        .messenger_mut()
        .settle_roster(&mut rng)
        .expect("settled");
    let settled = bob_a.messenger().roster().clone();
    assert_eq!(settled.epoch, newer.epoch + 1);
    assert_ne!(
        settled.inbox, genuine.inbox,
        "an inbox the thief was never told"
    );
    assert!(settled.device_by_key(&intruder.identity_key).is_none());
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    for device in [&mut alice, &mut bob_b] {
        device.poll(transport).await;
        assert!(!device.messenger().is_disputed(&bob_key));
    }
    assert_eq!(alice.messenger().contact_roster(&bob_key), Some(&settled));
    assert!(!bob_a.messenger().is_disputed(&bob_key));
    assert_eq!(
        bob_b
            .messenger_mut()
            .settle_roster(&mut rng)
            .map_err(|e| e.code()),
        Err("not_disputed")
    );
}

/// Bob's tablet joins the roster his laptop signs, with the persona as a new device
/// receives it and an empty vault of its own.
async fn link_tablet(
    bob_a: &mut Device,
    bob_persona: &Persona,
    rng: &mut SeededRng,
) -> (Device, Vault<MemoryStore>) {
    let tablet = DeviceKeys::generate("Bob's tablet", NOW, rng).expect("device");
    let tablet_persona = bob_persona.for_linked_device();
    let joined = Messenger::join(&tablet_persona, &tablet, bob_a.messenger().signed_roster())
        .expect("joined");
    let entry = joined.roster_entry(NOW);
    let vault = vault_of(bob_persona, &tablet, rng).await;
    bob_a.messenger_mut().add_device(entry, rng).expect("added");
    (Device::new(joined, &tablet_persona, &tablet), vault)
}

/// `from` offers its history to its device `to`, as a page does: the device's offer
/// ([`OfferRequest`]) carried out on its vault. Then the manifest and the offer go out, and
/// the blocks.
async fn offer_history(
    transport: &impl MailboxTransport,
    from: &mut Device,
    vault: &Vault<MemoryStore>,
    to: &DeviceId,
    rng: &mut SeededRng,
) -> MailboxAddress {
    from.core.start_history_offer(to, rng).expect("started");
    let mut offered = None;
    while let Some(request) = from.core.poll_offer() {
        match request {
            OfferRequest::Pack(mut plan) => {
                let stored = export_from_vault(vault, &mut plan.transfer, &plan.conversations, rng)
                    .await
                    .expect("packed");
                offered = Some((plan.transfer.transfer_id(), stored));
                from.core.handle_offer_packed(plan.transfer, stored, rng)
            }
            OfferRequest::Save(save) => {
                vault
                    .save_messaging(&save.state, save.writes(), rng)
                    .await
                    .expect("saved");
                from.core.handle_offer_saved(save.mark)
            }
            other => panic!("every block is in the vault, nothing replaced: {other:?}"),
        }
        .expect("an answer to what was asked");
    }
    let (transfer_id, stored) = offered.expect("packed");
    let mut transmits = from.messenger_mut().outbox_mut().take_envelopes();
    let publication = from
        .messenger()
        .outbox()
        .next_block()
        .map(|(publication, _)| publication)
        .expect("its blocks wait in the outbox, behind the manifest and offer");
    assert_eq!(
        (publication.transfer_id, publication.blocks),
        (transfer_id, stored)
    );
    for index in 0..stored {
        transmits.push(Transmit {
            mailbox: publication.mailbox.keys(),
            bytes: vault
                .history_block(&transfer_id, index)
                .await
                .expect("read")
                .expect("stored"),
        });
    }
    deliver(transport, transmits).await;
    publication.mailbox.address()
}

/// A device's vault, in memory.
async fn vault_of(persona: &Persona, keys: &DeviceKeys, rng: &mut SeededRng) -> Vault<MemoryStore> {
    let keyring = MemoryKeyring::generate(rng);
    Vault::import(MemoryStore::new(), persona, keys.clone(), &keyring, rng)
        .await
        .expect("a vault")
}

/// How many of `messages` the vault did not hold before it stored them.
async fn new_in(vault: &Vault<MemoryStore>, messages: &[Message], rng: &mut SeededRng) -> usize {
    let stored = vault.put_messages(messages, rng).await.expect("stored");
    stored.iter().filter(|new| **new).count()
}

/// The adversary is the accident: Alice's phone is closed at seeded moments — after a send
/// was made but before it was stored, after it was stored but before anything left, between
/// two puts, after the puts but before the outbox's new state was stored — and each time it
/// starts again from what its vault holds, as a reloaded page does. Every message the
/// phone showed as sent (stored) reaches both of Bob's devices exactly once; one it never
/// stored never leaves (its Olm step would fork the session); and the sessions still open
/// everything afterwards, both ways.
pub async fn nothing_sent_is_lost_when_a_device_is_closed_at_any_moment(
    transport: &impl MailboxTransport,
    seed: u64,
    sends: u64,
) {
    use rand_core::Rng;

    let Cast {
        mut rng,
        mut alice,
        mut bob_a,
        mut bob_b,
        bob_key,
    } = cast(transport, seed).await;
    let vault = vault_of(&alice.persona, &alice.keys, &mut rng).await;
    alice.save(&vault, &[], &mut rng).await;
    let mut shown = Vec::new();
    let mut closings = [0u32; 4];
    for n in 0..sends {
        let body = format!("sent {n}");
        let unstored = alice.messenger().outbox().mark();
        let message = alice
            .messenger_mut()
            .send_text(&bob_key, &body, NOW * 1000 + n, &mut rng)
            .expect("sent");
        // The first four sends meet each moment once, the rest by chance.
        let moment = if n < 4 { n as u32 } else { rng.next_u32() % 4 };
        closings[moment as usize] += 1;
        if moment == 0 {
            // Closed before the vault stored it: the page never showed it as sent. What was
            // stored before may leave meanwhile; this one may not.
            while let Some(pending) = alice.messenger().outbox().next_envelope().cloned() {
                assert!(pending.id < unstored, "nothing unstored may leave");
                deliver(transport, vec![pending.transmit]).await;
                alice.messenger_mut().outbox_mut().envelope_sent(pending.id);
            }
        } else {
            alice.save(&vault, &[message], &mut rng).await;
            shown.push(body);
            let puts = if moment == 1 { 0 } else { rng.next_u32() % 3 };
            for _ in 0..puts {
                let Some(pending) = alice.messenger().outbox().next_envelope().cloned() else {
                    break;
                };
                deliver(transport, vec![pending.transmit]).await;
                alice.messenger_mut().outbox_mut().envelope_sent(pending.id);
            }
            if moment == 3 {
                alice.save(&vault, &[], &mut rng).await;
            }
        }
        alice.reopen(&vault).await;
    }
    assert!(
        closings.iter().all(|c| *c > 0),
        "every moment: {closings:?}"
    );
    // The phone opens once more and its outbox empties.
    while let Some(pending) = alice.messenger().outbox().next_envelope().cloned() {
        deliver(transport, vec![pending.transmit]).await;
        alice.messenger_mut().outbox_mut().envelope_sent(pending.id);
    }
    assert!(alice.messenger().outbox().is_empty());
    for bob in [&mut bob_a, &mut bob_b] {
        let polled = bob.poll(transport).await;
        assert!(polled.errors.is_empty(), "{:?}", polled.error_codes());
        let mut arrived = polled.messages();
        arrived.sort();
        let mut expected = shown.clone();
        expected.sort();
        assert_eq!(arrived, expected, "each shown message once, nothing else");
    }
    bob_a
        .messenger_mut()
        .send_text(
            &alice.messenger().persona_key(),
            "all here",
            NOW * 2000,
            &mut rng,
        )
        .expect("sent");
    deliver(
        transport,
        bob_a.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    assert_eq!(alice.poll(transport).await.messages(), vec!["all here"]);
    alice
        .messenger_mut()
        .send_text(&bob_key, "and after", NOW * 2000 + 1, &mut rng)
        .expect("sent");
    deliver(
        transport,
        alice.messenger_mut().outbox_mut().take_envelopes(),
    )
    .await;
    assert_eq!(
        bob_b.poll(transport).await.messages(),
        vec!["all here", "and after"],
        "the reply from A, copied to B, and Alice's answer"
    );
}

impl Device {
    /// Stores the messenger's state and `messages` in one write, as a page does after each
    /// change; what the outbox held then may leave.
    async fn save(
        &mut self,
        vault: &Vault<MemoryStore>,
        messages: &[Message],
        rng: &mut SeededRng,
    ) {
        let mark = self.messenger().outbox().mark();
        let snapshot = self.messenger().snapshot().expect("a snapshot");
        vault
            .save_messaging(
                &snapshot,
                MessageWrites {
                    live: messages,
                    ..MessageWrites::default()
                },
                rng,
            )
            .await
            .expect("saved");
        self.messenger_mut().outbox_mut().persisted(mark);
    }

    /// The device as a page opened again finds it: only what its vault holds.
    async fn reopen(&mut self, vault: &Vault<MemoryStore>) {
        let state = vault
            .messaging_state()
            .await
            .expect("read")
            .expect("a stored state");
        let mut restored = Messenger::restore(&self.persona, &self.keys, &state).expect("restored");
        restored.restore_from_vault(vault).await.expect("read");
        self.core = PersonaSync::new(restored);
    }
}
