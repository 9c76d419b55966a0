//! The QR reader on frames painted from a real link code's modules: what it reads, and
//! for what it cannot read yet, where the code is and what would help (`read_rgba`).

use phantom_sync::drivers::qr::{self, QrError, ScanHint};
use qrcode::{Color, EcLevel, QrCode};

/// A link code's shape: the real ones are this long, so their codes are this dense.
const LINK_CODE: &str = "PHSYNC:KBJQCAPV43ULRRKCJMMOLQQLDIEVF72RBXEE2FN6EWS23IYC6WKBA5C2HJZ5D77DUVMPM7TVZ7U5GXKFEBSCTW3MIZT232EPVBWOAJ7CJYJFLC5YCN5XR5BZ5JWIFWJN6R3WTNYAAAAAA2YXGDJQAA7Z4UFGU";

/// A grey `width`×`height` RGBA frame with the code centred, `module` pixels per module
/// (with its white quiet zone), softened by `blur` passes of a 3×3 box filter.
fn frame(width: usize, height: usize, module: f32, blur: usize) -> Vec<u8> {
    let code = QrCode::with_error_correction_level(LINK_CODE, EcLevel::M).expect("fits");
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 8) as f32 * module;
    let (left, top) = ((width as f32 - side) / 2.0, (height as f32 - side) / 2.0);
    let mut luma = vec![128.0_f32; width * height];
    for y in 0..height {
        for x in 0..width {
            let (u, v) = (
                (x as f32 - left) / module - 4.0,
                (y as f32 - top) / module - 4.0,
            );
            if u < -4.0 || v < -4.0 || u >= modules as f32 + 4.0 || v >= modules as f32 + 4.0 {
                continue;
            }
            let dark = u >= 0.0
                && v >= 0.0
                && (u as usize) < modules
                && (v as usize) < modules
                && colors[v as usize * modules + u as usize] == Color::Dark;
            luma[y * width + x] = if dark { 20.0 } else { 235.0 };
        }
    }
    for _ in 0..blur {
        let source = luma.clone();
        for y in 1..height - 1 {
            for x in 1..width - 1 {
                let mut sum = 0.0;
                for dy in 0..3 {
                    for dx in 0..3 {
                        sum += source[(y + dy - 1) * width + x + dx - 1];
                    }
                }
                luma[y * width + x] = sum / 9.0;
            }
        }
    }
    luma.iter()
        .flat_map(|&v| [v as u8, v as u8, v as u8, 255])
        .collect()
}

/// The corners lie around the painted code (45 modules of `module` pixels, centred), give
/// or take a module.
fn assert_outlines(corners: [(f32, f32); 4], width: f32, height: f32, module: f32) {
    let side = 45.0 * module;
    for (x, y) in corners {
        let (dx, dy) = ((x - width / 2.0).abs(), (y - height / 2.0).abs());
        let near = side / 2.0 + module + 3.0;
        assert!(dx <= near && dy <= near, "({x}, {y}) is off the code");
        assert!(
            dx >= side / 4.0 || dy >= side / 4.0,
            "({x}, {y}) is inside the code"
        );
    }
}

#[test]
fn a_code_in_view_is_read_and_nothing_is_outlined() {
    let reading = qr::read_rgba(640, 480, &frame(640, 480, 4.0, 1)).expect("a frame");
    assert_eq!(reading.texts, vec![LINK_CODE.to_owned()]);
    assert_eq!(reading.unread, None);
}

/// A phone held far from the laptop: 2.2 pixels per module, softened as a lens does. The
/// reader finds the code but cannot read it, and asks for it closer.
#[test]
fn a_code_too_far_away_is_outlined_and_asked_closer() {
    let pixels = frame(640, 480, 2.2, 1);
    let reading = qr::read_rgba(640, 480, &pixels).expect("a frame");
    assert!(reading.texts.is_empty());
    let seen = reading.unread.expect("the code is seen");
    assert!(seen.located);
    assert_eq!(seen.hint(), ScanHint::MoveCloser);
    assert_eq!(seen.hint().code(), "move_closer");
    assert_outlines(seen.corners, 640.0, 480.0, 2.2);
    assert_eq!(qr::decode_rgba(640, 480, &pixels), Err(QrError::Unreadable));
}

/// A code large enough but out of focus (or moving): it is outlined, and the person is
/// asked to hold still rather than come closer.
#[test]
fn a_blurred_code_is_outlined_and_asked_to_hold_still() {
    let reading = qr::read_rgba(640, 480, &frame(640, 480, 5.0, 10)).expect("a frame");
    assert!(reading.texts.is_empty());
    let seen = reading.unread.expect("the code is seen");
    assert!(seen.located);
    assert_eq!(seen.hint(), ScanHint::HoldStill);
    assert_eq!(seen.hint().code(), "hold_still");
    assert_outlines(seen.corners, 640.0, 480.0, 5.0);
}

/// A code large enough but softened that the first look cannot read is read on a second
/// look at its area, sharpened.
#[test]
fn a_blurred_code_is_read_on_a_second_look() {
    let reading = qr::read_rgba(1280, 720, &frame(1280, 720, 10.0, 40)).expect("a frame");
    assert_eq!(reading.texts, vec![LINK_CODE.to_owned()]);
    assert_eq!(reading.unread, None);
}

/// A 1280×720 frame is read at half size first; what is seen is given in the frame's own
/// pixels, not the half-size copy's.
#[test]
fn corners_are_in_the_frames_own_pixels() {
    let reading = qr::read_rgba(1280, 720, &frame(1280, 720, 8.0, 40)).expect("a frame");
    assert!(reading.texts.is_empty());
    let seen = reading.unread.expect("the code is seen");
    assert_eq!(seen.hint(), ScanHint::HoldStill);
    assert!(
        (7.0..9.0).contains(&seen.module_px),
        "{} pixels a module",
        seen.module_px
    );
    assert_outlines(seen.corners, 1280.0, 720.0, 8.0);
}

#[test]
fn a_frame_without_a_code_outlines_nothing() {
    let grey = vec![128; 640 * 480 * 4];
    let reading = qr::read_rgba(640, 480, &grey).expect("a frame");
    assert_eq!(reading, qr::FrameReading::default());
    assert_eq!(qr::decode_rgba(640, 480, &grey), Err(QrError::NoCodeFound));
}
