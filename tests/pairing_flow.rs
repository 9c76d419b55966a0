//! The pairing flow, good and hostile, run natively (`cargo test`) and in headless Chromium
//! (`wasm-pack test --headless --chrome`).

mod common;

use common::{Pair, NOW};
use phantom_sync::mailbox::keys::MailboxSeed;
use phantom_sync::pairing::channel::{
    ChannelError, ChannelMessage, InvitationKeyPair, MessageKind, PairingChannel,
};
use phantom_sync::pairing::invitation::{
    Capabilities, Intent, InvitationError, InvitationId, PairingInvitation, INVITATION_LEN,
};
use phantom_sync::pairing::messages::AbortReason;
use phantom_sync::pairing::state::{FailureReason, SyncState};
use phantom_sync::pairing::{PairingError, PairingEvent, TargetPairing, INVITATION_LIFETIME_SECS};
use phantom_sync::roster::{RosterDevice, SignedRoster};
use phantom_sync::testing::SeededRng;
use phantom_sync::wire::WireError;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[test]
fn an_approved_link_mirrors_the_persona_and_completes_both_sides() {
    let mut pair = Pair::new(1);
    assert_eq!(pair.source.state(), SyncState::Inviting);
    let request = pair.scan();
    assert_eq!(request.mailbox, pair.invitation.mailbox.keys());
    assert_eq!(pair.target.state(), SyncState::AwaitingApproval);

    let event = pair.deliver_request(&request);
    assert_eq!(
        event,
        PairingEvent::RequestReceived {
            device_name: "Laptop".into()
        }
    );
    assert_eq!(pair.source.state(), SyncState::AwaitingApproval);

    pair.approve_right();
    assert_eq!(pair.source.state(), SyncState::Transferring);
    let payload = pair.source.poll_transmit().expect("the persona payload");
    assert_eq!(vec![payload.mailbox], pair.target.listening_mailboxes(NOW));

    let PairingEvent::PersonaReceived(mirror) =
        pair.target.receive(&payload.bytes, NOW).expect("opens")
    else {
        panic!("expected the persona");
    };
    assert_eq!(
        mirror.persona,
        pair.persona.for_linked_device(),
        "everything but the authority"
    );
    assert!(mirror.persona.authority.is_none() && pair.persona.authority.is_some());
    assert_eq!(mirror.persona.fingerprint(), pair.persona.fingerprint());
    assert_eq!(
        mirror.roster, pair.roster,
        "the roster travels with the persona"
    );
    pair.target
        .confirm_import(common::new_device(0x22))
        .expect("import confirmed");
    assert_eq!(pair.target.state(), SyncState::Completed);

    let ack = pair.target.poll_transmit().expect("an import ack");
    let event = pair
        .source
        .receive(&ack.bytes, NOW + 11, &mut pair.rng)
        .expect("ack accepted");
    assert_eq!(
        event,
        PairingEvent::LinkCompleted(common::new_device(0x22)),
        "the source learns the device to add to the roster"
    );
    assert_eq!(pair.source.state(), SyncState::Completed);
}

/// The same link through `Pairing`, the one machine a device holds whatever its role (the
/// browser facade drives this): each side is asked, never its role, what to send, where to
/// listen and whether the link is still under way, and a put that failed goes out again
/// first.
#[test]
fn a_link_driven_through_each_devices_pairing_completes_both_sides() {
    use phantom_sync::pairing::{Pairing, Resumable};

    let mut rng = SeededRng::new(31);
    let persona = phantom_sync::persona::Persona::create("Ada", NOW, &mut rng).expect("persona");
    let roster = common::roster_of(&persona, &mut rng);
    let capabilities = Capabilities::HISTORY_MAILBOX;
    let mut phone = Pairing::default();
    let mut laptop = Pairing::default();
    assert!(!phone.is_under_way(false) && !laptop.is_joining());

    let first = phone
        .show_invitation(capabilities, NOW, &mut rng)
        .expect("invitation");
    // Rotating the code keeps the earlier one listening.
    let invitation = phone
        .show_invitation(capabilities, NOW + 1, &mut rng)
        .expect("rotated");
    assert_eq!(phone.listening_mailboxes(NOW + 1).len(), 2);
    assert!(phone.is_under_way(false) && !phone.is_joining());
    assert_ne!(first.id, invitation.id);

    let words = laptop
        .accept_invitation(&invitation, "Laptop", NOW + 2, &mut rng)
        .expect("scanned");
    assert!(laptop.is_joining() && laptop.is_in_progress());
    assert!(matches!(laptop.snapshot(), Ok(Resumable::Keep(_))));
    let request = laptop.poll_transmit().expect("the request");
    // The first put fails: the request goes out again, first.
    laptop.transmit_failed(request.clone());
    assert_eq!(laptop.poll_transmit(), Some(request.clone()));
    assert_eq!(request.mailbox, invitation.mailbox.keys());

    let event = phone
        .receive(&request.bytes, NOW + 3, &mut rng)
        .expect("request");
    assert_eq!(
        event,
        PairingEvent::RequestReceived {
            device_name: "Laptop".into()
        }
    );
    let (asking, choice) = phone.word_choice().expect("words to pick from");
    assert_eq!(asking.device_name, "Laptop");
    let picked = choice
        .candidates()
        .iter()
        .position(|candidate| *candidate == words)
        .expect("the laptop's words are offered");
    assert!(
        laptop.source_mut("approve").is_err(),
        "only the source approves"
    );
    phone
        .source_mut("approve")
        .and_then(|source| source.approve(picked, &persona, &roster, NOW + 4))
        .expect("approved");

    let payload = phone.poll_transmit().expect("the persona");
    assert_eq!(
        laptop.listening_mailboxes(NOW + 5),
        vec![payload.mailbox.clone()]
    );
    let PairingEvent::PersonaReceived(mirror) = laptop
        .receive(&payload.bytes, NOW + 5, &mut rng)
        .expect("opens")
    else {
        panic!("expected the persona");
    };
    assert_eq!(mirror.persona.fingerprint(), persona.fingerprint());
    laptop
        .confirm_import(common::new_device(0x22))
        .expect("confirmed");
    assert_eq!(laptop.state(), SyncState::Completed);
    assert!(
        laptop.is_under_way(false),
        "the laptop listens until the roster names it"
    );
    assert!(!laptop.is_under_way(true));

    let ack = laptop.poll_transmit().expect("the import ack");
    let event = phone.receive(&ack.bytes, NOW + 6, &mut rng).expect("ack");
    assert_eq!(event, PairingEvent::LinkCompleted(common::new_device(0x22)));
    assert_eq!(phone.state(), SyncState::Completed);
    assert!(!phone.is_under_way(false) && phone.poll_timeout().is_none());
    assert!(matches!(laptop.snapshot(), Ok(Resumable::Forget)));
    assert!(matches!(phone.snapshot(), Ok(Resumable::Untouched)));
}

#[test]
fn typed_words_approve_like_a_pick() {
    let mut pair = Pair::new(2);
    let request = pair.scan();
    pair.deliver_request(&request);
    let words = pair
        .target
        .words()
        .expect("words")
        .to_string()
        .to_uppercase();
    let persona = pair.persona.clone();
    pair.source
        .approve_typed(&words, &persona, &pair.roster.clone(), NOW + 10)
        .expect("typed words accepted");
    assert_eq!(pair.source.state(), SyncState::Transferring);
}

#[test]
fn a_substituted_request_changes_the_words_and_the_link_is_refused() {
    let mut pair = Pair::new(3);
    let _honest_request = pair.scan();
    // A man in the middle on the DHT drops the honest request and sends his own.
    let mut attacker = TargetPairing::new();
    let attacker_words = attacker
        .accept_invitation(&pair.invitation, "Laptop", NOW + 5, &mut pair.rng)
        .expect("the QR holds all the attacker needs to ask");
    let forged = attacker.poll_transmit().expect("forged request");
    pair.deliver_request(&forged);

    let honest_words = pair.target.words().expect("the honest target shows words");
    assert_ne!(honest_words, attacker_words);
    let choice = pair.source.word_choice().expect("candidates");
    assert!(
        !choice.candidates().contains(&honest_words),
        "the honest words are not offered"
    );

    // Typing what the real new device shows refuses the link and sends nothing secret.
    let persona = pair.persona.clone();
    let typed = pair.source.approve_typed(
        &honest_words.to_string(),
        &persona,
        &pair.roster.clone(),
        NOW + 10,
    );
    assert_eq!(typed, Err(PairingError::WordsMismatch));
    assert_eq!(
        pair.source.state(),
        SyncState::Failed(FailureReason::WordsRejected)
    );
    let abort = pair.source.poll_transmit().expect("the attacker is told");
    assert_eq!(
        attacker.receive(&abort.bytes, NOW),
        Ok(PairingEvent::Aborted(AbortReason::WordsRejected))
    );
    assert_eq!(
        pair.source.poll_transmit(),
        None,
        "no persona left the source"
    );
}

#[test]
fn picking_a_decoy_refuses_the_link() {
    let mut pair = Pair::new(4);
    let request = pair.scan();
    pair.deliver_request(&request);
    let decoy = (pair.right_choice() + 1) % 5;
    let persona = pair.persona.clone();
    assert_eq!(
        pair.source
            .approve(decoy, &persona, &pair.roster.clone(), NOW + 10),
        Err(PairingError::WordsMismatch)
    );
    let abort = pair.source.poll_transmit().expect("the target is told");
    assert_eq!(
        pair.target.receive(&abort.bytes, NOW),
        Ok(PairingEvent::Aborted(AbortReason::WordsRejected))
    );
    assert_eq!(
        pair.target.state(),
        SyncState::Failed(FailureReason::WordsRejected)
    );
}

/// Issue 21: a linked device (no root key) that shows a code and is picked cannot hand the
/// persona over: it could never sign the roster with the new device on it. Nothing leaves,
/// and the device holding the authority can still approve.
#[test]
fn a_device_without_the_authority_hands_over_nothing() {
    let mut pair = Pair::new(22);
    let request = pair.scan();
    pair.deliver_request(&request);
    let linked = pair.persona.for_linked_device();
    let right = pair.right_choice();
    assert_eq!(
        pair.source
            .approve(right, &linked, &pair.roster.clone(), NOW + 10)
            .map_err(|e| e.code()),
        Err("not_authority")
    );
    assert!(pair.source.poll_transmit().is_none(), "nothing leaves");
    assert_eq!(pair.source.state(), SyncState::AwaitingApproval);
    pair.approve_right();
    assert_eq!(pair.source.state(), SyncState::Transferring);
}

#[test]
fn a_substituted_encapsulated_key_fails_authentication() {
    let mut pair = Pair::new(5);
    let request = pair.scan();
    let mut message = ChannelMessage::decode(&request.bytes).expect("a frame");
    let mut enc = message.encapsulated_key.expect("requests carry enc");
    enc[0] ^= 0x40;
    message.encapsulated_key = Some(enc);
    let result = pair
        .source
        .receive(&message.encode().expect("encodes"), NOW + 6, &mut pair.rng);
    assert_eq!(result, Err(PairingError::Channel(ChannelError::Tampered)));
    assert_eq!(
        pair.source.state(),
        SyncState::Inviting,
        "a forgery does not use up the invitation"
    );
}

#[test]
fn a_replayed_request_is_refused() {
    let mut pair = Pair::new(6);
    let request = pair.scan();
    pair.deliver_request(&request);
    let again = pair.source.receive(&request.bytes, NOW + 7, &mut pair.rng);
    assert_eq!(again, Err(PairingError::ReplayedRequest));
    assert_eq!(pair.source.state(), SyncState::AwaitingApproval);
}

#[test]
fn a_second_request_for_a_used_invitation_is_refused() {
    let mut pair = Pair::new(7);
    let request = pair.scan();
    pair.deliver_request(&request);
    let mut second = TargetPairing::new();
    second
        .accept_invitation(&pair.invitation, "Phone", NOW + 8, &mut pair.rng)
        .expect("scans");
    let late = second.poll_transmit().expect("a second request");
    assert_eq!(
        pair.source.receive(&late.bytes, NOW + 9, &mut pair.rng),
        Ok(PairingEvent::TurnedAway {
            device_name: "Phone".into()
        }),
        "the source names the second device so the person is warned"
    );
    assert_eq!(pair.source.turned_away(), ["Phone".to_owned()]);
    // A request for the invitation that does not open names no one.
    let mut forged = late.bytes.clone();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    assert_eq!(
        pair.source.receive(&forged, NOW + 9, &mut pair.rng),
        Err(PairingError::InvitationUsed)
    );
    assert_eq!(pair.source.turned_away().len(), 1);
}

#[test]
fn an_expired_invitation_is_refused_on_both_sides() {
    let mut pair = Pair::new(8);
    let late = NOW + INVITATION_LIFETIME_SECS;
    let mut target = TargetPairing::new();
    assert_eq!(
        target.accept_invitation(&pair.invitation, "Laptop", late, &mut pair.rng),
        Err(PairingError::InvitationExpired)
    );
    let request = pair.scan();
    assert_eq!(
        pair.source.receive(&request.bytes, late, &mut pair.rng),
        Err(PairingError::InvitationExpired)
    );
}

#[test]
fn a_tampered_ciphertext_or_header_is_refused_and_changes_nothing() {
    let mut pair = Pair::new(9);
    let request = pair.scan();
    pair.deliver_request(&request);
    pair.approve_right();
    let payload = pair.source.poll_transmit().expect("payload");

    let mut flipped_ciphertext = payload.bytes.clone();
    let last = flipped_ciphertext.len() - 1;
    flipped_ciphertext[last] ^= 1;
    assert_eq!(
        pair.target.receive(&flipped_ciphertext, NOW),
        Err(PairingError::Channel(ChannelError::Tampered))
    );

    let mut message = ChannelMessage::decode(&payload.bytes).expect("a frame");
    message.seq = 1;
    assert_eq!(
        pair.target
            .receive(&message.encode().expect("encodes"), NOW),
        Err(PairingError::Channel(ChannelError::Tampered)),
        "the header is associated data"
    );
    assert_eq!(pair.target.state(), SyncState::AwaitingApproval);

    assert!(matches!(
        pair.target.receive(&payload.bytes, NOW),
        Ok(PairingEvent::PersonaReceived(_))
    ));
    assert_eq!(
        pair.target.receive(&payload.bytes, NOW),
        Err(PairingError::IllegalTransition(
            phantom_sync::pairing::state::IllegalTransition {
                from: SyncState::Transferring,
                action: "receive the persona",
            }
        ))
    );
}

#[test]
fn a_replayed_message_is_refused_by_the_channel() {
    let mut pair = Pair::new(10);
    let request = pair.scan();
    pair.deliver_request(&request);
    pair.source.cancel().expect("cancels");
    let abort = pair.source.poll_transmit().expect("abort");
    pair.target.receive(&abort.bytes, NOW).expect("first abort");
    assert_eq!(
        pair.target.state(),
        SyncState::Failed(FailureReason::PeerCancelled)
    );
    assert_eq!(
        pair.target.receive(&abort.bytes, NOW),
        Err(PairingError::Channel(ChannelError::Replay { seq: 0 }))
    );
}

#[test]
fn a_low_order_source_key_is_refused() {
    let mut pair = Pair::new(11);
    let mut invitation = pair.invitation.clone();
    invitation.public_key = [0; 32];
    let mut target = TargetPairing::new();
    assert_eq!(
        target.accept_invitation(&invitation, "Laptop", NOW, &mut pair.rng),
        Err(PairingError::Channel(ChannelError::InvalidPublicKey))
    );
    assert_eq!(target.state(), SyncState::Idle);
}

#[test]
fn truncated_or_wrong_length_keys_in_a_request_are_refused() {
    let mut pair = Pair::new(12);
    let request = pair.scan();
    // Cut inside the encapsulated key: 2 magic + 1 version + 1 kind + 16 id + 8 seq + 10.
    let cut = &request.bytes[..38];
    assert_eq!(
        pair.source.receive(cut, NOW + 6, &mut pair.rng),
        Err(PairingError::Wire(WireError::Truncated {
            field: "encapsulated_key",
            needed: 32,
            remaining: 10,
        }))
    );
    let mut longer = request.bytes.clone();
    longer.push(0);
    assert_eq!(
        pair.source.receive(&longer, NOW + 6, &mut pair.rng),
        Err(PairingError::Wire(WireError::TrailingBytes { count: 1 }))
    );
}

#[test]
fn truncated_or_corrupted_link_codes_are_refused() {
    let pair = Pair::new(13);
    let code = pair.invitation.to_link_code();
    assert_eq!(
        PairingInvitation::from_link_code(&code),
        Ok(pair.invitation.clone())
    );

    let truncated = &code[..code.len() - 8];
    assert_eq!(
        PairingInvitation::from_link_code(truncated),
        Err(InvitationError::IncompleteLinkCode)
    );
    assert!(matches!(
        PairingInvitation::decode(&pair.invitation.encode()[..90]),
        Err(InvitationError::Wire(WireError::Truncated { .. }))
    ));

    for garbage in [
        "PHSYNC:this is not a code!",
        "PHSYNC:0189",
        &format!("{code}A"),
        &format!("PHSYNC:{}", "Q".repeat(code.len() - "PHSYNC:".len())),
    ] {
        assert_eq!(
            PairingInvitation::from_link_code(garbage),
            Err(InvitationError::InvalidLinkCode),
            "{garbage}"
        );
    }

    let mut corrupted: Vec<char> = code.chars().collect();
    let i = corrupted.len() / 2;
    corrupted[i] = if corrupted[i] == 'A' { 'B' } else { 'A' };
    let corrupted: String = corrupted.into_iter().collect();
    assert_eq!(
        PairingInvitation::from_link_code(&corrupted),
        Err(InvitationError::Corrupted)
    );
    assert_eq!(
        PairingInvitation::from_link_code("https://example.com/"),
        Err(InvitationError::NotALinkCode)
    );
    let mut bad_symbol = code.clone();
    bad_symbol.replace_range(10..11, "!");
    assert_eq!(
        PairingInvitation::from_link_code(&bad_symbol),
        Err(InvitationError::InvalidLinkCode)
    );
    assert_eq!(
        PairingInvitation::from_link_code(&format!("{code}AAAA")),
        Err(InvitationError::InvalidLinkCode)
    );
    assert_eq!(
        PairingInvitation::from_link_code(&format!("{}!", &code[..40])),
        Err(InvitationError::InvalidLinkCode),
        "characters are checked before the length"
    );
    // The 157th character carries one bit beyond the 98 bytes; it must be zero, so a code
    // differing there alone is not a second spelling of the same invitation.
    let last = code.chars().last().expect("a character");
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let value = alphabet.find(last).expect("base32");
    assert_eq!(value & 1, 0, "the written bit is zero");
    let mut odd = code[..code.len() - 1].to_string();
    odd.push(alphabet.as_bytes()[value | 1] as char);
    assert_eq!(
        PairingInvitation::from_link_code(&odd),
        Err(InvitationError::InvalidLinkCode)
    );

    let mut bytes = pair.invitation.encode();
    bytes[2] = 9;
    assert_eq!(
        PairingInvitation::decode(&bytes),
        Err(InvitationError::Wire(WireError::UnsupportedVersion {
            found: 9,
            supported: 1
        }))
    );
}

/// The order `docs/PROTOCOL.md` §3 gives a reader: magic and version, the checksum of
/// exactly 98 bytes before any field is interpreted, the intent, then the length.
#[test]
fn an_invitation_is_checked_in_the_documented_order() {
    use sha2::{Digest, Sha256};
    let pair = Pair::new(15);
    let genuine = pair.invitation.encode();
    let damaged = |at: usize| {
        let mut bytes = genuine;
        bytes[at] ^= 0x01;
        PairingInvitation::decode(&bytes)
    };
    assert_eq!(damaged(0), Err(InvitationError::Wire(WireError::BadMagic)));
    for at in [3, 4, 60, 93, 95] {
        assert_eq!(damaged(at), Err(InvitationError::Corrupted), "byte {at}");
    }

    let mut unknown_intent = genuine;
    unknown_intent[3] = 3;
    let sum = Sha256::digest(&unknown_intent[..94]);
    unknown_intent[94..].copy_from_slice(&sum[..4]);
    assert_eq!(
        PairingInvitation::decode(&unknown_intent),
        Err(InvitationError::Wire(WireError::InvalidValue {
            field: "intent",
            value: 3
        }))
    );

    let longer = [genuine.as_slice(), &[0]].concat();
    assert_eq!(
        PairingInvitation::decode(&longer),
        Err(InvitationError::Wire(WireError::TrailingBytes { count: 1 }))
    );
}

#[test]
fn actions_out_of_order_are_illegal_transitions() {
    let mut pair = Pair::new(14);
    let persona = pair.persona.clone();
    let err = pair
        .source
        .approve(0, &persona, &pair.roster.clone(), NOW)
        .expect_err("nothing to approve yet");
    assert_eq!(err.code(), "illegal_transition");
    assert_eq!(
        pair.target
            .confirm_import(common::new_device(0x22))
            .map_err(|e| e.code()),
        Err("illegal_transition")
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let pair = Pair::new(15);
    let printed = format!("{:?}", pair.persona);
    let root_key = pair
        .persona
        .authority
        .as_ref()
        .expect("the creating device");
    assert!(!printed.contains(&hex::encode(root_key.expose())));
    assert!(!printed.contains(&format!("{:?}", root_key.expose())));
    assert!(printed.contains("redacted"));
    let code = pair.persona.recovery_code().expect("the creating device");
    assert_eq!(format!("{code:?}"), "RecoveryCode(redacted)");
}

/// Brief §5.10: a secret's bytes are wiped when it is dropped, not left for the allocator.
#[test]
fn secret_bytes_are_wiped_when_dropped() {
    use core::mem::MaybeUninit;
    use phantom_sync::secret::Secret;

    let mut slot = MaybeUninit::new(Secret::<32>::from_bytes([0xAB; 32]));
    // SAFETY: the slot holds an initialised Secret, dropped exactly once here; the bytes
    // read afterwards stay in this stack slot, and `Secret` is `repr(transparent)` over
    // `[u8; 32]`, for which every byte pattern is valid.
    let left = unsafe {
        core::ptr::drop_in_place(slot.as_mut_ptr());
        core::ptr::read(slot.as_ptr().cast::<[u8; 32]>())
    };
    assert_eq!(left, [0; 32]);
}

#[test]
fn oversized_fields_are_refused_before_allocation() {
    use phantom_sync::pairing::channel::MessageKind;
    use phantom_sync::pairing::messages::SyncRequest;

    let mut long_name = vec![1u8];
    long_name.extend_from_slice(&65u32.to_be_bytes());
    long_name.extend_from_slice(&[b'a'; 65]);
    long_name.extend_from_slice(&0u64.to_be_bytes());
    assert_eq!(
        SyncRequest::decode(&long_name),
        Err(WireError::FieldTooLong {
            field: "device_name",
            len: 65,
            max: 64
        })
    );

    let mut pair = Pair::new(16);
    let request = pair.scan();
    let mut huge = request.bytes[..60].to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        pair.source.receive(&huge, NOW + 6, &mut pair.rng),
        Err(PairingError::Wire(WireError::FieldTooLong {
            field: "ciphertext",
            len: u32::MAX as usize,
            max: MessageKind::SyncRequest.max_ciphertext_len(),
        }))
    );
    assert_eq!(pair.source.state(), SyncState::Inviting);
}

#[test]
fn once_the_persona_is_sent_cancelling_is_refused() {
    let mut pair = Pair::new(17);
    let request = pair.scan();
    pair.deliver_request(&request);
    pair.approve_right();
    assert_eq!(
        pair.source.cancel().map_err(|e| e.code()),
        Err("illegal_transition")
    );
    assert_eq!(pair.source.state(), SyncState::Transferring);
}

#[test]
fn an_authentic_but_unreadable_payload_fails_the_import_and_tells_the_source() {
    use phantom_sync::mailbox::keys::MailboxSeed;
    use phantom_sync::pairing::channel::{InvitationKeyPair, MessageKind, PairingChannel};
    use phantom_sync::pairing::invitation::{Capabilities, Intent, InvitationId};

    let mut rng = phantom_sync::testing::SeededRng::new(18);
    let keys = InvitationKeyPair::derive(&[9; 32]);
    let invitation = PairingInvitation {
        intent: Intent::LinkDevice,
        id: InvitationId::from_bytes([1; 16]),
        public_key: keys.public_key(),
        mailbox: MailboxSeed::from_bytes([2; 32]),
        expires_at: NOW + 100,
        capabilities: Capabilities::default(),
    };
    let mut target = TargetPairing::new();
    target
        .accept_invitation(&invitation, "Laptop", NOW, &mut rng)
        .expect("scans");
    let request =
        ChannelMessage::decode(&target.poll_transmit().expect("request").bytes).expect("frame");
    let mut source = PairingChannel::accept(&keys, &invitation, &request).expect("accepts");
    let garbage = source
        .seal(MessageKind::PersonaPayload, b"\x01not a persona")
        .expect("seals")
        .encode()
        .expect("frames");
    assert!(target.receive(&garbage, NOW).is_err());
    assert_eq!(
        target.state(),
        SyncState::Failed(FailureReason::ImportFailed)
    );
    let abort =
        ChannelMessage::decode(&target.poll_transmit().expect("an abort").bytes).expect("frame");
    assert_eq!(abort.kind, MessageKind::Abort);
    assert_eq!(
        &source.open(&abort).expect("opens")[..],
        &[1, 4],
        "reason: import failed"
    );
}

#[test]
fn a_request_numbered_other_than_zero_is_refused() {
    let mut pair = Pair::new(19);
    let request = pair.scan();
    let mut message = ChannelMessage::decode(&request.bytes).expect("a frame");
    message.seq = 3;
    let result = pair
        .source
        .receive(&message.encode().expect("encodes"), NOW + 6, &mut pair.rng);
    assert_eq!(
        result,
        Err(PairingError::Channel(ChannelError::SequenceOutOfRange {
            seq: 3
        }))
    );
}

#[test]
fn a_device_name_that_reorders_text_is_refused() {
    let mut pair = Pair::new(20);
    let mut target = TargetPairing::new();
    let spoof = "Laptop\u{202e}enohP";
    assert_eq!(
        target.accept_invitation(&pair.invitation, spoof, NOW, &mut pair.rng),
        Err(PairingError::Wire(WireError::UnsafeText {
            field: "device_name"
        }))
    );
    assert_eq!(
        phantom_sync::persona::Persona::create("Ada\nAdmin", NOW, &mut pair.rng)
            .map_err(|e| e.code()),
        Err("unsafe_text")
    );
}

#[test]
fn after_accepting_the_source_listens_only_where_the_target_writes_even_when_late() {
    let mut pair = Pair::new(21);
    let second = pair
        .source
        .generate_invitation(NOW + 60, &mut pair.rng)
        .expect("a rotated invitation");
    assert_eq!(
        pair.source.listening_mailboxes(NOW + 61),
        vec![pair.invitation.mailbox.keys(), second.mailbox.keys()]
    );
    let request = pair.scan();
    pair.deliver_request(&request);
    let much_later = NOW + 10 * INVITATION_LIFETIME_SECS;
    assert_eq!(
        pair.source.listening_mailboxes(much_later),
        vec![pair.invitation.mailbox.keys()]
    );
}

#[test]
fn a_second_device_racing_for_the_invitation_is_told_it_was_used() {
    let mut pair = Pair::new(41);
    let request = pair.scan();
    pair.deliver_request(&request);

    let mut late = TargetPairing::new();
    late.accept_invitation(&pair.invitation, "Intruder", NOW + 7, &mut pair.rng)
        .expect("scans");
    let late_request = late.poll_transmit().expect("a request");
    assert_eq!(
        pair.source
            .receive(&late_request.bytes, NOW + 8, &mut pair.rng),
        Ok(PairingEvent::TurnedAway {
            device_name: "Intruder".into()
        })
    );
    let turned_away = pair
        .source
        .poll_transmit()
        .expect("an abort for the late device");
    assert_eq!(vec![turned_away.mailbox], late.listening_mailboxes(NOW));
    assert_eq!(
        late.receive(&turned_away.bytes, NOW),
        Ok(PairingEvent::Aborted(AbortReason::InvitationUsed))
    );
    assert_eq!(
        late.state(),
        SyncState::Failed(FailureReason::InvitationUsed)
    );
    assert_eq!(
        pair.source.state(),
        SyncState::AwaitingApproval,
        "the first device goes on"
    );
}

#[test]
fn an_unanswered_step_times_out_on_both_sides() {
    // The user on the source never picks: the source gives up and tells the target.
    let mut pair = Pair::new(42);
    let request = pair.scan();
    pair.deliver_request(&request);
    let deadline = pair.source.deadline().expect("a deadline");
    assert_eq!(pair.source.handle_timeout(deadline - 1), Ok(false));
    assert_eq!(pair.source.handle_timeout(deadline), Ok(true));
    assert_eq!(
        pair.source.state(),
        SyncState::Failed(FailureReason::InvitationExpired)
    );
    let abort = pair.source.poll_transmit().expect("the target is told");
    pair.target.receive(&abort.bytes, NOW).expect("opens");
    assert_eq!(
        pair.target.state(),
        SyncState::Failed(FailureReason::InvitationExpired)
    );

    // The source is gone: the target stops waiting with network_lost.
    let mut pair = Pair::new(43);
    pair.scan();
    let deadline = pair.target.deadline().expect("a deadline");
    assert!(deadline > pair.invitation.expires_at);
    assert_eq!(pair.target.handle_timeout(deadline), Ok(true));
    assert_eq!(
        pair.target.state(),
        SyncState::Failed(FailureReason::NetworkLost)
    );

    // The persona left but no confirmation came back.
    let mut pair = Pair::new(44);
    let request = pair.scan();
    pair.deliver_request(&request);
    pair.approve_right();
    let deadline = pair.source.deadline().expect("waits for the import");
    assert_eq!(pair.source.handle_timeout(deadline), Ok(true));
    assert_eq!(
        pair.source.state(),
        SyncState::Failed(FailureReason::NetworkLost)
    );

    // Nobody ever scanned: the invitation runs out.
    let mut pair = Pair::new(45);
    assert_eq!(
        pair.source.handle_timeout(pair.invitation.expires_at),
        Ok(true)
    );
    assert_eq!(
        pair.source.state(),
        SyncState::Failed(FailureReason::InvitationExpired)
    );
}

#[test]
fn a_target_picks_up_after_a_reload_at_each_step() {
    let mut pair = Pair::new(46);
    let request = pair.scan();
    let saved = pair
        .target
        .snapshot()
        .expect("encodes")
        .expect("something to resume");
    let mut reloaded = TargetPairing::resume(&saved).expect("resumes");
    assert_eq!(reloaded.state(), SyncState::AwaitingApproval);
    assert_eq!(reloaded.words(), pair.target.words());
    assert_eq!(
        reloaded.listening_mailboxes(NOW),
        pair.target.listening_mailboxes(NOW)
    );
    assert!(reloaded.poll_transmit().is_none(), "the request had left");

    pair.deliver_request(&request);
    pair.approve_right();
    let payload = pair.source.poll_transmit().expect("the payload");
    assert!(matches!(
        reloaded.receive(&payload.bytes, NOW),
        Ok(PairingEvent::PersonaReceived(_))
    ));
    reloaded
        .confirm_import(common::new_device(0x33))
        .expect("confirmed");

    // Stored, but the confirmation not yet delivered when the page reloads again.
    let saved = reloaded
        .snapshot()
        .expect("encodes")
        .expect("the confirmation is pending");
    let mut again = TargetPairing::resume(&saved).expect("resumes");
    assert_eq!(again.state(), SyncState::Completed);
    let ack = again.poll_transmit().expect("the confirmation");
    assert_eq!(
        pair.source.receive(&ack.bytes, NOW + 12, &mut pair.rng),
        Ok(PairingEvent::LinkCompleted(common::new_device(0x33)))
    );
    assert_eq!(again.snapshot().expect("encodes"), None, "nothing left");

    // Reopened too late: the wait ends with its reason.
    let mut late = TargetPairing::resume(&pair_waiting_snapshot()).expect("resumes");
    let deadline = late.deadline().expect("waiting");
    assert_eq!(late.handle_timeout(deadline), Ok(true));
    assert_eq!(late.state(), SyncState::Failed(FailureReason::NetworkLost));
    assert_eq!(
        TargetPairing::resume(&saved[..saved.len() - 1])
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("truncated")
    );
}

fn pair_waiting_snapshot() -> Vec<u8> {
    let mut pair = Pair::new(47);
    pair.scan();
    pair.target
        .snapshot()
        .expect("encodes")
        .expect("waiting")
        .to_vec()
}

/// An invitation for a fresh source key pair, as `SourcePairing` makes one.
fn channel_invitation(rng: &mut SeededRng) -> (InvitationKeyPair, PairingInvitation) {
    let keys = InvitationKeyPair::generate(rng);
    let invitation = PairingInvitation {
        intent: Intent::LinkDevice,
        id: InvitationId::random(rng),
        public_key: keys.public_key(),
        mailbox: MailboxSeed::random(rng),
        expires_at: NOW + INVITATION_LIFETIME_SECS,
        capabilities: Capabilities::default(),
    };
    (keys, invitation)
}

/// What the source end opens of `request`, for a key pair and an invitation.
fn opened(
    keys: &InvitationKeyPair,
    invitation: &PairingInvitation,
    request: &ChannelMessage,
) -> Result<Vec<u8>, ChannelError> {
    let mut channel = PairingChannel::accept(keys, invitation, request)?;
    channel.open(request).map(|plain| plain.to_vec())
}

/// Brief §5.1: the QR code is the 98 public bytes of the invitation. Someone who copies it
/// and seals or reads with a key pair of their own opens nothing sealed to the source.
#[test]
fn whoever_copies_the_qr_code_cannot_open_what_is_sealed_to_the_source() {
    let mut rng = SeededRng::new(40);
    let (keys, invitation) = channel_invitation(&mut rng);
    let copied = PairingInvitation::from_link_code(&invitation.to_link_code()).expect("decodes");
    assert_eq!(copied, invitation);
    assert_eq!(copied.encode().len(), INVITATION_LEN);

    let mut target = PairingChannel::initiate(&copied, &mut rng).expect("initiated");
    let request = target
        .seal(MessageKind::SyncRequest, b"who is asking")
        .expect("sealed");
    let (copier_keys, _) = channel_invitation(&mut rng);
    assert_eq!(
        opened(&copier_keys, &copied, &request),
        Err(ChannelError::Tampered)
    );
    let mut source = PairingChannel::accept(&keys, &invitation, &request).expect("the source");
    assert_eq!(&source.open(&request).expect("opens")[..], b"who is asking");
}

/// Brief §5.2: the key schedule binds the invitation's id and mailbox; each direction has
/// its own key and base nonce, and each message its own sequence number, so no nonce
/// repeats and a message cannot be reflected back to its sender.
#[test]
fn each_direction_has_its_own_key_and_no_nonce_repeats() {
    let mut rng = SeededRng::new(41);
    let (keys, invitation) = channel_invitation(&mut rng);
    let mut target = PairingChannel::initiate(&invitation, &mut rng).expect("initiated");
    let request = target
        .seal(MessageKind::SyncRequest, b"same words")
        .expect("sealed");

    for other in [
        PairingInvitation {
            mailbox: MailboxSeed::random(&mut rng),
            ..invitation.clone()
        },
        PairingInvitation {
            expires_at: invitation.expires_at + 1,
            ..invitation.clone()
        },
    ] {
        assert_eq!(
            opened(&keys, &other, &request),
            Err(ChannelError::Tampered),
            "the key schedule binds the whole invitation"
        );
    }

    let mut source = PairingChannel::accept(&keys, &invitation, &request).expect("the source");
    source.open(&request).expect("opens");
    let reply = source
        .seal(MessageKind::PersonaPayload, b"same words")
        .expect("sealed");
    assert_eq!((request.seq, reply.seq), (0, 0));
    assert_ne!(
        request.ciphertext, reply.ciphertext,
        "the same number and text in the two directions seal differently"
    );
    assert_eq!(
        target.open(&request).map(|_| ()),
        Err(ChannelError::Tampered),
        "a device cannot be handed back its own message"
    );
    assert_eq!(&target.open(&reply).expect("opens")[..], b"same words");

    let repeated: Vec<ChannelMessage> = (0..3)
        .map(|_| {
            target
                .seal(MessageKind::ImportAck, b"again")
                .expect("sealed")
        })
        .collect();
    assert_eq!(
        repeated.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_ne!(repeated[0].ciphertext, repeated[1].ciphertext);
    assert_ne!(repeated[1].ciphertext, repeated[2].ciphertext);
}

#[test]
fn an_acknowledgement_with_unusable_keys_fails_both_sides_and_adds_no_device() {
    let mut pair = Pair::new(21);
    let request = pair.scan();
    pair.deliver_request(&request);
    pair.approve_right();
    let payload = pair.source.poll_transmit().expect("the persona payload");
    pair.target.receive(&payload.bytes, NOW).expect("opens");
    // A broken or hostile new device asks to join with keys no one can open a session
    // with: the all-zero Curve25519 point is of low order, so every secret with it is zero.
    let mut unusable = common::new_device(0x22);
    unusable.identity_key = [0; 32];
    pair.target
        .confirm_import(unusable)
        .expect("the target sends what it likes");
    let ack = pair.target.poll_transmit().expect("an import ack");

    assert_eq!(
        pair.source.receive(&ack.bytes, NOW + 11, &mut pair.rng),
        Err(PairingError::UnusableDeviceKeys)
    );
    assert_eq!(
        pair.source.state(),
        SyncState::Failed(FailureReason::DeviceRejected)
    );
    assert_eq!(
        pair.source.receive(&ack.bytes, NOW + 12, &mut pair.rng),
        Err(PairingError::IllegalTransition(
            phantom_sync::pairing::state::IllegalTransition {
                from: SyncState::Failed(FailureReason::DeviceRejected),
                action: "finish the link",
            }
        )),
        "the same ack again adds nothing"
    );

    let abort = pair.source.poll_transmit().expect("the new device is told");
    assert_eq!(vec![abort.mailbox], pair.target.listening_mailboxes(NOW));
    assert_eq!(
        pair.target.receive(&abort.bytes, NOW),
        Ok(PairingEvent::Aborted(AbortReason::DeviceRejected))
    );
    assert_eq!(
        pair.target.state(),
        SyncState::Failed(FailureReason::DeviceRejected)
    );
}

#[test]
fn keys_off_the_curve_or_of_low_order_are_unusable() {
    use phantom_sync::messaging::sessions::DeviceSessions;
    use phantom_sync::roster::RosterError;

    let honest = DeviceSessions::new().roster_device(
        phantom_sync::persona::DeviceId::from_bytes([1; 16]),
        "Laptop",
        NOW,
        [9; 32],
    );
    assert_eq!(honest.check_keys(), Ok(()));
    // The order-8 point with u = 1 and the all-zero point give a zero shared secret; the
    // y-coordinate 2 is not on Ed25519.
    let mut low_order_one = [0u8; 32];
    low_order_one[0] = 1;
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    let broken = [
        RosterDevice {
            identity_key: low_order_one,
            ..honest.clone()
        },
        RosterDevice {
            fallback_key: [0; 32],
            ..honest.clone()
        },
        RosterDevice {
            signing_key: off_curve,
            ..honest.clone()
        },
        RosterDevice {
            sealing_key: Some(low_order_one),
            ..honest.clone()
        },
    ];
    for device in broken {
        assert_eq!(device.check_keys(), Err(RosterError::UnusableDeviceKeys));
    }
}

/// The adversary is a hurried person: one who compares only one or two of the three
/// words. Every decoy is the right triple with one word changed, and each position is
/// changed in some decoy, so any one or two words leave more than one triple to pick.
#[test]
fn decoys_share_words_so_only_reading_all_three_picks_right() {
    use phantom_sync::pairing::words::{AuthWords, WordChoice, CANDIDATE_COUNT, WORD_COUNT};

    let mut rng = SeededRng::new(40);
    for seed in 0u16..200 {
        let right = AuthWords::from_indices([seed, 2047 - seed, seed * 7 % 2048]).expect("words");
        let choice = WordChoice::new(right, &mut rng);
        let candidates = choice.candidates();
        let correct: Vec<usize> = (0..CANDIDATE_COUNT)
            .filter(|i| choice.is_correct(*i))
            .collect();
        assert_eq!(correct.len(), 1);
        assert_eq!(candidates.iter().filter(|c| **c == right).count(), 1);
        for (i, a) in candidates.iter().enumerate() {
            for b in &candidates[i + 1..] {
                assert_ne!(a, b, "all different");
            }
        }
        let differing = |c: &AuthWords| -> Vec<usize> {
            (0..WORD_COUNT)
                .filter(|p| c.indices().get(*p) != right.indices().get(*p))
                .collect()
        };
        for decoy in candidates.iter().filter(|c| **c != right) {
            assert_eq!(differing(decoy).len(), 1, "{decoy:?} against {right:?}");
        }
        for checked in [
            vec![0],
            vec![1],
            vec![2],
            vec![0, 1],
            vec![0, 2],
            vec![1, 2],
        ] {
            let still_possible = candidates
                .iter()
                .filter(|c| {
                    checked
                        .iter()
                        .all(|p| c.indices().get(*p) == right.indices().get(*p))
                })
                .count();
            assert!(
                still_possible > 1,
                "checking {checked:?} alone would pick right"
            );
        }
    }
}

/// Links a laptop to a phone whose approval seals the roster `roster_for` makes instead of
/// its own (a bug, or a device an attacker runs with every secret a linked device holds),
/// and returns the code the laptop's join refused it with. Each refusal must come before
/// anything is stored, fail the link on both sides and leave the phone's roster as it was.
fn join_refusal(
    seed: u64,
    roster_for: impl FnOnce(&phantom_sync::persona::Persona, &mut SeededRng) -> SignedRoster,
) -> &'static str {
    use phantom_sync::device::{Device, PersonaSync};
    use phantom_sync::messaging::Messenger;
    use phantom_sync::persona::{DeviceKeys, Persona};

    let mut rng = SeededRng::new(seed);
    let persona = Persona::create("Ada", NOW, &mut rng).expect("persona");
    let keys = DeviceKeys::generate("Phone", NOW, &mut rng).expect("keys");
    let messenger = Messenger::create(&persona, &keys, NOW, &mut rng).expect("messenger");
    let mut phone = Device::default();
    phone.hold(PersonaSync::new(messenger));
    let mut laptop = Device::default();

    let invitation = phone
        .show_invitation(Capabilities::HISTORY_MAILBOX, NOW, &mut rng)
        .expect("invitation");
    let words = laptop
        .pairing_mut()
        .accept_invitation(&invitation, "Laptop", NOW, &mut rng)
        .expect("scanned");
    let request = laptop.pairing_mut().poll_transmit().expect("the request");
    phone
        .receive_pairing(&request.bytes, NOW, &mut rng)
        .expect("request");
    let sealed = roster_for(&persona, &mut rng);
    phone
        .pairing_mut()
        .source_mut("approve")
        .and_then(|source| source.approve_typed(&words.words().join(" "), &persona, &sealed, NOW))
        .expect("sealed");

    let payload = phone.pairing_mut().poll_transmit().expect("the persona");
    let Ok(PairingEvent::PersonaReceived(payload)) =
        laptop.receive_pairing(&payload.bytes, NOW + 1, &mut rng)
    else {
        panic!("the payload opens");
    };
    let laptop_keys = DeviceKeys::generate("Laptop", NOW, &mut rng).expect("keys");
    let refused = laptop
        .join(&payload, &laptop_keys, NOW + 1)
        .expect_err("the roster is refused");
    assert!(laptop.sync().is_none(), "nothing joined, nothing to store");
    laptop.fail_join().expect("the link fails");
    assert_eq!(
        laptop.pairing().state(),
        SyncState::Failed(FailureReason::ImportFailed)
    );

    let abort = laptop.pairing_mut().poll_transmit().expect("the abort");
    assert!(matches!(
        phone.receive_pairing(&abort.bytes, NOW + 2, &mut rng),
        Ok(PairingEvent::Aborted(AbortReason::ImportFailed))
    ));
    let roster = phone.sync().expect("the persona").messenger().roster();
    assert_eq!(roster.devices.len(), 1, "the phone alone, as before");
    refused.code()
}

/// The roster a new device is given must be its persona's (§5, §12): signed by the persona
/// key it names, that key the persona's own, with a device on it and the inbox not withheld.
#[test]
fn a_new_device_joins_only_a_whole_roster_of_its_own_persona() {
    use ed25519_dalek::Signer;
    use phantom_sync::persona::Persona;
    use phantom_sync::roster::Roster;

    let mallory = |rng: &mut SeededRng| Persona::create("Mallory", NOW, rng).expect("persona");
    assert_eq!(
        join_refusal(41, |_, rng| common::roster_of(&mallory(rng), rng)),
        "roster_wrong_persona",
        "another persona's roster"
    );
    assert_eq!(
        join_refusal(42, |ada, rng| {
            let roster = common::roster_of(ada, rng).claimed().expect("readable");
            let encoded = roster.encode().expect("encoded");
            let key = mallory(rng).authority_key().expect("Mallory's authority");
            let signature = key.sign(&[b"phantom-sync roster v1".as_slice(), &encoded].concat());
            SignedRoster::decode(&[b"PS\x01".as_slice(), &signature.to_bytes(), &encoded].concat())
                .expect("well formed")
        }),
        "roster_bad_signature",
        "Ada's roster signed by another key"
    );
    let signed_by_ada = |ada: &Persona, roster: Roster| {
        roster
            .sign(&ada.authority_key().expect("the authority"))
            .expect("signed")
    };
    assert_eq!(
        join_refusal(43, |ada, rng| {
            let first = Roster::first(ada.persona_key, MailboxSeed::random(rng), [0x5e; 32]);
            signed_by_ada(ada, first)
        }),
        "roster_incomplete",
        "a roster without a device"
    );
    assert_eq!(
        join_refusal(44, |ada, rng| {
            let roster = common::roster_of(ada, rng).claimed().expect("readable");
            signed_by_ada(ada, roster.withheld())
        }),
        "roster_incomplete",
        "a roster whose inbox is withheld"
    );
}
