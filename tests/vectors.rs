//! Byte-exact test vectors of `docs/PROTOCOL.md`, checked natively and in the browser.
//!
//! Every value is computed from the fixed inputs in `tests/vectors/pairing-v1.json` and
//! compared with the file. After a deliberate protocol change, regenerate the file with
//! `PHANTOM_WRITE_VECTORS=1 cargo test --test vectors` and update `docs/PROTOCOL.md`.

use phantom_sync::mailbox::keys::MailboxSeed;
use phantom_sync::mailbox::MailboxAddress;
use phantom_sync::pairing::channel::{InvitationKeyPair, MessageKind, PairingChannel};
use phantom_sync::pairing::invitation::{Capabilities, Intent, InvitationId, PairingInvitation};
use phantom_sync::pairing::messages::{Abort, AbortReason, ImportAck, PersonaPayload, SyncRequest};
use phantom_sync::persona::{
    Contact, ContactId, Conversation, ConversationId, DeviceId, MessageId, Persona, Prekey,
    PrekeyBundle, RecoveryCode,
};
use phantom_sync::roster::{Roster, RosterDevice};
use phantom_sync::secret::Secret;
use serde_json::{json, Value};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const VECTORS: &str = include_str!("vectors/pairing-v1.json");

fn filled<const N: usize>(start: u8) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = start.wrapping_add(i as u8);
    }
    out
}

fn compute() -> Value {
    let ikm_r: [u8; 32] = filled(0x01);
    let ikm_e: [u8; 32] = filled(0x41);
    let source_keys = InvitationKeyPair::derive(&ikm_r);
    let invitation = PairingInvitation {
        intent: Intent::LinkDevice,
        id: InvitationId::from_bytes(filled(0x10)),
        public_key: source_keys.public_key(),
        mailbox: MailboxSeed::from_bytes(filled(0x20)),
        expires_at: 1_767_225_780,
        capabilities: Capabilities::HISTORY_WEBRTC.union(Capabilities::HISTORY_MAILBOX),
    };

    let mut target = PairingChannel::initiate_with_ikm(&invitation, &ikm_e).expect("initiates");
    let request = SyncRequest {
        device_name: "Test Laptop".into(),
        requested_at: 1_767_225_605,
    };
    let request_plaintext = request.encode().expect("encodes");
    let request_message = target
        .seal(MessageKind::SyncRequest, &request_plaintext)
        .expect("seals");
    let request_frame = request_message.encode().expect("frames");

    let mut source =
        PairingChannel::accept(&source_keys, &invitation, &request_message).expect("accepts");
    assert_eq!(
        &source.open(&request_message).expect("opens")[..],
        &request_plaintext[..]
    );
    assert_eq!(source.words(), target.words());
    assert_eq!(source.reply_mailbox(), target.reply_mailbox());

    let persona = Persona {
        display_name: "Ada".into(),
        created_at: 1_767_139_200,
        persona_key: RecoveryCode::new(Secret::from_bytes(filled(0x60))).persona_key(),
        authority: Some(Secret::from_bytes(filled(0x60))),
        database_passphrase: Secret::from_bytes(filled(0x80)),
        prekey_bundles: vec![PrekeyBundle {
            bundle_id: 7,
            created_at: 1_767_139_200,
            signed_prekey: Prekey {
                id: 0,
                secret: Secret::from_bytes(filled(0xa0)),
            },
            one_time_prekeys: vec![
                Prekey {
                    id: 1,
                    secret: Secret::from_bytes(filled(0xc0)),
                },
                Prekey {
                    id: 2,
                    secret: Secret::from_bytes(filled(0xe0)),
                },
            ],
        }],
        contacts: vec![Contact {
            id: ContactId::from_bytes(filled(0x90)),
            display_name: "Grace".into(),
            mailbox: MailboxAddress::from_bytes(filled(0x50)),
            identity_key: filled(0xb0),
            added_at: 1_767_150_000,
        }],
        conversations: vec![Conversation {
            id: ConversationId::from_bytes(filled(0x30)),
            title: "Grace".into(),
            peer_mailbox: MailboxAddress::from_bytes(filled(0x50)),
            conversation_key: Secret::from_bytes(filled(0x70)),
            last_activity: 1_767_200_000,
        }],
    };
    let persona_bytes = persona.encode().expect("encodes");
    let identity = persona
        .authority_key()
        .expect("the source holds the authority");
    let source_device = RosterDevice {
        device_id: DeviceId::from_bytes(filled(0x90)),
        name: "Test Phone".into(),
        added_at: 1_767_200_000,
        identity_key: filled(0xa0),
        signing_key: filled(0xb0),
        fallback_key: filled(0xc0),
        sealing_key: Some(filled(0xe0)),
    };
    let roster = Roster::first(
        identity.verifying_key().to_bytes(),
        MailboxSeed::from_bytes(filled(0xd0)),
        filled(0xd8),
    )
    .with_device(source_device)
    .expect("room")
    .sign(&identity)
    .expect("signs");
    let payload_plaintext = PersonaPayload {
        persona: persona.for_linked_device(),
        approved_at: 1_767_225_610,
        roster,
    }
    .encode()
    .expect("encodes");
    let payload_message = source
        .seal(MessageKind::PersonaPayload, &payload_plaintext)
        .expect("seals");
    assert_eq!(
        &target.open(&payload_message).expect("opens")[..],
        &payload_plaintext[..]
    );

    let ack_plaintext = ImportAck {
        fingerprint: persona.fingerprint(),
        device: RosterDevice {
            device_id: DeviceId::from_bytes(filled(0x91)),
            name: "Test Laptop".into(),
            added_at: 1_767_225_611,
            identity_key: filled(0xa1),
            signing_key: filled(0xb1),
            fallback_key: filled(0xc1),
            sealing_key: Some(filled(0xe1)),
        },
    }
    .encode()
    .expect("encodes");
    let ack_message = target
        .seal(MessageKind::ImportAck, &ack_plaintext)
        .expect("seals");
    let abort_plaintext = Abort {
        reason: AbortReason::Cancelled,
    }
    .encode();
    let abort_message = source
        .seal(MessageKind::Abort, &abort_plaintext)
        .expect("seals");

    // The other way round: the new device shows the code, the source scans it.
    let shown_ikm: [u8; 32] = filled(0x05);
    let scan_ikm_e: [u8; 32] = filled(0x45);
    let shown_keys = InvitationKeyPair::derive(&shown_ikm);
    let code = PairingInvitation {
        intent: Intent::AskToLink,
        id: InvitationId::from_bytes(filled(0x11)),
        public_key: shown_keys.public_key(),
        mailbox: MailboxSeed::from_bytes(filled(0x21)),
        expires_at: 1_767_225_780,
        capabilities: Capabilities::HISTORY_WEBRTC.union(Capabilities::HISTORY_MAILBOX),
    };
    let mut scanner = PairingChannel::initiate_with_ikm(&code, &scan_ikm_e).expect("initiates");
    let hello = SyncRequest {
        device_name: "Test Phone".into(),
        requested_at: 1_767_225_605,
    };
    let hello_plaintext = hello.encode().expect("encodes");
    let hello_message = scanner
        .seal(MessageKind::Hello, &hello_plaintext)
        .expect("seals");
    let mut shower = PairingChannel::accept(&shown_keys, &code, &hello_message).expect("accepts");
    assert_eq!(
        &shower.open(&hello_message).expect("opens")[..],
        &hello_plaintext[..]
    );
    assert_eq!(shower.words(), scanner.words());
    let link_request = SyncRequest {
        device_name: "Test Laptop".into(),
        requested_at: 1_767_225_606,
    };
    let link_request_plaintext = link_request.encode().expect("encodes");
    let link_request_message = shower
        .seal(MessageKind::LinkRequest, &link_request_plaintext)
        .expect("seals");
    assert_eq!(
        &scanner.open(&link_request_message).expect("opens")[..],
        &link_request_plaintext[..]
    );
    let shown_payload = scanner
        .seal(MessageKind::PersonaPayload, &payload_plaintext)
        .expect("seals");
    assert_eq!(shown_payload.seq, 1, "after the hello");
    shower.open(&shown_payload).expect("opens");
    let shown_ack = shower
        .seal(MessageKind::ImportAck, &ack_plaintext)
        .expect("seals");
    scanner.open(&shown_ack).expect("opens");

    json!({
        "description": "phantom-sync pairing protocol v1; all byte strings are lower-case hex",
        "inputs": {
            "source_ikm": hex::encode(ikm_r),
            "target_ikm_e": hex::encode(ikm_e),
        },
        "source_public_key": hex::encode(source_keys.public_key()),
        "invitation": {
            "intent": 1,
            "invitation_id": hex::encode(invitation.id.as_bytes()),
            "mailbox_seed": hex::encode(invitation.mailbox.as_bytes()),
            "mailbox": invitation.mailbox.address().to_hex(),
            "expires_at": invitation.expires_at,
            "capabilities": invitation.capabilities.0,
            "encoded": hex::encode(invitation.encode()),
            "link_code": invitation.to_link_code(),
        },
        "channel": {
            "hpke_info": hex::encode([b"phantom-sync pairing v1".as_slice(), &invitation.encode()].concat()),
            "encapsulated_key": hex::encode(target.encapsulated_key()),
            "words": target.words().to_string(),
            "reply_mailbox_seed": hex::encode(target.reply_mailbox().as_bytes()),
            "reply_mailbox": target.reply_mailbox().address().to_hex(),
        },
        "sync_request": {
            "device_name": request.device_name,
            "requested_at": request.requested_at,
            "plaintext": hex::encode(&request_plaintext),
            "frame": hex::encode(&request_frame),
        },
        "persona": {
            "encoded": hex::encode(&*persona_bytes),
            "identity_public_key": hex::encode(persona.persona_key),
            "recovery_code": persona.recovery_code().expect("the source").to_string(),
            "linked_device_encoded": hex::encode(&*persona.for_linked_device().encode().expect("encodes")),
            "fingerprint": persona.fingerprint().to_string(),
            "first_one_time_prekey_public": hex::encode(persona.prekey_bundles[0].one_time_prekeys[0].public_key()),
        },
        "persona_payload": {
            "approved_at": 1_767_225_610u64,
            "plaintext": hex::encode(&*payload_plaintext),
            "frame": hex::encode(payload_message.encode().expect("frames")),
        },
        "import_ack": {
            "plaintext": hex::encode(&ack_plaintext),
            "frame": hex::encode(ack_message.encode().expect("frames")),
        },
        "abort": {
            "plaintext": hex::encode(&abort_plaintext),
            "frame": hex::encode(abort_message.encode().expect("frames")),
        },
        "abort_device_rejected": {
            "plaintext": hex::encode(Abort { reason: AbortReason::DeviceRejected }.encode()),
        },
        "new_device_shows": {
            "inputs": {
                "target_ikm": hex::encode(shown_ikm),
                "source_ikm_e": hex::encode(scan_ikm_e),
            },
            "target_public_key": hex::encode(shown_keys.public_key()),
            "invitation": {
                "intent": 2,
                "invitation_id": hex::encode(code.id.as_bytes()),
                "mailbox_seed": hex::encode(code.mailbox.as_bytes()),
                "mailbox": code.mailbox.address().to_hex(),
                "expires_at": code.expires_at,
                "capabilities": code.capabilities.0,
                "encoded": hex::encode(code.encode()),
                "link_code": code.to_link_code(),
            },
            "channel": {
                "hpke_info": hex::encode([b"phantom-sync pairing v1".as_slice(), &code.encode()].concat()),
                "encapsulated_key": hex::encode(scanner.encapsulated_key()),
                "words": scanner.words().to_string(),
                "reply_mailbox_seed": hex::encode(scanner.reply_mailbox().as_bytes()),
                "reply_mailbox": scanner.reply_mailbox().address().to_hex(),
            },
            "hello": {
                "device_name": hello.device_name,
                "requested_at": hello.requested_at,
                "plaintext": hex::encode(&hello_plaintext),
                "frame": hex::encode(hello_message.encode().expect("frames")),
            },
            "link_request": {
                "device_name": link_request.device_name,
                "requested_at": link_request.requested_at,
                "plaintext": hex::encode(&link_request_plaintext),
                "frame": hex::encode(link_request_message.encode().expect("frames")),
            },
            "persona_payload": {
                "frame": hex::encode(shown_payload.encode().expect("frames")),
            },
            "import_ack": {
                "frame": hex::encode(shown_ack.encode().expect("frames")),
            },
        },
    })
}

#[test]
fn the_protocol_matches_its_test_vectors() {
    let computed = compute();
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var_os("PHANTOM_WRITE_VECTORS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/pairing-v1.json");
        let text = serde_json::to_string_pretty(&computed).expect("serialises") + "\n";
        std::fs::write(path, text).expect("writes the vectors");
        return;
    }
    let expected: Value = serde_json::from_str(VECTORS).expect("the vector file is JSON");
    assert_eq!(computed, expected);
}

#[test]
fn the_vector_frames_decode_to_their_inputs() {
    let expected: Value = serde_json::from_str(VECTORS).expect("the vector file is JSON");
    let hex_at = |path: &[&str]| {
        let mut value = &expected;
        for key in path {
            value = &value[*key];
        }
        hex::decode(value.as_str().expect("a hex string")).expect("valid hex")
    };
    let invitation =
        PairingInvitation::decode(&hex_at(&["invitation", "encoded"])).expect("decodes");
    assert_eq!(
        invitation.to_link_code(),
        expected["invitation"]["link_code"]
    );
    let ikm_r: [u8; 32] = hex_at(&["inputs", "source_ikm"])
        .try_into()
        .expect("32 bytes");
    let source_keys = InvitationKeyPair::derive(&ikm_r);
    let request =
        phantom_sync::pairing::channel::ChannelMessage::decode(&hex_at(&["sync_request", "frame"]))
            .expect("decodes");
    let mut source = PairingChannel::accept(&source_keys, &invitation, &request).expect("accepts");
    let plaintext = source.open(&request).expect("opens");
    assert_eq!(
        SyncRequest::decode(&plaintext)
            .expect("decodes")
            .device_name,
        "Test Laptop"
    );
    let persona = Persona::decode(&hex_at(&["persona", "encoded"])).expect("decodes");
    assert_eq!(
        persona.fingerprint().to_string(),
        expected["persona"]["fingerprint"]
    );
    let linked = Persona::decode(&hex_at(&["persona", "linked_device_encoded"])).expect("decodes");
    assert!(linked.authority.is_none());
    assert_eq!(linked.persona_key, persona.persona_key);
    let code = expected["persona"]["recovery_code"]
        .as_str()
        .expect("words");
    assert_eq!(
        RecoveryCode::parse(code).map(|code| code.persona_key()),
        Ok(persona.persona_key)
    );

    // The other way round: the new device reads the phone's hello with its own key, and
    // the phone reads the new device's request on the channel the hello opened.
    let shown = PairingInvitation::from_link_code(
        expected["new_device_shows"]["invitation"]["link_code"]
            .as_str()
            .expect("a link code"),
    )
    .expect("reads");
    assert_eq!(shown.intent, Intent::AskToLink);
    let target_ikm: [u8; 32] = hex_at(&["new_device_shows", "inputs", "target_ikm"])
        .try_into()
        .expect("32 bytes");
    let frame = |name: &str| {
        phantom_sync::pairing::channel::ChannelMessage::decode(&hex_at(&[
            "new_device_shows",
            name,
            "frame",
        ]))
        .expect("decodes")
    };
    let hello = frame("hello");
    let mut target =
        PairingChannel::accept(&InvitationKeyPair::derive(&target_ikm), &shown, &hello)
            .expect("accepts");
    let phone = SyncRequest::decode(&target.open(&hello).expect("opens")).expect("decodes");
    assert_eq!(phone.device_name, "Test Phone");
    assert_eq!(
        target.words().to_string(),
        expected["new_device_shows"]["channel"]["words"]
    );
    let payload = frame("persona_payload");
    assert_eq!(payload.seq, 1);
    let payload = PersonaPayload::decode(&target.open(&payload).expect("opens")).expect("decodes");
    assert_eq!(payload.persona.persona_key, persona.persona_key);
}

const MESSAGING_VECTORS: &str = include_str!("vectors/messaging-v1.json");

fn compute_messaging() -> Value {
    use phantom_sync::history::direct::{end_of_answer, DirectSignal, WantFrame};
    use phantom_sync::history::TransferId;
    use phantom_sync::messaging::messenger::{contact_id, conversation_id, profile_keys};
    use phantom_sync::messaging::sealed::{
        body_digest, encrypt_content, ContactCard, Content, InboxItem, ReadState, SealedMessage,
        Text,
    };
    use phantom_sync::messaging::sealed_sender::{SealingSecret, SenderSealedMessage};
    use phantom_sync::messaging::sessions::Seal;
    use rand_core::Rng;

    let direct_signal = |sdp: &str| DirectSignal {
        transfer_id: TransferId::from_bytes(filled(0xe1)),
        sdp: sdp.into(),
    };

    let persona = ed25519_dalek::SigningKey::from_bytes(&filled(0x51));
    let persona_key = persona.verifying_key().to_bytes();
    let roster = Roster::first(
        persona_key,
        MailboxSeed::from_bytes(filled(0x61)),
        filled(0x69),
    )
    .with_device(RosterDevice {
        device_id: DeviceId::from_bytes(filled(0x71)),
        name: "Test Laptop".into(),
        added_at: 1_767_225_600,
        identity_key: filled(0x81),
        signing_key: filled(0x91),
        fallback_key: filled(0xa1),
        sealing_key: Some(filled(0xa9)),
    })
    .expect("room");
    let signed = roster.sign(&persona).expect("signs");
    let peer_key: [u8; 32] = filled(0xb1);

    let text = Content::Text(Text {
        message_id: MessageId::from_bytes(filled(0xc1)),
        recipient: peer_key,
        sent_at_ms: 1_767_225_600_123,
        sequence: 1,
        body: "hello".into(),
        introduction: Some(ContactCard {
            display_name: "Ada".into(),
            roster: signed.clone(),
        }),
    });
    let read_state = Content::ReadState(ReadState {
        conversation_id: conversation_id(&persona_key, &peer_key),
        read_up_to: (1_767_225_600_123, MessageId::from_bytes(filled(0xc1))),
        dismissed_up_to: (1_767_225_600_123, MessageId::from_bytes(filled(0xc1))),
    });
    let sender_device: [u8; 32] = filled(0x81);
    let mut rng = phantom_sync::testing::SeededRng::new(7);
    let encrypted =
        encrypt_content(&text, &persona_key, &sender_device, &mut rng).expect("encrypts");
    let sealed = InboxItem::Sealed(SealedMessage {
        sender_persona: persona_key,
        sender_device,
        seals: vec![Seal {
            recipient: peer_key,
            message_type: 0,
            ciphertext: filled::<48>(0xd1).to_vec(),
        }],
        nonce: encrypted.nonce,
        body: encrypted.body.clone(),
    });
    let InboxItem::Sealed(in_the_clear) = &sealed else {
        unreachable!("built just above")
    };
    let recipient_seed = Secret::from_bytes(filled::<32>(0xf1));
    let recipient_sealing = SealingSecret::derive(&recipient_seed);
    let mut ephemeral = [0u8; 32];
    phantom_sync::testing::SeededRng::new(8).fill_bytes(&mut ephemeral);
    let sender_sealed = InboxItem::SenderSealed(
        SenderSealedMessage::seal(
            in_the_clear,
            &[recipient_sealing.public_key()],
            &mut phantom_sync::testing::SeededRng::new(8),
        )
        .expect("seals"),
    );

    json!({
        "description": "phantom-sync messaging v1 (roster, inbox items, content); all byte strings are lower-case hex",
        "persona_seed": hex::encode(filled::<32>(0x51)),
        "persona_key": hex::encode(persona_key),
        "roster": {
            "encoded": hex::encode(roster.encode().expect("encodes")),
            "signed": hex::encode(signed.encode()),
            "profile_reader": hex::encode(profile_keys(&roster).public().reader),
            "profile_mailbox": profile_keys(&roster).address().to_hex(),
            "inbox": MailboxSeed::from_bytes(filled(0x61)).address().to_hex(),
        },
        "peer_key": hex::encode(peer_key),
        "conversation_id": hex::encode(conversation_id(&persona_key, &peer_key).as_bytes()),
        "contact_id": hex::encode(contact_id(&peer_key).as_bytes()),
        "content": {
            "text": hex::encode(&*text.encode().expect("encodes")),
            "read_state": hex::encode(&*read_state.encode().expect("encodes")),
            "roster": hex::encode(&*Content::Roster(signed.clone()).encode().expect("encodes")),
            "direct_request": hex::encode(&*Content::DirectRequest(direct_signal("v=0 offer")).encode().expect("encodes")),
            "direct_accept": hex::encode(&*Content::DirectAccept(direct_signal("v=0 answer")).encode().expect("encodes")),
            "leave": hex::encode(&*Content::Leave.encode().expect("encodes")),
        },
        "history_end_of_answer": hex::encode(end_of_answer(&TransferId::from_bytes(filled(0xe1)))),
        "history_want": hex::encode(WantFrame {
            transfer_id: TransferId::from_bytes(filled(0xe1)),
            manifest_known: true,
            received: vec![0, 2, 3],
            first: Some(ConversationId::from_bytes(filled(0xc0))),
        }.encode().expect("encodes")),
        "body": {
            "rng_seed": 7,
            "content_key": hex::encode(*encrypted.key.content_key),
            "nonce": hex::encode(encrypted.nonce),
            "ciphertext": hex::encode(&encrypted.body),
            "body_digest": hex::encode(body_digest(&encrypted.nonce, &encrypted.body)),
        },
        "inbox": {
            "sealed": hex::encode(sealed.encode().expect("encodes")),
            "published_roster": hex::encode(InboxItem::PublishedRoster(roster.withheld().sign(&persona).expect("signs")).encode().expect("encodes")),
            "sender_sealed": hex::encode(sender_sealed.encode().expect("encodes")),
        },
        "sealed_sender": {
            "recipient_identity_seed": hex::encode(recipient_seed.expose()),
            "recipient_sealing_key": hex::encode(recipient_sealing.public_key()),
            "ephemeral_secret": hex::encode(ephemeral),
        },
        "mailbox": compute_mailbox_protocol(),
    })
}

/// §7–8: where a mailbox lives, and the FindNodes exchange, from fixed node keys.
fn compute_mailbox_protocol() -> Value {
    use phantom_sync::mailbox::envelope::Envelope;
    use phantom_sync::mailbox::keys::MailboxKeys;
    use phantom_sync::mailbox::protocol::{MailboxRequest, MailboxResponse};
    use phantom_sync::network::{
        closest_nodes, dht_key, is_costly_node_id, node_id_work, NodeInfo,
    };
    use sha2::{Digest, Sha256};

    let mailbox = MailboxAddress::from_bytes(filled(0x20));
    // Each node's key: the first SHA-256(0x30+i repeated ‖ counter u32) whose id solves
    // the node id puzzle.
    let nodes: Vec<NodeInfo> = (0..4u8)
        .map(|i| {
            let peer = (0u32..)
                .map(|counter| {
                    let mut secret: [u8; 32] = Sha256::new()
                        .chain_update(filled::<32>(0x30 + i))
                        .chain_update(counter.to_be_bytes())
                        .finalize()
                        .into();
                    libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
                        .expect("a key")
                        .public()
                        .to_peer_id()
                })
                .find(is_costly_node_id)
                .expect("a key solves the puzzle");
            let port = 47000 + u16::from(i);
            NodeInfo {
                peer,
                addresses: vec![format!("/ip4/127.0.0.1/tcp/{port}/ws")
                    .parse()
                    .expect("parses")],
            }
        })
        .collect();
    let closest = closest_nodes(&mailbox, nodes.clone(), 3);
    let shared = MailboxKeys::shared(&filled(0x20));
    let owner = MailboxKeys::owner(&filled(0x28), &filled(0x38));
    let envelope = Envelope::new(b"sealed bytes".to_vec()).expect("fits");
    let written_at = 1_767_225_600;
    let stamp = owner
        .stamp(&envelope.id(), written_at)
        .expect("the owner writes");
    let node = nodes.first().expect("four nodes").peer.to_bytes();
    let authorization = owner
        .authorize_fetch(&node, written_at)
        .expect("the owner reads");
    json!({
        "keys": {
            "shared_seed": hex::encode(filled::<32>(0x20)),
            "shared_key": hex::encode(shared.public().writer),
            "shared_address": shared.address().to_hex(),
            "write_seed": hex::encode(filled::<32>(0x28)),
            "read_seed": hex::encode(filled::<32>(0x38)),
            "writer": hex::encode(owner.public().writer),
            "reader": hex::encode(owner.public().reader),
            "address": owner.address().to_hex(),
            "envelope_id": hex::encode(envelope.id().as_bytes()),
            "written_at": written_at,
            "stamp": hex::encode(stamp.signature),
            "fetch_node": hex::encode(&node),
            "fetch_authorization": hex::encode(authorization),
            "put_frame": hex::encode(MailboxRequest::Put {
                mailbox: *owner.public(),
                stamp,
                envelope: envelope.clone(),
            }.encode()),
            "fetch_frame": hex::encode(MailboxRequest::Fetch {
                mailbox: *owner.public(),
                issued_at: written_at,
                authorization,
                after: 0,
                limit: 256,
                wait_ms: 0,
            }.encode()),
        },
        "mailbox": mailbox.to_hex(),
        "dht_key": hex::encode(dht_key(&mailbox)),
        "node_peer_ids": nodes.iter().map(|n| n.peer.to_base58()).collect::<Vec<_>>(),
        "node_id_work": nodes.iter().map(|n| node_id_work(&n.peer)).collect::<Vec<_>>(),
        "closest_3": closest.iter().map(|n| n.peer.to_base58()).collect::<Vec<_>>(),
        "find_nodes": hex::encode(MailboxRequest::FindNodes { mailbox }.encode()),
        "nodes": hex::encode(MailboxResponse::Nodes {
            nodes: closest.iter().map(NodeInfo::to_record).collect(),
        }.encode()),
    })
}

#[test]
fn messaging_matches_its_test_vectors() {
    let computed = compute_messaging();
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var_os("PHANTOM_WRITE_VECTORS").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/messaging-v1.json"
        );
        let text = serde_json::to_string_pretty(&computed).expect("serialises") + "\n";
        std::fs::write(path, text).expect("writes the vectors");
        return;
    }
    let expected: Value = serde_json::from_str(MESSAGING_VECTORS).expect("the vector file is JSON");
    assert_eq!(computed, expected);
}

#[test]
fn the_messaging_frames_decode_and_verify() {
    use phantom_sync::messaging::sealed::{Content, InboxItem, SealedKey};
    use phantom_sync::messaging::sealed_sender::SealingSecret;

    let expected: Value = serde_json::from_str(MESSAGING_VECTORS).expect("the vector file is JSON");
    let hex_at = |path: &[&str]| {
        let mut value = &expected;
        for key in path {
            value = &value[*key];
        }
        hex::decode(value.as_str().expect("a hex string")).expect("valid hex")
    };
    let persona_key: [u8; 32] = hex_at(&["persona_key"]).try_into().expect("32 bytes");
    let Ok(InboxItem::PublishedRoster(signed)) =
        InboxItem::decode(&hex_at(&["inbox", "published_roster"]))
    else {
        panic!("a published roster");
    };
    let published = signed.verify(&persona_key).expect("verifies");
    assert_eq!(published.epoch, 1);
    assert!(
        published.withholds_inbox(),
        "published with its inbox withheld"
    );
    let Ok(InboxItem::Sealed(sealed)) = InboxItem::decode(&hex_at(&["inbox", "sealed"])) else {
        panic!("a sealed message");
    };
    let Ok(InboxItem::SenderSealed(sender_sealed)) =
        InboxItem::decode(&hex_at(&["inbox", "sender_sealed"]))
    else {
        panic!("a sender-sealed message");
    };
    let recipient = SealingSecret::derive(&Secret::from_bytes(
        hex_at(&["sealed_sender", "recipient_identity_seed"])
            .try_into()
            .expect("32 bytes"),
    ));
    let seal_recipient = sealed.seals[0].recipient;
    assert_eq!(
        sender_sealed.open(&recipient, &seal_recipient),
        Some(sealed.clone()),
        "the header gives back the sender and the seal"
    );
    let key = SealedKey::from_bytes(
        &[
            hex_at(&["body", "content_key"]),
            hex_at(&["body", "body_digest"]),
        ]
        .concat(),
    )
    .expect("a key");
    let content = sealed.decrypt(&key).expect("the body opens");
    assert_eq!(&content[..], &hex_at(&["content", "text"])[..]);
    assert!(matches!(Content::decode(&content), Ok(Content::Text(text)) if text.body == "hello"));
    assert!(matches!(
        Content::decode(&hex_at(&["content", "direct_request"])),
        Ok(Content::DirectRequest(signal)) if signal.sdp == "v=0 offer"
    ));
    assert!(matches!(
        Content::decode(&hex_at(&["content", "direct_accept"])),
        Ok(Content::DirectAccept(signal)) if signal.sdp == "v=0 answer"
    ));
    assert_eq!(
        Content::decode(&hex_at(&["content", "leave"])),
        Ok(Content::Leave)
    );
    let want = phantom_sync::history::direct::WantFrame::decode(&hex_at(&["history_want"]))
        .expect("a want");
    assert_eq!(want.received, vec![0, 2, 3]);
    assert_eq!(want.first, Some(ConversationId::from_bytes(filled(0xc0))));
    assert!(phantom_sync::history::direct::is_end_of_answer(
        &hex_at(&["history_end_of_answer"]),
        &want.transfer_id
    ));
}
