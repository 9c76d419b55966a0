//! The vault conformance suite: every test runs against each store implementation —
//! `MemoryStore` natively, IndexedDB in headless Chromium.

use phantom_sync::history::TransferId;
use phantom_sync::mailbox::MailboxAddress;
use phantom_sync::persona::{
    Contact, ContactId, Conversation, ConversationId, DeviceKeys, Message, MessageId, Persona,
    Sender, SyncCursor,
};
use phantom_sync::secret::Secret;
use phantom_sync::testing::SeededRng;
use phantom_sync::vault::cipher::CipherError;
use phantom_sync::vault::schema::{SchemaError, SCHEMA_VERSION_ID};
use phantom_sync::vault::store::{RawStore, StoreName, WriteOp};
use phantom_sync::vault::unlock::{MemoryKeyring, PinParams, UnlockError, UnlockMethod};
use phantom_sync::vault::MessageWrites;
use phantom_sync::vault::{Vault, VaultError};

pub const NOW: u64 = 1_767_225_600;
pub const MARKER: &str = "MARKER-7f3a-visible-if-unencrypted";

/// Makes empty stores and reopens them as a new connection would (after a reload).
#[allow(async_fn_in_trait)]
pub trait Fixture {
    type Store: RawStore;
    async fn fresh(&self, name: &str) -> Self::Store;
    async fn reopen(&self, store: Self::Store) -> Self::Store;
}

pub struct World {
    pub rng: SeededRng,
    pub persona: Persona,
    pub device: DeviceKeys,
    pub keyring: MemoryKeyring,
}

pub fn world(seed: u64) -> World {
    let mut rng = SeededRng::new(seed);
    let mut persona = Persona::create("Ada", NOW - 86_400, &mut rng).expect("persona");
    persona.contacts.push(contact(1, "Grace"));
    persona.contacts.push(contact(2, "Alan"));
    persona.conversations.push(Conversation {
        id: conversation(1),
        title: format!("Grace {MARKER}"),
        peer_mailbox: MailboxAddress::from_bytes([0x11; 32]),
        conversation_key: Secret::from_bytes([0x22; 32]),
        last_activity: NOW - 60,
    });
    let device = DeviceKeys::generate("Laptop", NOW, &mut rng).expect("device");
    let keyring = MemoryKeyring::generate(&mut rng);
    World {
        rng,
        persona,
        device,
        keyring,
    }
}

fn contact(n: u8, name: &str) -> Contact {
    Contact {
        id: ContactId::from_bytes([n; 16]),
        display_name: format!("{name} {MARKER}"),
        mailbox: MailboxAddress::from_bytes([n; 32]),
        identity_key: [n.wrapping_add(100); 32],
        added_at: NOW - 3_600,
    }
}

/// Conversation number `n`.
pub fn conversation(n: u8) -> ConversationId {
    ConversationId::from_bytes([n; 16])
}

/// Message `n` of conversation number `in_conversation`.
pub fn message(n: u64, in_conversation: u8) -> Message {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[15] = in_conversation;
    Message {
        id: MessageId::from_bytes(id),
        conversation_id: conversation(in_conversation),
        sender: Sender::Contact(ContactId::from_bytes([1; 16])),
        sent_at_ms: (NOW - 1_000 + n) * 1_000,
        body: format!("message {n} {MARKER}"),
    }
}

async fn imported<F: Fixture>(fixture: &F, name: &str, w: &mut World) -> Vault<F::Store> {
    let store = fixture.fresh(name).await;
    Vault::import(store, &w.persona, w.device.clone(), &w.keyring, &mut w.rng)
        .await
        .expect("imports")
}

pub async fn round_trip_survives_reopening<F: Fixture>(fixture: &F) {
    let mut w = world(1);
    let vault = imported(fixture, "round_trip", &mut w).await;
    let messages: Vec<Message> = (0..50).rev().map(|n| message(n, 1)).collect();
    vault
        .put_messages(&messages, &mut w.rng)
        .await
        .expect("messages stored");
    let cursor = SyncCursor {
        mailbox: MailboxAddress::from_bytes([9; 32]),
        position: 77,
    };
    vault
        .put_cursor(&cursor, &mut w.rng)
        .await
        .expect("cursor stored");

    let store = fixture.reopen(vault.lock()).await;
    let vault = Vault::unlock(store, &w.keyring, None, NOW)
        .await
        .expect("unlocks with the device key");
    let mut persona = vault.persona().await.expect("persona");
    persona.contacts.sort_by_key(|c| c.id);
    assert_eq!(persona, w.persona);
    assert_eq!(vault.device().await.expect("device"), w.device);
    let stored = vault.messages(&conversation(1)).await.expect("messages");
    let mut expected = messages.clone();
    expected.sort_by_key(Message::order_key);
    assert_eq!(stored, expected, "messages come back in conversation order");
    assert_eq!(
        vault.messages(&conversation(2)).await.expect("none"),
        vec![]
    );
    assert_eq!(
        vault.cursor(&cursor.mailbox).await.expect("cursor"),
        Some(cursor)
    );
}

pub async fn storing_a_message_twice_keeps_one<F: Fixture>(fixture: &F) {
    let mut w = world(2);
    let vault = imported(fixture, "dedupe", &mut w).await;
    let batch = [message(1, 1), message(2, 1)];
    let first = vault
        .put_messages(&batch, &mut w.rng)
        .await
        .expect("stored");
    assert_eq!(first, vec![true, true]);
    let again = vault
        .put_messages(&[message(3, 1), message(1, 1)], &mut w.rng)
        .await
        .expect("stored again");
    assert_eq!(
        again,
        vec![true, false],
        "the copy is turned away, the rest kept"
    );
    assert_eq!(
        vault
            .messages(&conversation(1))
            .await
            .expect("messages")
            .len(),
        3
    );
}

/// Issue 21: a contact's message under an id of this persona's takes nothing's place; a
/// conflicting copy (its sender and id, another body) is kept apart, and what comes from
/// the persona's own history is stored over what a contact sent first.
pub async fn a_reused_message_id_overwrites_nothing<F: Fixture>(fixture: &F) {
    let mut w = world(21);
    let vault = imported(fixture, "reused_ids", &mut w).await;
    let ours = Message {
        sender: Sender::OwnDevice(phantom_sync::persona::DeviceId::from_bytes([9; 16])),
        body: "what we wrote".into(),
        ..message(1, 1)
    };
    let theirs = Message {
        body: "a contact's text under our id".into(),
        ..message(1, 1)
    };
    let state = b"state";
    let vault = &vault;
    let held = |identity| async move {
        vault
            .message(&conversation(1), identity)
            .await
            .expect("read")
    };
    let live = |messages| MessageWrites {
        live: messages,
        ..MessageWrites::default()
    };
    let new = vault
        .save_messaging(state, live(&[ours.clone(), theirs.clone()]), &mut w.rng)
        .await
        .expect("saved");
    assert_eq!(
        new,
        vec![true, true],
        "two messages: the ids belong to different writers"
    );
    assert_eq!(held(ours.identity()).await, Some(ours.clone()));
    assert_eq!(held(theirs.identity()).await, Some(theirs.clone()));

    // The contact rewrites its message: the copy is flagged, the message stays.
    let rewritten = Message {
        body: "the same id, new words".into(),
        ..theirs.clone()
    };
    let flagged = MessageWrites {
        live: std::slice::from_ref(&rewritten),
        conflicting: std::slice::from_ref(&rewritten),
        ..MessageWrites::default()
    };
    assert_eq!(
        vault
            .save_messaging(state, flagged, &mut w.rng)
            .await
            .expect("saved"),
        vec![false]
    );
    assert_eq!(held(theirs.identity()).await, Some(theirs.clone()));
    assert_eq!(
        vault.conflicts(&conversation(1)).await.expect("read"),
        vec![rewritten.clone()]
    );

    // The persona's own history has the contact's message as it really was: it replaces
    // the copy held, which is kept as conflicting; a second run changes nothing more.
    let genuine = Message {
        body: "what the contact first wrote".into(),
        ..theirs.clone()
    };
    let from_history = MessageWrites {
        history: std::slice::from_ref(&genuine),
        ..MessageWrites::default()
    };
    for _ in 0..2 {
        let new = vault
            .save_messaging(state, from_history, &mut w.rng)
            .await
            .expect("saved");
        assert_eq!(new, vec![false], "held already, with other words");
    }
    assert_eq!(held(genuine.identity()).await, Some(genuine.clone()));
    let mut conflicts = vault.conflicts(&conversation(1)).await.expect("read");
    conflicts.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(conflicts, vec![theirs, rewritten]);
    assert_eq!(
        vault.messages(&conversation(1)).await.expect("read").len(),
        2
    );
    assert_eq!(
        vault
            .count_messages(&conversation(1))
            .await
            .expect("counted"),
        2
    );
}

pub async fn a_conversation_is_read_a_page_at_a_time<F: Fixture>(fixture: &F) {
    let mut w = world(13);
    let vault = imported(fixture, "pages", &mut w).await;
    let chat: Vec<Message> = (0..25).map(|n| message(n, 1)).collect();
    vault.put_messages(&chat, &mut w.rng).await.expect("stored");
    vault
        .put_messages(&[message(0, 2)], &mut w.rng)
        .await
        .expect("stored");
    let mut pages = Vec::new();
    let mut reading = vault.message_pages(&conversation(1), 10);
    while let Some(page) = reading.next().await.expect("a page") {
        pages.push(page.len());
        assert!(pages.len() < 10, "pages end");
    }
    assert_eq!(pages, vec![10, 10, 5]);
    let before_ten = vault
        .latest_messages(&conversation(1), Some(&message(10, 1).id), 3)
        .await
        .expect("read");
    assert_eq!(
        before_ten,
        Some(vec![message(7, 1), message(8, 1), message(9, 1)])
    );
    let latest = vault
        .latest_messages(&conversation(1), None, 2)
        .await
        .expect("read");
    assert_eq!(latest, Some(vec![message(23, 1), message(24, 1)]));
    assert_eq!(
        vault
            .latest_messages(&conversation(1), Some(&message(0, 2).id), 3)
            .await
            .expect("read"),
        None,
        "not a message of this conversation"
    );
    assert_eq!(
        vault
            .count_messages(&conversation(1))
            .await
            .expect("counted"),
        25
    );
    assert_eq!(
        vault
            .count_messages(&conversation(3))
            .await
            .expect("counted"),
        0
    );
    assert_eq!(
        vault
            .message(&conversation(1), message(7, 1).identity())
            .await
            .expect("read"),
        Some(message(7, 1))
    );
    assert_eq!(
        vault
            .message(&conversation(1), message(0, 2).identity())
            .await
            .expect("read"),
        None,
        "another conversation's"
    );
}

pub async fn history_blocks_are_kept_until_deleted<F: Fixture>(fixture: &F) {
    let mut w = world(14);
    let vault = imported(fixture, "history_blocks", &mut w).await;
    let blocks = [vec![1u8; 100], vec![2u8; 200], vec![3u8; 50]];
    let (kept, never) = (
        TransferId::from_bytes([5; 16]),
        TransferId::from_bytes([6; 16]),
    );
    vault
        .put_history_blocks(&kept, 0, &blocks[..2], &mut w.rng)
        .await
        .expect("stored");
    vault
        .put_history_blocks(&kept, 2, &blocks[2..], &mut w.rng)
        .await
        .expect("stored");
    for (index, block) in blocks.iter().enumerate() {
        assert_eq!(
            vault
                .history_block(&kept, index as u32)
                .await
                .expect("read"),
            Some(block.clone())
        );
    }
    assert_eq!(vault.history_block(&never, 0).await.expect("read"), None);
    vault.delete_history(&kept, 3).await.expect("deleted");
    assert_eq!(vault.history_block(&kept, 1).await.expect("read"), None);
}

pub async fn a_first_schema_vault_is_brought_up_to_date<F: Fixture>(fixture: &F) {
    let mut w = world(15);
    let store = imported(fixture, "schema_one", &mut w).await.lock();
    store
        .write(vec![WriteOp::put(
            StoreName::Meta,
            SCHEMA_VERSION_ID,
            &1u32.to_be_bytes(),
        )])
        .await
        .expect("raw write");
    let vault = Vault::unlock(store, &w.keyring, None, NOW)
        .await
        .expect("opens and migrates");
    assert_eq!(
        phantom_sync::vault::schema::stored_version(vault.store()).await,
        Ok(Some(phantom_sync::vault::schema::SCHEMA_VERSION))
    );
    vault
        .put_history_blocks(&TransferId::from_bytes([1; 16]), 0, &[vec![9]], &mut w.rng)
        .await
        .expect("the new store is there");
}

pub async fn a_wrong_key_is_refused<F: Fixture>(fixture: &F) {
    let mut w = world(3);
    let store = imported(fixture, "wrong_key", &mut w).await.lock();
    let result = Vault::open(store, Secret::from_bytes([0x55; 32])).await;
    assert_eq!(result.err(), Some(VaultError::WrongKey));
}

pub async fn a_tampered_record_is_refused<F: Fixture>(fixture: &F) {
    let mut w = world(4);
    let vault = imported(fixture, "tampered", &mut w).await;
    let store = vault.store();
    let (key, mut value) = store
        .scan_prefix(StoreName::Persona, &[])
        .await
        .expect("scan")
        .pop()
        .expect("a persona record");
    let last = value.len() - 1;
    value[last] ^= 0x01;
    store
        .write(vec![WriteOp::Put {
            store: StoreName::Persona,
            key,
            value,
        }])
        .await
        .expect("raw write");
    assert_eq!(
        vault.persona().await.err(),
        Some(VaultError::Record(CipherError::Tampered {
            store: "persona"
        }))
    );
    assert_eq!(
        vault.device().await.expect("the rest still reads"),
        w.device
    );
}

pub async fn a_swapped_record_is_refused<F: Fixture>(fixture: &F) {
    let mut w = world(5);
    let vault = imported(fixture, "swapped", &mut w).await;
    let store = vault.store();
    let contacts = store
        .scan_prefix(StoreName::Contacts, &[])
        .await
        .expect("scan");
    assert_eq!(contacts.len(), 2);
    let (first_key, _) = contacts[0].clone();
    let (_, second_value) = contacts[1].clone();
    store
        .write(vec![WriteOp::Put {
            store: StoreName::Contacts,
            key: first_key,
            value: second_value.clone(),
        }])
        .await
        .expect("raw write");
    assert_eq!(
        vault.persona().await.err(),
        Some(VaultError::Record(CipherError::Moved { store: "contacts" }))
    );

    // The same record moved to another store is refused too.
    let (conversation_key, _) = store
        .scan_prefix(StoreName::Conversations, &[])
        .await
        .expect("scan")
        .pop()
        .expect("a conversation");
    store
        .write(vec![WriteOp::Put {
            store: StoreName::Conversations,
            key: conversation_key,
            value: second_value,
        }])
        .await
        .expect("raw write");
    let moved = Vault::unlock(vault.lock(), &w.keyring, None, NOW)
        .await
        .expect("opens")
        .persona()
        .await;
    assert!(matches!(
        moved,
        Err(VaultError::Record(CipherError::Moved { .. }))
    ));
}

pub async fn a_reimport_keeps_history_and_device_keys<F: Fixture>(fixture: &F) {
    let mut w = world(6);
    let vault = imported(fixture, "reimport", &mut w).await;
    vault
        .put_messages(&[message(1, 1), message(2, 1)], &mut w.rng)
        .await
        .expect("history");
    let mut newer = w.persona.clone();
    newer.conversations.push(Conversation {
        id: conversation(2),
        title: "Alan".into(),
        peer_mailbox: MailboxAddress::from_bytes([0x33; 32]),
        conversation_key: Secret::from_bytes([0x44; 32]),
        last_activity: NOW,
    });
    let other_device = DeviceKeys::generate("Other", NOW, &mut w.rng).expect("device");
    let vault = Vault::import(vault.lock(), &newer, other_device, &w.keyring, &mut w.rng)
        .await
        .expect("re-imports");
    let again = Vault::import(
        vault.lock(),
        &newer,
        w.device.clone(),
        &w.keyring,
        &mut w.rng,
    )
    .await
    .expect("idempotent");
    assert_eq!(
        again
            .messages(&conversation(1))
            .await
            .expect("messages")
            .len(),
        2
    );
    assert_eq!(
        again.persona().await.expect("persona").conversations.len(),
        2
    );
    assert_eq!(
        again.device().await.expect("device"),
        w.device,
        "device keys are kept"
    );
}

pub async fn a_different_persona_is_refused_and_nothing_changes<F: Fixture>(fixture: &F) {
    let mut w = world(7);
    let vault = imported(fixture, "different", &mut w).await;
    vault
        .put_messages(&[message(1, 1)], &mut w.rng)
        .await
        .expect("history");
    let stranger = Persona::create("Eve", NOW, &mut w.rng).expect("persona");
    let result = Vault::import(
        vault.lock(),
        &stranger,
        w.device.clone(),
        &w.keyring,
        &mut w.rng,
    )
    .await;
    let Err(error) = result else {
        panic!("a different persona must be refused");
    };
    assert_eq!(error, VaultError::DifferentPersona);
}

pub async fn pin_unlock_counts_wrong_pins_with_back_off<F: Fixture>(fixture: &F) {
    let mut w = world(8);
    let vault = imported(fixture, "pin", &mut w).await;
    vault
        .set_pin(
            &w.keyring,
            Some(("482913", PinParams::FOR_TESTS)),
            &mut w.rng,
        )
        .await
        .expect("pin set");
    let store = fixture.reopen(vault.lock()).await;
    assert!(Vault::needs_pin(&store)
        .await
        .expect("readable while locked"));

    let unlock = |pin: Option<&'static str>, now: u64| Vault::unlock(&store, &w.keyring, pin, now);
    let refused = |result: Result<Vault<&F::Store>, VaultError>| result.expect_err("refused");
    assert_eq!(
        refused(unlock(None, NOW).await),
        VaultError::Unlock(UnlockError::PinRequired)
    );
    assert_eq!(
        refused(unlock(Some("000000"), NOW).await),
        VaultError::Unlock(UnlockError::WrongPin {
            failures: 1,
            retry_after_secs: 1
        })
    );
    assert_eq!(
        refused(unlock(Some("482913"), NOW).await),
        VaultError::Unlock(UnlockError::TooManyAttempts {
            retry_after_secs: 1
        })
    );
    assert_eq!(
        refused(unlock(Some("111111"), NOW + 1).await),
        VaultError::Unlock(UnlockError::WrongPin {
            failures: 2,
            retry_after_secs: 2
        })
    );
    let vault = unlock(Some("482913"), NOW + 3)
        .await
        .expect("the right PIN opens after the wait");
    assert_eq!(
        vault.fingerprint().await.expect("fingerprint"),
        w.persona.fingerprint()
    );
    assert_eq!(
        refused(unlock(Some("000000"), NOW + 3).await),
        VaultError::Unlock(UnlockError::WrongPin {
            failures: 1,
            retry_after_secs: 1
        }),
        "a success resets the count"
    );

    vault
        .set_pin(&w.keyring, None, &mut w.rng)
        .await
        .expect("pin removed");
    assert!(!Vault::needs_pin(&store).await.expect("readable"));
    unlock(None, NOW + 10)
        .await
        .expect("opens without a PIN again");
}

/// The PIN's cost is measured on the device that sets it and chosen for about a second of
/// unlocking there. A clock that lies cannot weaken it: one claiming a pass took an hour (a
/// device too slow for a second) still gets the floor, RFC 9106's 64 MiB and 3 passes; one
/// that stands still, or reads nonsense, gets the most a record may ask for (32 passes).
pub async fn the_pin_cost_is_measured_for_about_a_second_and_never_below_the_floor<F: Fixture>(
    _fixture: &F,
) {
    let passes = |one_pass_ms: f64| {
        let params = PinParams::for_pass_time(one_pass_ms);
        assert_eq!(
            (params.memory_kib, params.parallelism),
            (64 * 1024, 1),
            "memory and lanes stay the floor's"
        );
        params.iterations
    };
    assert_eq!(passes(100.0), 10);
    assert_eq!(passes(70.0), 14);
    assert_eq!(PinParams::for_pass_time(400.0), PinParams::FLOOR);
    assert_eq!(PinParams::for_pass_time(3_600_000.0), PinParams::FLOOR);
    for nonsense in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(passes(nonsense), 32, "a pass timed at {nonsense} ms");
    }

    // Real passes over 64 MiB on this machine, timed by a clock that says they took 400 ms
    // (growing memory), 250 ms and 300 ms: the fastest counts.
    let mut readings = [1_000.0, 1_400.0, 2_000.0, 2_250.0, 3_000.0, 3_300.0].into_iter();
    let params =
        PinParams::calibrate(|| readings.next().expect("read six times")).expect("calibrates");
    assert_eq!(params.iterations, 4);
    assert_eq!(readings.next(), None, "three passes timed");
}

pub async fn a_newer_schema_is_refused_untouched<F: Fixture>(fixture: &F) {
    let mut w = world(9);
    let store = imported(fixture, "newer", &mut w).await.lock();
    store
        .write(vec![WriteOp::put(
            StoreName::Meta,
            SCHEMA_VERSION_ID,
            &99u32.to_be_bytes(),
        )])
        .await
        .expect("raw write");
    let result = Vault::unlock(store, &w.keyring, None, NOW).await;
    assert_eq!(
        result.err(),
        Some(VaultError::Schema(SchemaError::Newer { found: 99 }))
    );
}

/// Everything the store holds, keys and values, as one byte string per record.
pub async fn raw_contents(store: &impl RawStore) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for name in StoreName::ALL {
        for (key, value) in store.scan_prefix(name, &[]).await.expect("scan") {
            all.push(key);
            all.push(value);
        }
    }
    all
}

/// Secrets and markers that must never appear in storage.
pub fn forbidden_bytes(w: &World) -> Vec<Vec<u8>> {
    let mut forbidden = vec![
        MARKER.as_bytes().to_vec(),
        w.persona
            .authority
            .as_ref()
            .expect("the creating device")
            .expose()
            .to_vec(),
        w.persona.database_passphrase.expose().to_vec(),
        w.device.identity_seed.expose().to_vec(),
        w.persona.conversations[0]
            .conversation_key
            .expose()
            .to_vec(),
        w.persona.conversations[0].id.as_bytes().to_vec(),
        b"Grace".to_vec(),
    ];
    forbidden.extend(w.persona.contacts.iter().map(|c| c.id.as_bytes().to_vec()));
    forbidden
}

pub fn assert_nothing_readable(contents: &[Vec<u8>], forbidden: &[Vec<u8>]) {
    for record in contents {
        for needle in forbidden {
            assert!(
                !record
                    .windows(needle.len())
                    .any(|window| window == needle.as_slice()),
                "found {:?} at rest",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

pub async fn nothing_is_readable_at_rest<F: Fixture>(fixture: &F) -> World {
    let mut w = world(10);
    let vault = imported(fixture, "at_rest", &mut w).await;
    let messages: Vec<Message> = (0..20).map(|n| message(n, 1)).collect();
    vault
        .put_messages(&messages, &mut w.rng)
        .await
        .expect("stored");
    let contents = raw_contents(vault.store()).await;
    assert!(contents.len() > 20);
    let mut forbidden = forbidden_bytes(&w);
    forbidden.extend(messages.iter().map(|m| m.id.as_bytes().to_vec()));
    assert_nothing_readable(&contents, &forbidden);
    w
}

/// A store whose next write is lost as if the tab closed before the transaction committed.
pub struct Interruptible<S> {
    inner: S,
    interrupt_next: std::cell::Cell<bool>,
    writes: std::cell::Cell<u32>,
}

impl<S: RawStore> RawStore for Interruptible<S> {
    async fn get(
        &self,
        store: StoreName,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, phantom_sync::vault::store::StoreError> {
        self.inner.get(store, key).await
    }

    async fn scan_prefix(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, phantom_sync::vault::store::StoreError> {
        self.inner.scan_prefix(store, prefix).await
    }

    async fn scan_prefix_page(
        &self,
        store: StoreName,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, phantom_sync::vault::store::StoreError> {
        self.inner
            .scan_prefix_page(store, prefix, after, limit)
            .await
    }

    async fn count_prefix(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<u32, phantom_sync::vault::store::StoreError> {
        self.inner.count_prefix(store, prefix).await
    }

    async fn write_new(
        &self,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<bool>, phantom_sync::vault::store::StoreError> {
        self.writes.set(self.writes.get() + 1);
        if self.interrupt_next.replace(false) {
            return Err(phantom_sync::vault::store::StoreError::Closed);
        }
        self.inner.write_new(ops).await
    }
}

pub async fn an_interrupted_import_leaves_the_old_state_and_can_be_retried<F: Fixture>(
    fixture: &F,
) {
    let mut w = world(12);
    let store = Interruptible {
        inner: fixture.fresh("interrupted").await,
        interrupt_next: std::cell::Cell::new(true),
        writes: std::cell::Cell::new(0),
    };
    let first = Vault::import(&store, &w.persona, w.device.clone(), &w.keyring, &mut w.rng).await;
    assert_eq!(
        first.err(),
        Some(VaultError::Store(
            phantom_sync::vault::store::StoreError::Closed
        ))
    );
    assert_eq!(store.writes.get(), 1, "an import is one atomic write");
    let nothing = Vault::unlock(&store, &w.keyring, None, NOW).await;
    assert_eq!(
        nothing.err(),
        Some(VaultError::NoVault),
        "nothing half-written"
    );

    let vault = Vault::import(&store, &w.persona, w.device.clone(), &w.keyring, &mut w.rng)
        .await
        .expect("the retry imports");
    vault
        .put_messages(&[message(1, 1)], &mut w.rng)
        .await
        .expect("history");

    let mut changed = w.persona.clone();
    changed.contacts[0].display_name = "Grace Hopper".into();
    changed.conversations.push(Conversation {
        id: conversation(3),
        title: "New".into(),
        peer_mailbox: MailboxAddress::from_bytes([0x66; 32]),
        conversation_key: Secret::from_bytes([0x77; 32]),
        last_activity: NOW,
    });
    store.interrupt_next.set(true);
    let writes_before = store.writes.get();
    let interrupted =
        Vault::import(&store, &changed, w.device.clone(), &w.keyring, &mut w.rng).await;
    assert!(interrupted.is_err());
    assert_eq!(
        store.writes.get(),
        writes_before + 1,
        "a re-import is one atomic write"
    );

    let vault = Vault::unlock(&store, &w.keyring, None, NOW)
        .await
        .expect("still unlocks");
    let mut persona = vault.persona().await.expect("the old persona");
    persona.contacts.sort_by_key(|c| c.id);
    assert_eq!(persona, w.persona, "the old state is intact");
    assert_eq!(
        vault
            .messages(&conversation(1))
            .await
            .expect("history")
            .len(),
        1
    );

    let vault = Vault::import(&store, &changed, w.device.clone(), &w.keyring, &mut w.rng)
        .await
        .expect("the retry imports");
    let persona = vault.persona().await.expect("the new persona");
    assert_eq!(persona.conversations.len(), 2);
    assert!(persona
        .contacts
        .iter()
        .any(|c| c.display_name == "Grace Hopper"));
    assert_eq!(
        vault
            .messages(&conversation(1))
            .await
            .expect("history")
            .len(),
        1
    );
}

pub async fn hostile_unlock_records_are_refused_without_hanging<F: Fixture>(fixture: &F) {
    use phantom_sync::vault::unlock::{PinAttempts, UnlockMethod, UnlockRecord};
    use phantom_sync::wire::WireRecord;

    let mut w = world(13);
    let vault = imported(fixture, "hostile_unlock", &mut w).await;
    vault
        .set_pin(
            &w.keyring,
            Some(("123456", PinParams::FOR_TESTS)),
            &mut w.rng,
        )
        .await
        .expect("pin set");
    let store = vault.lock();

    // Someone with the disk sets the attempt counter to nonsense: the longest wait applies.
    store
        .write(vec![WriteOp::put(
            StoreName::Meta,
            b"pin_attempts",
            b"garbage",
        )])
        .await
        .expect("raw write");
    let waiting = Vault::unlock(&store, &w.keyring, Some("123456"), NOW).await;
    assert_eq!(waiting.expect_err("refused").code(), "too_many_attempts");
    let far_future = PinAttempts {
        failures: 1,
        not_before: u64::MAX,
    };
    store
        .write(vec![WriteOp::put(
            StoreName::Meta,
            b"pin_attempts",
            &far_future.encode().expect("encodes"),
        )])
        .await
        .expect("raw write");
    let clamped = Vault::unlock(&store, &w.keyring, Some("123456"), NOW).await;
    assert_eq!(
        clamped.expect_err("refused"),
        VaultError::Unlock(UnlockError::TooManyAttempts {
            retry_after_secs: 900
        })
    );

    // Settings that would take gigabytes are refused before any work.
    use phantom_sync::vault::unlock::DeviceKeyring;
    let hostile = UnlockRecord {
        method: UnlockMethod::Pin {
            params: PinParams {
                memory_kib: 4 * 1024 * 1024,
                iterations: 1,
                parallelism: 1,
            },
            salt: [0; 16],
            counted: false,
        },
        wrapped: w.keyring.wrap(&[0; 72]).await.expect("wraps"),
    };
    store
        .write(vec![
            WriteOp::put(
                StoreName::Meta,
                b"unlock",
                &hostile.encode().expect("encodes"),
            ),
            WriteOp::Delete {
                store: StoreName::Meta,
                key: b"pin_attempts".to_vec(),
            },
        ])
        .await
        .expect("raw write");
    let refused = Vault::unlock(&store, &w.keyring, Some("123456"), NOW).await;
    assert_eq!(
        refused.expect_err("refused"),
        VaultError::Unlock(UnlockError::InvalidPinParams)
    );
}

/// The adversary has the device's storage and wants more PIN tries than the back-off
/// allows: it deletes the attempt count, puts back a count sealed for an earlier PIN, or
/// stops the page while a PIN is being checked. Each earns the longest wait or finds the
/// try already counted; a short new PIN is refused.
pub async fn a_pin_count_deleted_replaced_or_cut_short_gives_no_extra_tries<F: Fixture>(
    fixture: &F,
) {
    use phantom_sync::vault::unlock::{DeviceKeyring, PinAttempts};

    let mut w = world(14);
    let vault = imported(fixture, "pin_count", &mut w).await;
    assert_eq!(
        vault
            .set_pin(&w.keyring, Some(("1234", PinParams::FOR_TESTS)), &mut w.rng)
            .await,
        Err(VaultError::Unlock(UnlockError::PinTooShort)),
        "six digits at least"
    );
    vault
        .set_pin(
            &w.keyring,
            Some(("482913", PinParams::FOR_TESTS)),
            &mut w.rng,
        )
        .await
        .expect("pin set");
    let earlier_count = vault
        .store()
        .get(StoreName::Meta, b"pin_attempts")
        .await
        .expect("read")
        .expect("a sealed count from the start");
    vault
        .set_pin(
            &w.keyring,
            Some(("735124", PinParams::FOR_TESTS)),
            &mut w.rng,
        )
        .await
        .expect("pin changed");
    let store = vault.lock();
    let unlock = |pin: &'static str, now: u64| Vault::unlock(&store, &w.keyring, Some(pin), now);
    let longest = VaultError::Unlock(UnlockError::TooManyAttempts {
        retry_after_secs: 900,
    });

    assert_eq!(
        unlock("000000", NOW).await.expect_err("wrong"),
        VaultError::Unlock(UnlockError::WrongPin {
            failures: 1,
            retry_after_secs: 1
        })
    );
    // Deleted: the longest wait, even for the right PIN.
    store
        .write(vec![WriteOp::Delete {
            store: StoreName::Meta,
            key: b"pin_attempts".to_vec(),
        }])
        .await
        .expect("raw delete");
    assert_eq!(unlock("735124", NOW + 5).await.expect_err("waits"), longest);
    // A count sealed for the earlier PIN (another salt) does not open here.
    store
        .write(vec![WriteOp::put(
            StoreName::Meta,
            b"pin_attempts",
            &earlier_count,
        )])
        .await
        .expect("raw write");
    assert_eq!(unlock("735124", NOW + 5).await.expect_err("waits"), longest);

    // The page stops while the PIN is checked (the keyring fails at that moment): the try
    // was counted before it began.
    let unlocked = unlock("735124", NOW + 2000)
        .await
        .expect("opens after the wait");
    drop(unlocked);
    struct StopsOnSecondUnwrap<'a>(&'a MemoryKeyring, core::cell::Cell<u32>);
    impl DeviceKeyring for StopsOnSecondUnwrap<'_> {
        async fn wrap(&self, secret: &[u8]) -> Result<Vec<u8>, UnlockError> {
            self.0.wrap(secret).await
        }
        async fn unwrap(&self, wrapped: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, UnlockError> {
            self.1.set(self.1.get() + 1);
            if self.1.get() == 2 {
                return Err(UnlockError::Keyring("the page closed".into()));
            }
            self.0.unwrap(wrapped).await
        }
    }
    let stopping = StopsOnSecondUnwrap(&w.keyring, core::cell::Cell::new(0));
    assert!(Vault::unlock(&store, &stopping, Some("000000"), NOW + 2000)
        .await
        .is_err());
    let sealed = store
        .get(StoreName::Meta, b"pin_attempts")
        .await
        .expect("read")
        .expect("a count");
    let UnlockMethod::Pin { salt, .. } = current_unlock_method(&store).await else {
        panic!("a PIN record");
    };
    assert_eq!(
        phantom_sync::vault::unlock::open_attempts(&w.keyring, &salt, &sealed).await,
        Some(PinAttempts {
            failures: 1,
            not_before: NOW + 2001
        }),
        "the cut try counts"
    );
}

async fn current_unlock_method<S: RawStore>(
    store: &S,
) -> phantom_sync::vault::unlock::UnlockMethod {
    use phantom_sync::vault::unlock::UnlockRecord;
    use phantom_sync::wire::WireRecord;
    let bytes = store
        .get(StoreName::Meta, b"unlock")
        .await
        .expect("read")
        .expect("an unlock record");
    UnlockRecord::decode(&bytes).expect("decodes").method
}

/// The adversary is a removed device: it holds everything linking gave it (the persona
/// with its `database_passphrase`, its own vault and device key) and a copy of the phone's
/// storage. None of it opens the phone's vault: each device keys its vault with a
/// passphrase of its own, wrapped by its own device key.
pub async fn a_removed_device_with_a_copy_of_the_phones_storage_reads_nothing<F: Fixture>(
    fixture: &F,
) {
    use phantom_sync::vault::unlock::{recover, UnlockRecord};
    use phantom_sync::wire::WireRecord;

    let mut w = world(15);
    let phone = imported(fixture, "phone_copied", &mut w).await;
    let laptop_keyring = MemoryKeyring::generate(&mut w.rng);
    let laptop_device = DeviceKeys::generate("Laptop", NOW, &mut w.rng).expect("device");
    let laptop_store = fixture.fresh("laptop_thief").await;
    let laptop = Vault::import(
        laptop_store,
        &w.persona,
        laptop_device,
        &laptop_keyring,
        &mut w.rng,
    )
    .await
    .expect("the laptop's own vault");
    phone
        .put_messages(&[message(1, 1)], &mut w.rng)
        .await
        .expect("stored");
    let copy = phone.lock();

    // The persona's database passphrase, which the laptop received when it linked.
    assert_eq!(
        Vault::open(&copy, w.persona.database_passphrase.clone())
            .await
            .err(),
        Some(VaultError::WrongKey)
    );
    // The laptop's own vault passphrase, unwrapped with its own device key.
    let laptop_record = laptop
        .store()
        .get(StoreName::Meta, b"unlock")
        .await
        .expect("read")
        .expect("an unlock record");
    let laptop_passphrase = recover(
        &UnlockRecord::decode(&laptop_record).expect("decodes"),
        &laptop_keyring,
        None,
    )
    .await
    .expect("the laptop opens its own");
    assert_eq!(
        Vault::open(&copy, laptop_passphrase).await.err(),
        Some(VaultError::WrongKey)
    );
    // The laptop's device key on the phone's wrapped passphrase.
    assert_eq!(
        Vault::unlock(&copy, &laptop_keyring, None, NOW)
            .await
            .err()
            .map(|e| e.code()),
        Some("device_key_rejected")
    );
    // The phone's own device key still opens it.
    let reopened = Vault::unlock(&copy, &w.keyring, None, NOW)
        .await
        .expect("the phone opens its vault");
    assert_eq!(
        reopened
            .messages(&conversation(1))
            .await
            .expect("read")
            .len(),
        1
    );
}
