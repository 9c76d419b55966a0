//! Linking the other way round (`docs/PROTOCOL.md` §3, §4, §9): the new device shows a
//! code, the source's camera reads it. Good and hostile, natively and in headless Chromium.

mod common;

use common::NOW;
use phantom_sync::device::{Approval, Device, PersonaSync, PinCheck};
use phantom_sync::messaging::Messenger;
use phantom_sync::pairing::channel::{ChannelMessage, MessageKind};
use phantom_sync::pairing::invitation::{Capabilities, Intent, PairingInvitation};
use phantom_sync::pairing::messages::AbortReason;
use phantom_sync::pairing::state::{FailureReason, SyncState};
use phantom_sync::pairing::{PairingEvent, Transmit, INVITATION_LIFETIME_SECS};
use phantom_sync::persona::{DeviceKeys, Persona};
use phantom_sync::testing::SeededRng;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// A phone holding a persona named `name`, and the persona.
fn phone_of(name: &str, rng: &mut SeededRng) -> (Device, Persona) {
    let persona = Persona::create(name, NOW, rng).expect("persona");
    let keys = DeviceKeys::generate("Phone", NOW, rng).expect("keys");
    let messenger = Messenger::create(&persona, &keys, NOW, rng).expect("messenger");
    let mut device = Device::default();
    device.hold(PersonaSync::new(messenger));
    (device, persona)
}

/// A laptop showing a code, and the code as the phone's camera reads it.
fn laptop_showing(rng: &mut SeededRng) -> (Device, PairingInvitation) {
    let mut laptop = Device::default();
    let code = laptop
        .pairing_mut()
        .show_code("Laptop", Capabilities::HISTORY_MAILBOX, NOW, rng)
        .expect("a code");
    assert_eq!(laptop.pairing().state(), SyncState::Inviting);
    let read = PairingInvitation::from_link_code(&code.to_link_code()).expect("read back");
    assert_eq!(read.intent, Intent::AskToLink);
    (laptop, read)
}

fn send(transmit: Option<Transmit>) -> Transmit {
    transmit.expect("a message to send")
}

#[test]
fn a_source_that_scans_the_new_devices_code_links_it() {
    let mut rng = SeededRng::new(1);
    let (mut phone, persona) = phone_of("Ada", &mut rng);
    let (mut laptop, code) = laptop_showing(&mut rng);
    assert_eq!(
        laptop.pairing().listening_mailboxes(NOW),
        vec![code.mailbox.keys()]
    );

    phone
        .scan_code(&code, "Ada's phone", NOW, &mut rng)
        .expect("scanned");
    assert_eq!(phone.pairing().state(), SyncState::Negotiating);
    let hello = send(phone.pairing_mut().poll_transmit());
    assert_eq!(
        hello.mailbox,
        code.mailbox.keys(),
        "where the laptop listens"
    );
    assert_eq!(
        ChannelMessage::peek_kind(&hello.bytes),
        Ok(MessageKind::Hello)
    );

    assert_eq!(
        laptop
            .receive_pairing(&hello.bytes, NOW + 1, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::CodeScanned {
            device_name: "Ada's phone".into()
        })
    );
    assert_eq!(laptop.pairing().state(), SyncState::AwaitingApproval);
    let words = laptop.pairing().words().expect("the laptop shows words");
    let request = send(laptop.pairing_mut().poll_transmit());
    assert_eq!(
        phone.pairing().listening_mailboxes(NOW + 1),
        vec![request.mailbox.clone()]
    );
    assert_eq!(
        laptop.pairing().listening_mailboxes(NOW + 1),
        vec![code.mailbox.keys()],
        "the answered code's mailbox alone"
    );

    assert_eq!(
        phone
            .receive_pairing(&request.bytes, NOW + 2, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::RequestReceived {
            device_name: "Laptop".into()
        })
    );
    let (_, choice) = phone.pairing().word_choice().expect("words to pick");
    assert!(choice.candidates().contains(&words), "the same channel");
    let typed = words.words().join(" ");
    phone
        .approve(Approval::Typed(&typed), PinCheck::NotSet, &persona, NOW + 3)
        .expect("approved");

    let payload = send(phone.pairing_mut().poll_transmit());
    assert_eq!(payload.mailbox, code.mailbox.keys());
    let Ok(PairingEvent::PersonaReceived(payload)) =
        laptop.receive_pairing(&payload.bytes, NOW + 4, &mut rng)
    else {
        panic!("the persona arrives");
    };
    assert_eq!(payload.persona.fingerprint(), persona.fingerprint());
    let keys = DeviceKeys::generate("Laptop", NOW, &mut rng).expect("keys");
    let entry = laptop.join(&payload, &keys, NOW + 4).expect("joined");
    laptop.confirm_join(entry).expect("confirmed");
    assert_eq!(laptop.pairing().state(), SyncState::Completed);

    let ack = send(laptop.pairing_mut().poll_transmit());
    assert_eq!(ack.mailbox, request.mailbox, "where the phone listens");
    assert!(matches!(
        phone
            .receive_pairing(&ack.bytes, NOW + 5, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::LinkCompleted(_))
    ));
    assert_eq!(phone.pairing().state(), SyncState::Completed);
    let roster = phone.sync().expect("the persona").messenger().roster();
    assert_eq!(roster.devices.len(), 2, "the laptop joined");
}

/// Someone who saw the laptop's code scans it first with a persona of their own. The
/// laptop answers only the first source; the person's own phone is told the code was
/// used, and the laptop names the phone that came second, so the person can see that
/// the first one was not theirs before anything arrives.
#[test]
fn a_second_source_is_turned_away_and_named() {
    let mut rng = SeededRng::new(2);
    let (mut stranger, _) = phone_of("Mallory", &mut rng);
    let (mut own_phone, _) = phone_of("Ada", &mut rng);
    let (mut laptop, code) = laptop_showing(&mut rng);

    stranger
        .scan_code(&code, "Mallory's phone", NOW, &mut rng)
        .expect("scanned");
    own_phone
        .scan_code(&code, "Ada's phone", NOW, &mut rng)
        .expect("scanned");
    let first = send(stranger.pairing_mut().poll_transmit());
    let second = send(own_phone.pairing_mut().poll_transmit());
    assert_eq!(
        laptop
            .receive_pairing(&first.bytes, NOW + 1, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::CodeScanned {
            device_name: "Mallory's phone".into()
        })
    );
    assert_eq!(
        laptop
            .receive_pairing(&second.bytes, NOW + 1, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::TurnedAway {
            device_name: "Ada's phone".into()
        })
    );
    assert_eq!(laptop.pairing().turned_away(), ["Ada's phone".to_string()]);
    assert_eq!(
        laptop
            .receive_pairing(&first.bytes, NOW + 1, &mut rng)
            .map_err(|e| e.code()),
        Err("replayed_request")
    );

    let _request = send(laptop.pairing_mut().poll_transmit());
    let turned_away = send(laptop.pairing_mut().poll_transmit());
    assert_eq!(
        own_phone.pairing().listening_mailboxes(NOW + 1),
        vec![turned_away.mailbox.clone()],
        "sealed to the second phone's own channel, where it listens"
    );
    assert_eq!(
        own_phone
            .receive_pairing(&turned_away.bytes, NOW + 2, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::Aborted(AbortReason::InvitationUsed))
    );
    assert_eq!(
        own_phone.pairing().state(),
        SyncState::Failed(FailureReason::InvitationUsed)
    );

    // The person cancels on the laptop: the stranger is told, and gets nothing more.
    laptop.pairing_mut().cancel().expect("cancelled");
    let abort = send(laptop.pairing_mut().poll_transmit());
    assert_eq!(
        stranger
            .receive_pairing(&abort.bytes, NOW + 3, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::Aborted(AbortReason::Cancelled))
    );
}

#[test]
fn wrong_words_send_nothing_but_an_abort() {
    let mut rng = SeededRng::new(3);
    let (mut phone, persona) = phone_of("Ada", &mut rng);
    let (mut laptop, code) = laptop_showing(&mut rng);
    phone
        .scan_code(&code, "Ada's phone", NOW, &mut rng)
        .expect("scanned");
    let hello = send(phone.pairing_mut().poll_transmit());
    laptop
        .receive_pairing(&hello.bytes, NOW, &mut rng)
        .expect("scanned");
    let request = send(laptop.pairing_mut().poll_transmit());
    phone
        .receive_pairing(&request.bytes, NOW, &mut rng)
        .expect("request");
    let refused = phone.approve(
        Approval::Typed("abandon ability able"),
        PinCheck::NotSet,
        &persona,
        NOW,
    );
    assert_eq!(refused.map_err(|e| e.code()), Err("words_mismatch"));
    let abort = send(phone.pairing_mut().poll_transmit());
    assert!(phone.pairing_mut().poll_transmit().is_none(), "no persona");
    assert_eq!(
        laptop
            .receive_pairing(&abort.bytes, NOW + 1, &mut rng)
            .map_err(|e| e.code()),
        Ok(PairingEvent::Aborted(AbortReason::WordsRejected))
    );
    assert_eq!(
        laptop.pairing().failure_reason(),
        Some(FailureReason::WordsRejected)
    );
}

#[test]
fn an_expired_code_is_refused_on_both_sides() {
    let mut rng = SeededRng::new(4);
    let (mut phone, _) = phone_of("Ada", &mut rng);
    let (mut laptop, code) = laptop_showing(&mut rng);
    let late = NOW + INVITATION_LIFETIME_SECS;
    assert_eq!(
        phone
            .scan_code(&code, "Ada's phone", late, &mut rng)
            .map_err(|e| e.code()),
        Err("invitation_expired")
    );
    assert!(
        phone.pairing_mut().poll_transmit().is_none(),
        "nothing sent"
    );

    // A phone whose clock is behind sends its hello anyway: the laptop refuses it.
    phone
        .scan_code(&code, "Ada's phone", NOW, &mut rng)
        .expect("scanned");
    let hello = send(phone.pairing_mut().poll_transmit());
    assert_eq!(
        laptop
            .receive_pairing(&hello.bytes, late, &mut rng)
            .map_err(|e| e.code()),
        Err("invitation_expired")
    );
    assert_eq!(laptop.pairing().poll_timeout(), Some(code.expires_at));
    assert!(laptop.pairing_mut().handle_timeout(late).expect("ends"));
    assert_eq!(
        laptop.pairing().failure_reason(),
        Some(FailureReason::InvitationExpired)
    );
    assert!(laptop.pairing().listening_mailboxes(late).is_empty());
}

/// Each device scans only the code meant for it: a new device does not answer another new
/// device's code, nor a source another source's invitation.
#[test]
fn a_code_scanned_by_the_wrong_device_sends_nothing() {
    let mut rng = SeededRng::new(5);
    let (mut phone, _) = phone_of("Ada", &mut rng);
    let (_, code) = laptop_showing(&mut rng);
    let mut other_laptop = Device::default();
    assert_eq!(
        other_laptop
            .pairing_mut()
            .accept_invitation(&code, "Laptop", NOW, &mut rng)
            .map_err(|e| e.code()),
        Err("code_for_other_device")
    );
    assert!(other_laptop.pairing_mut().poll_transmit().is_none());

    let (mut other_phone, _) = phone_of("Grace", &mut rng);
    let invitation = other_phone
        .show_invitation(Capabilities::default(), NOW, &mut rng)
        .expect("an invitation");
    assert_eq!(
        phone
            .scan_code(&invitation, "Ada's phone", NOW, &mut rng)
            .map_err(|e| e.code()),
        Err("code_for_other_device")
    );
    assert!(phone.pairing_mut().poll_transmit().is_none());
}

/// A reload of the laptop once the phone scanned: the channel and the request not yet
/// sent are kept, and the persona still arrives.
#[test]
fn the_new_device_resumes_after_a_reload_once_scanned() {
    use phantom_sync::pairing::{Pairing, Resumable};

    let mut rng = SeededRng::new(6);
    let (mut phone, persona) = phone_of("Ada", &mut rng);
    let (mut laptop, code) = laptop_showing(&mut rng);
    assert!(
        matches!(laptop.pairing().snapshot(), Ok(Resumable::Forget)),
        "a code not yet scanned is only shown again"
    );
    phone
        .scan_code(&code, "Ada's phone", NOW, &mut rng)
        .expect("scanned");
    let hello = send(phone.pairing_mut().poll_transmit());
    laptop
        .receive_pairing(&hello.bytes, NOW, &mut rng)
        .expect("scanned");
    let words = laptop.pairing().words().expect("words");
    let Ok(Resumable::Keep(snapshot)) = laptop.pairing().snapshot() else {
        panic!("kept across a reload");
    };
    let mut reloaded = Pairing::resume(&snapshot).expect("resumed");
    assert_eq!(reloaded.words(), Some(words));
    assert_eq!(reloaded.listening_mailboxes(NOW), vec![code.mailbox.keys()]);
    let request = send(reloaded.poll_transmit());
    phone
        .receive_pairing(&request.bytes, NOW, &mut rng)
        .expect("request");
    phone
        .approve(
            Approval::Typed(&words.words().join(" ")),
            PinCheck::NotSet,
            &persona,
            NOW,
        )
        .expect("approved");
    let payload = send(phone.pairing_mut().poll_transmit());
    assert!(matches!(
        reloaded.receive(&payload.bytes, NOW, &mut rng),
        Ok(PairingEvent::PersonaReceived(_))
    ));
}

/// Whoever copies the laptop's code can write to its mailbox and read what arrives there,
/// but the phone's hello is sealed to the laptop's key, which never leaves the laptop: a
/// key of the copier's own opens a channel that reads nothing.
#[test]
fn whoever_copies_the_code_cannot_open_what_the_phone_sends() {
    use phantom_sync::pairing::channel::{InvitationKeyPair, PairingChannel};

    let mut rng = SeededRng::new(7);
    let (mut phone, _) = phone_of("Ada", &mut rng);
    let (_, code) = laptop_showing(&mut rng);
    phone
        .scan_code(&code, "Ada's phone", NOW, &mut rng)
        .expect("scanned");
    let hello =
        ChannelMessage::decode(&send(phone.pairing_mut().poll_transmit()).bytes).expect("a frame");
    let copier_key = InvitationKeyPair::generate(&mut rng);
    let mut copier = PairingChannel::accept(&copier_key, &code, &hello).expect("decapsulates");
    assert_eq!(copier.open(&hello).map_err(|e| e.code()), Err("tampered"));
}
