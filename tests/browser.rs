//! Browser-only tests: the QR code goes through a real rasteriser, and the JS facade's
//! errors look the way JS code expects. Run by `wasm-pack test --headless --chrome`.
#![cfg(target_arch = "wasm32")]

mod common;

use common::browser::{code_of, fresh_device, rasterise, rasterise_in, FRAME_HEIGHT, FRAME_WIDTH};
use common::Pair;
use phantom_sync::drivers::qr;
use phantom_sync::facade::SyncManager;
use phantom_sync::pairing::invitation::PairingInvitation;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn an_invitation_qr_rendered_to_svg_and_rasterised_decodes_back() {
    let pair = Pair::new(21);
    let link_code = pair.invitation.to_link_code();
    let svg = qr::render_svg(&link_code).expect("renders");
    let rgba = rasterise(&svg, 300.0).await;

    let texts = qr::decode_rgba(FRAME_WIDTH, FRAME_HEIGHT, &rgba).expect("a code is found");
    assert_eq!(texts, vec![link_code.clone()]);
    assert_eq!(
        PairingInvitation::from_link_code(&texts[0]),
        Ok(pair.invitation.clone())
    );

    let scanned = SyncManager::scan_frame(FRAME_WIDTH, FRAME_HEIGHT, &rgba).expect("scans");
    assert_eq!(scanned, Some(link_code));
}

/// A 1280×720 frame is read at half size first, and whole when nothing was read there: a
/// large code is found either way, a small one (a phone held far from the laptop) only
/// in the whole frame, and the smallest (under two pixels a module) only on a second look
/// at its area, enlarged.
#[wasm_bindgen_test]
async fn a_large_frame_reads_a_small_code_in_full_detail() {
    let link_code = Pair::new(22).invitation.to_link_code();
    let svg = qr::render_svg(&link_code).expect("renders");
    for side in [400.0, 150.0, 90.0] {
        let rgba = rasterise_in(&svg, side, 1280, 720).await;
        assert_eq!(
            SyncManager::scan_frame(1280, 720, &rgba).expect("scans"),
            Some(link_code.clone()),
            "a code {side} pixels wide"
        );
    }
}

#[wasm_bindgen_test]
async fn a_frame_without_a_code_scans_to_nothing() {
    let rgba = vec![128u8; (FRAME_WIDTH * FRAME_HEIGHT * 4) as usize];
    assert_eq!(
        SyncManager::scan_frame(FRAME_WIDTH, FRAME_HEIGHT, &rgba).ok(),
        Some(None)
    );
    let wrong_size = SyncManager::scan_frame(FRAME_WIDTH, FRAME_HEIGHT, &rgba[..100])
        .expect_err("a short frame is refused");
    assert_eq!(code_of(&wrong_size), "frame_size");
}

/// The fuzzer's frame that made rqrr panic (`tests/regressions/`): in the browser a panic
/// would abort the page's wasm; the scanner reads it as a frame without a code.
#[wasm_bindgen_test]
async fn a_frame_that_overflowed_the_qr_readers_geometry_scans_to_nothing() {
    let input = include_bytes!("regressions/camera-frame-perspective-overflow.bin");
    let (width, height) = (u32::from(input[0]), u32::from(input[1]));
    let rgba: Vec<u8> = input[2..].iter().flat_map(|&v| [v, v, v, 255]).collect();
    assert_eq!(
        SyncManager::scan_frame(width, height, &rgba).ok(),
        Some(None)
    );
}

#[wasm_bindgen_test]
async fn the_facade_links_two_devices_into_their_vaults_and_reports_errors_with_codes() {
    let source = fresh_device("facade-phone", "Phone").await;
    source
        .create_persona("Ada".into())
        .await
        .expect("a persona");
    let invitation = source.generate_pairing_invitation().expect("an invitation");
    assert!(invitation.svg.contains("<svg"));

    let target = fresh_device("facade-laptop", "Laptop").await;
    let garbage = target
        .accept_invitation("hello")
        .expect_err("not a link code");
    assert_eq!(code_of(&garbage), "not_a_link_code");

    let words = target
        .accept_invitation(&invitation.link_code)
        .expect("scans");
    assert_eq!(target.state(), "awaiting_approval");
    let request = target.poll_transmit().expect("a request");
    let not_a_payload = target
        .decrypt_and_import_persona(request.bytes.clone())
        .await
        .expect_err("a request is not a payload");
    assert_eq!(code_of(&not_a_payload), "unexpected_message");

    let choice = source
        .handle_sync_request(request.bytes.clone())
        .await
        .expect("accepted");
    assert_eq!(choice.device_name(), "Laptop");
    let index = common::link::right_choice(&source, &words);
    let replay = source
        .handle_sync_request(request.bytes)
        .await
        .expect_err("a replay");
    assert_eq!(code_of(&replay), "replayed_request");

    source.approve(index, None).await.expect("approved");
    let payload = source.poll_transmit().expect("the payload");
    let fingerprint = target
        .decrypt_and_import_persona(payload.bytes)
        .await
        .expect("imports");
    assert_eq!(Some(fingerprint.clone()), source.fingerprint());
    assert_eq!(target.display_name().as_deref(), Some("Ada"));

    let ack = target.poll_transmit().expect("an ack");
    assert_eq!(
        source.receive(ack.bytes).await.expect("ack"),
        "link_completed"
    );
    assert_eq!(source.state(), "completed");
    assert_eq!(
        source.roster_epoch(),
        Some(2.0),
        "the new device is on the roster"
    );
    assert_eq!(source.devices().expect("devices").length(), 2);
    assert_eq!(
        target.devices().expect("devices").length(),
        1,
        "until it hears the roster"
    );
    assert_eq!(target.state(), "completed");

    // The laptop's vault opens again on its own, as after a reload.
    drop(target);
    let reopened = SyncManager::open("facade-laptop".into(), "Laptop".into())
        .await
        .expect("reopens");
    assert!(!reopened.locked());
    assert_eq!(reopened.fingerprint(), Some(fingerprint));
    let again = reopened
        .accept_invitation(&invitation.link_code)
        .expect_err("already linked");
    assert_eq!(code_of(&again), "persona_exists");
}

/// The adversary is a second tab of the same profile that keeps running: once a later
/// opener has the profile, every write the first one tries fails with `open_elsewhere`,
/// keeps nothing, and closes its persona, so the two can never fork the device's sessions.
#[wasm_bindgen_test]
async fn a_profile_opened_again_elsewhere_stops_the_first_opener_writing() {
    let first = fresh_device("facade-two-tabs", "Tab one").await;
    first.create_persona("Ada".into()).await.expect("created");
    let grace = fresh_device("facade-two-tabs-grace", "Grace").await;
    grace.create_persona("Grace".into()).await.expect("created");
    let card = grace.contact_card().expect("a card");

    let second = SyncManager::open("facade-two-tabs".into(), "Tab two".into())
        .await
        .expect("opened again");
    assert!(!second.locked());
    let refused = first
        .add_contact(card.clone())
        .await
        .expect_err("the first opener may not write");
    assert_eq!(code_of(&refused), "open_elsewhere");
    assert!(first.open_elsewhere());
    assert_eq!(
        code_of(&first.contacts().expect_err("closed here")),
        "open_elsewhere"
    );

    assert_eq!(
        second.contacts().expect("contacts").length(),
        0,
        "nothing of the refused write was kept"
    );
    second
        .add_contact(card)
        .await
        .expect("the new opener writes");
    assert!(!second.open_elsewhere());
}

/// The adversary is a new device (broken or hostile) that confirms the import with keys no
/// one can open an Olm session with: the phone's pairing ends `failed(device_rejected)`
/// with the code `unusable_device_keys`, its roster is unchanged, and the new device is
/// told with Abort(6).
#[wasm_bindgen_test]
async fn an_acknowledgement_with_unusable_keys_fails_the_source_and_tells_the_new_device() {
    use phantom_sync::pairing::messages::AbortReason;
    use phantom_sync::pairing::{PairingEvent, TargetPairing};
    use phantom_sync::testing::SeededRng;

    let source = fresh_device("facade-rejecting-phone", "Phone").await;
    source
        .create_persona("Ada".into())
        .await
        .expect("a persona");
    let invitation = source.generate_pairing_invitation().expect("an invitation");
    let now = (js_sys::Date::now() / 1000.0) as u64;
    let mut rng = SeededRng::new(31);
    let mut hostile = TargetPairing::new();
    let words = hostile
        .accept_invitation(
            &PairingInvitation::from_link_code(&invitation.link_code).expect("a code"),
            "Laptop",
            now,
            &mut rng,
        )
        .expect("scans");
    let request = hostile.poll_transmit().expect("a request");
    source
        .handle_sync_request(request.bytes)
        .await
        .expect("accepted");
    let words: Vec<String> = words.to_string().split(' ').map(str::to_owned).collect();
    let index = common::link::right_choice(&source, &words);
    source.approve(index, None).await.expect("approved");
    let payload = source.poll_transmit().expect("the payload");
    hostile.receive(&payload.bytes, now).expect("opens");
    let mut unusable = common::new_device(0x44);
    unusable.fallback_key = [0; 32];
    hostile.confirm_import(unusable).expect("sent");
    let ack = hostile.poll_transmit().expect("an ack");

    let refused = source.receive(ack.bytes).await.expect_err("refused");
    assert_eq!(code_of(&refused), "unusable_device_keys");
    assert_eq!(source.state(), "failed");
    assert_eq!(source.failure_reason().as_deref(), Some("device_rejected"));
    assert_eq!(source.devices().expect("devices").length(), 1);
    assert_eq!(source.roster_epoch(), Some(1.0));

    let abort = source.poll_transmit().expect("the new device is told");
    assert_eq!(
        hostile.receive(&abort.bytes, now),
        Ok(PairingEvent::Aborted(AbortReason::DeviceRejected))
    );
}

/// The adversary races PIN tries in one page, hoping two run on one count: the second
/// try at once is refused as `busy`, and the first is counted.
#[wasm_bindgen_test]
async fn pin_tries_in_one_page_are_counted_one_at_a_time() {
    let device = fresh_device("facade-pin-race", "Phone").await;
    device
        .create_persona("Ada".into())
        .await
        .expect("a persona");
    let short = device
        .set_pin(Some("1234".into()))
        .await
        .expect_err("too short");
    assert_eq!(code_of(&short), "pin_too_short");
    device
        .set_pin(Some("482913".into()))
        .await
        .expect("pin set");
    device.lock();
    let (first, second) = futures::join!(
        device.unlock(Some("000000".into())),
        device.unlock(Some("111111".into()))
    );
    let mut codes = [
        code_of(&first.expect_err("wrong")),
        code_of(&second.expect_err("wrong or busy")),
    ];
    codes.sort();
    assert_eq!(codes, ["busy".to_owned(), "wrong_pin".to_owned()]);
    // After the first try's wait, the next wrong PIN is the second one counted.
    let pause = js_sys::Promise::new(&mut |resolve, _| {
        let _ = web_sys::window()
            .expect("a window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 2100);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(pause).await;
    let again = device
        .unlock(Some("222222".into()))
        .await
        .expect_err("wrong");
    assert_eq!(code_of(&again), "wrong_pin");
    let message = js_sys::Reflect::get(&again, &"message".into())
        .expect("a message")
        .as_string()
        .unwrap_or_default();
    assert!(message.contains("2 wrong so far"), "{message}");
    // The wait is a typed field, not a number to pull out of the message, and only the
    // codes that have one carry it.
    let retry_after = |error: &wasm_bindgen::JsValue| {
        js_sys::Reflect::get(error, &"retryAfterSecs".into())
            .expect("a field")
            .as_f64()
    };
    let wait = retry_after(&again).expect("the wait after a wrong PIN");
    assert!(wait >= 1.0, "{wait}");
    assert_eq!(retry_after(&short), None, "pin_too_short has no wait");
}
