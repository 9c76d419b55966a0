//! Property tests: every encoder round-trips; no decoder panics on random bytes.
#![cfg(not(target_arch = "wasm32"))]

use phantom_sync::mailbox::keys::MailboxSeed;
use phantom_sync::mailbox::MailboxAddress;
use phantom_sync::pairing::channel::{ChannelMessage, MessageKind};
use phantom_sync::pairing::invitation::{Capabilities, Intent, InvitationId, PairingInvitation};
use phantom_sync::pairing::messages::{Abort, AbortReason, ImportAck, PersonaPayload, SyncRequest};
use phantom_sync::pairing::words::AuthWords;
use phantom_sync::pairing::SourcePairing;
use phantom_sync::persona::{
    Contact, ContactId, Conversation, ConversationId, DeviceId, DeviceKeys, Fingerprint, Message,
    MessageId, Persona, Prekey, PrekeyBundle, RecoveryCode, Sender, SyncCursor,
};
use phantom_sync::roster::{Roster, RosterDevice, SignedRoster};
use phantom_sync::secret::Secret;
use phantom_sync::testing::SeededRng;
use phantom_sync::wire::WireRecord;
use proptest::prelude::*;

fn roster_device() -> impl Strategy<Value = RosterDevice> {
    (
        any::<[u8; 16]>(),
        "[a-zA-Z ]{1,20}",
        any::<u64>(),
        any::<[[u8; 32]; 4]>(),
    )
        .prop_map(
            |(
                device_id,
                name,
                added_at,
                [identity_key, signing_key, fallback_key, sealing_key],
            )| RosterDevice {
                device_id: DeviceId::from_bytes(device_id),
                name,
                added_at,
                identity_key,
                signing_key,
                fallback_key,
                // Zeros are how a roster says "no sealing key".
                sealing_key: (sealing_key != [0; 32]).then_some(sealing_key),
            },
        )
}

/// A roster signed by a fixed persona key.
fn signed_roster(devices: Vec<RosterDevice>, epoch: u64, inbox: [u8; 32]) -> SignedRoster {
    let persona = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    Roster {
        persona_key: persona.verifying_key().to_bytes(),
        epoch,
        inbox: MailboxSeed::from_bytes(inbox),
        profile_read: [8; 32],
        devices,
    }
    .sign(&persona)
    .unwrap()
}

fn invitation() -> impl Strategy<Value = PairingInvitation> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u16>(),
    )
        .prop_map(|(id, key, mailbox, expires_at, caps)| PairingInvitation {
            intent: Intent::LinkDevice,
            id: InvitationId::from_bytes(id),
            public_key: key,
            mailbox: MailboxSeed::from_bytes(mailbox),
            expires_at,
            capabilities: Capabilities(caps),
        })
}

fn prekey() -> impl Strategy<Value = Prekey> {
    (any::<u32>(), any::<[u8; 32]>()).prop_map(|(id, secret)| Prekey {
        id,
        secret: Secret::from_bytes(secret),
    })
}

fn persona() -> impl Strategy<Value = Persona> {
    let bundle = (
        any::<u32>(),
        any::<u64>(),
        prekey(),
        prop::collection::vec(prekey(), 0..4),
    )
        .prop_map(
            |(bundle_id, created_at, signed_prekey, one_time_prekeys)| PrekeyBundle {
                bundle_id,
                created_at,
                signed_prekey,
                one_time_prekeys,
            },
        );
    let conversation = (
        any::<[u8; 16]>(),
        "\\PC{0,32}",
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_map(|(id, title, mailbox, key, last_activity)| Conversation {
            id: ConversationId::from_bytes(id),
            title,
            peer_mailbox: MailboxAddress::from_bytes(mailbox),
            conversation_key: Secret::from_bytes(key),
            last_activity,
        });
    let contact = (
        any::<[u8; 16]>(),
        "\\PC{0,16}",
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_map(
            |(id, display_name, mailbox, identity_key, added_at)| Contact {
                id: ContactId::from_bytes(id),
                display_name,
                mailbox: MailboxAddress::from_bytes(mailbox),
                identity_key,
                added_at,
            },
        );
    (
        "[a-zA-Z][a-zA-Z ]{0,20}",
        any::<u64>(),
        (any::<[u8; 32]>(), any::<[u8; 32]>()),
        prop::collection::vec(bundle, 0..3),
        prop::collection::vec(contact, 0..3),
        prop::collection::vec(conversation, 0..4),
    )
        .prop_map(
            |(
                display_name,
                created_at,
                (root, passphrase),
                prekey_bundles,
                contacts,
                conversations,
            )| Persona {
                display_name: display_name.trim().to_owned(),
                created_at,
                persona_key: RecoveryCode::new(Secret::from_bytes(root)).persona_key(),
                authority: (root[0] & 1 == 1).then(|| Secret::from_bytes(root)),
                database_passphrase: Secret::from_bytes(passphrase),
                prekey_bundles,
                contacts,
                conversations,
            },
        )
}

fn message_kind() -> impl Strategy<Value = MessageKind> {
    prop_oneof![
        Just(MessageKind::SyncRequest),
        Just(MessageKind::PersonaPayload),
        Just(MessageKind::Abort),
        Just(MessageKind::ImportAck),
    ]
}

proptest! {
    #[test]
    fn invitations_round_trip_as_bytes_and_link_codes(invitation in invitation()) {
        prop_assert_eq!(PairingInvitation::decode(&invitation.encode()), Ok(invitation.clone()));
        prop_assert_eq!(PairingInvitation::from_link_code(&invitation.to_link_code()), Ok(invitation.clone()));
        let spaced = invitation.to_link_code().to_lowercase().replace("phsync:", "phsync: ");
        prop_assert_eq!(PairingInvitation::from_link_code(&spaced), Ok(invitation));
    }

    #[test]
    fn channel_messages_round_trip(kind in message_kind(), id in any::<[u8; 16]>(), seq in any::<u64>(),
                                   enc in any::<[u8; 32]>(), ciphertext in prop::collection::vec(any::<u8>(), 0..200)) {
        let message = ChannelMessage {
            kind,
            invitation_id: InvitationId::from_bytes(id),
            seq,
            encapsulated_key: (kind == MessageKind::SyncRequest).then_some(enc),
            ciphertext,
        };
        prop_assert_eq!(ChannelMessage::decode(&message.encode().unwrap()), Ok(message));
    }

    #[test]
    fn personas_and_payloads_round_trip(persona in persona(), approved_at in any::<u64>(),
                                        devices in prop::collection::vec(roster_device(), 0..4),
                                        epoch in any::<u64>(), inbox in any::<[u8; 32]>()) {
        prop_assert_eq!(Persona::decode(&persona.encode().unwrap()), Ok(persona.clone()));
        let roster = signed_roster(devices, epoch, inbox);
        prop_assert_eq!(SignedRoster::decode(&roster.encode()), Ok(roster.clone()));
        let payload = PersonaPayload { persona, approved_at, roster };
        prop_assert_eq!(PersonaPayload::decode(&payload.encode().unwrap()), Ok(payload));
    }

    #[test]
    fn small_messages_round_trip(name in "\\PC{0,16}", at in any::<u64>(), fingerprint in any::<[u8; 20]>(),
                                 reason in 1u8..=5, words in any::<[u8; 5]>(), device in roster_device()) {
        let request = SyncRequest { device_name: name, requested_at: at };
        prop_assert_eq!(SyncRequest::decode(&request.encode().unwrap()), Ok(request));
        let ack = ImportAck { fingerprint: Fingerprint::from_bytes(fingerprint), device };
        prop_assert_eq!(ImportAck::decode(&ack.encode().unwrap()), Ok(ack));
        let abort = Abort { reason: AbortReason::from_byte(reason).unwrap() };
        prop_assert_eq!(Abort::decode(&abort.encode()), Ok(abort));
        let words = AuthWords::from_exporter_bytes(words);
        prop_assert_eq!(AuthWords::parse(&words.to_string()), Ok(words));
    }

    #[test]
    fn vault_records_round_trip(id in any::<[u8; 16]>(), other in any::<[u8; 16]>(), own in any::<bool>(),
                                at in any::<u64>(), body in "\\PC{0,64}", seed in any::<[u8; 32]>(), name in "\\PC{0,16}") {
        let message = Message {
            id: MessageId::from_bytes(id),
            conversation_id: ConversationId::from_bytes(other),
            sender: if own { Sender::OwnDevice(DeviceId::from_bytes(other)) } else { Sender::Contact(ContactId::from_bytes(id)) },
            sent_at_ms: at,
            body,
        };
        prop_assert_eq!(Message::decode(&message.encode().unwrap()), Ok(message));
        let device = DeviceKeys { device_id: DeviceId::from_bytes(id), name, created_at: at, identity_seed: Secret::from_bytes(seed) };
        prop_assert_eq!(DeviceKeys::decode(&device.encode().unwrap()), Ok(device));
        let cursor = SyncCursor { mailbox: MailboxAddress::from_bytes(seed), position: at };
        prop_assert_eq!(SyncCursor::decode(&cursor.encode().unwrap()), Ok(cursor));
    }

    #[test]
    fn mailbox_frames_round_trip(mailbox in any::<[u8; 32]>(), body in prop::collection::vec(any::<u8>(), 0..300),
                                 after in any::<u64>(), limit in 0u32..=256, wait in 0u32..=30_000, seq in any::<u64>(),
                                 nodes in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..=64),
                                     prop::collection::vec(prop::collection::vec(any::<u8>(), 0..=256), 0..=8)), 0..=20)) {
        use phantom_sync::mailbox::envelope::Envelope;
        use phantom_sync::mailbox::keys::{MailboxPublicKeys, PutStamp};
        use phantom_sync::mailbox::protocol::{MailboxRequest, MailboxResponse, NodeRecord, StoredEnvelope};
        let keys = MailboxPublicKeys { writer: mailbox, reader: [mailbox[0]; 32] };
        let stamp = PutStamp { written_at: after, signature: [mailbox[1]; 64] };
        let envelope = Envelope::new(body).unwrap();
        for request in [
            MailboxRequest::Put { mailbox: keys, stamp, envelope: envelope.clone() },
            MailboxRequest::Fetch { mailbox: keys, issued_at: seq, authorization: [mailbox[2]; 64], after, limit, wait_ms: wait },
            MailboxRequest::FindNodes { mailbox: MailboxAddress::from_bytes(mailbox) },
        ] {
            prop_assert_eq!(MailboxRequest::decode(&request.encode()), Ok(request));
        }
        let response = MailboxResponse::Envelopes { items: vec![StoredEnvelope { seq, stamp, envelope }], last_seq: seq };
        prop_assert_eq!(MailboxResponse::decode(&response.encode()), Ok(response));
        let stored = MailboxResponse::Stored { seq, duplicate: seq % 2 == 0 };
        prop_assert_eq!(MailboxResponse::decode(&stored.encode()), Ok(stored));
        let nodes = MailboxResponse::Nodes {
            nodes: nodes.into_iter().map(|(peer, addresses)| NodeRecord { peer, addresses }).collect(),
        };
        prop_assert_eq!(MailboxResponse::decode(&nodes.encode()), Ok(nodes));
    }

    #[test]
    fn decoders_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = PairingInvitation::decode(&bytes);
        let _ = ChannelMessage::decode(&bytes);
        let _ = Persona::decode(&bytes);
        let _ = PersonaPayload::decode(&bytes);
        let _ = SyncRequest::decode(&bytes);
        let _ = Abort::decode(&bytes);
        let _ = ImportAck::decode(&bytes);
        let _ = Message::decode(&bytes);
        let _ = DeviceKeys::decode(&bytes);
        let _ = Contact::decode(&bytes);
        let _ = Conversation::decode(&bytes);
        let _ = PrekeyBundle::decode(&bytes);
        let _ = phantom_sync::mailbox::protocol::MailboxRequest::decode(&bytes);
        let _ = phantom_sync::mailbox::protocol::MailboxResponse::decode(&bytes);
        let _ = SignedRoster::decode(&bytes).and_then(|r| r.claimed_persona());
        let _ = phantom_sync::messaging::sealed::InboxItem::decode(&bytes);
        let _ = phantom_sync::messaging::sealed::Content::decode(&bytes);
        let _ = phantom_sync::messaging::sealed::SealedKey::from_bytes(&bytes);
        let _ = phantom_sync::messaging::sessions::DeviceSessions::from_pickle(&bytes);
        let _ = phantom_sync::pairing::TargetPairing::resume(&bytes);
        let _ = phantom_sync::history::manifest::Manifest::decode(&bytes);
        let _ = phantom_sync::pairing::channel::PairingChannel::import_state(&bytes);
        let _ = phantom_sync::drivers::qr::decode_luma(16, 16, &bytes);
        let mut source = SourcePairing::new();
        let mut rng = SeededRng::new(1);
        let _ = source.generate_invitation(0, &mut rng);
        let _ = source.receive(&bytes, 1, &mut rng);
    }

    #[test]
    fn decoders_never_panic_on_mutated_valid_input(invitation in invitation(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = invitation.encode().to_vec();
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        let _ = PairingInvitation::decode(&bytes);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = PairingInvitation::from_link_code(&text);
        let _ = AuthWords::parse(&text);
    }

    #[test]
    fn hostile_lengths_do_not_allocate_beyond_the_input(count in any::<u32>(), tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = b"PP\x01".to_vec();
        bytes.extend_from_slice(&count.to_be_bytes());
        bytes.extend_from_slice(&tail);
        prop_assert!(Persona::decode(&bytes).is_err());
    }
}

/// A 22×22 frame the fuzzer found (`fuzz/fuzz_targets/camera_frame.rs`): rqrr 0.11's
/// perspective mapping asserted on it (upstream issue 54), which in the browser aborts the
/// whole wasm instance. The QR reader refuses it with its typed error: since its capstones
/// are lined up more strictly (`third_party/rqrr/PATCHED.md`), as holding no code at all.
#[test]
fn a_frame_that_overflowed_the_qr_readers_geometry_is_refused_with_a_typed_error() {
    let input = include_bytes!("regressions/camera-frame-perspective-overflow.bin");
    let (width, height, pixels) = (input[0], input[1], &input[2..]);
    assert_eq!(usize::from(width) * usize::from(height), pixels.len());
    let read = phantom_sync::drivers::qr::decode_luma(width.into(), height.into(), pixels);
    assert_eq!(read.map_err(|e| e.code()), Err("no_qr_code"));
}
