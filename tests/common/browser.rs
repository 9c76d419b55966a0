//! Helpers for the browser-only tests: camera-like frames of a QR code, facade errors,
//! fresh device profiles, and the local network `scripts/test.sh` starts.

use phantom_sync::facade::SyncManager;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement};

pub const FRAME_WIDTH: u32 = 640;
pub const FRAME_HEIGHT: u32 = 480;

/// Draws `svg` the way a camera would see a screen: a 640×480 frame, the code smaller than
/// the frame, off-centre, on a grey background.
pub async fn rasterise(svg: &str, side: f64) -> Vec<u8> {
    rasterise_in(svg, side, FRAME_WIDTH, FRAME_HEIGHT).await
}

/// [`rasterise`] into a frame of `width` × `height`.
pub async fn rasterise_in(svg: &str, side: f64, width: u32, height: u32) -> Vec<u8> {
    let document = web_sys::window()
        .expect("a window")
        .document()
        .expect("a document");
    let image: HtmlImageElement = document
        .create_element("img")
        .expect("an img")
        .dyn_into()
        .expect("an HtmlImageElement");
    let encoded = js_sys::encode_uri_component(svg);
    image.set_src(&format!("data:image/svg+xml;charset=utf-8,{encoded}"));
    JsFuture::from(image.decode())
        .await
        .expect("the SVG decodes as an image");

    let canvas: HtmlCanvasElement = document
        .create_element("canvas")
        .expect("a canvas")
        .dyn_into()
        .expect("an HtmlCanvasElement");
    canvas.set_width(width);
    canvas.set_height(height);
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .expect("2d context")
        .expect("2d context exists")
        .dyn_into()
        .expect("a 2d context");
    context.set_fill_style_str("#808080");
    context.fill_rect(0.0, 0.0, width.into(), height.into());
    context
        .draw_image_with_html_image_element_and_dw_and_dh(&image, 180.0, 60.0, side, side)
        .expect("draws");
    context
        .get_image_data(0.0, 0.0, width.into(), height.into())
        .expect("pixels")
        .data()
        .0
}

pub fn code_of(error: &JsValue) -> String {
    assert!(error.is_instance_of::<js_sys::Error>(), "JS sees an Error");
    js_sys::Reflect::get(error, &"code".into())
        .expect("a code property")
        .as_string()
        .expect("the code is a string")
}

pub async fn fresh_device(profile: &str, name: &str) -> SyncManager {
    SyncManager::delete_profile(profile.into())
        .await
        .expect("deleted");
    SyncManager::open(profile.into(), name.into())
        .await
        .expect("a device")
}

/// The WebSocket addresses of the test network (`PHANTOM_TEST_NODES`, set by
/// `scripts/test.sh`).
pub fn test_nodes() -> Vec<String> {
    listed(option_env!("PHANTOM_TEST_NODES").unwrap_or_default())
}

/// The WebRTC-direct addresses of the same nodes (with their certificate hashes).
pub fn test_webrtc_nodes() -> Vec<String> {
    listed(option_env!("PHANTOM_TEST_WEBRTC_NODES").unwrap_or_default())
}

fn listed(list: &str) -> Vec<String> {
    assert!(
        !list.is_empty(),
        "start the network first: scripts/test.sh does (scripts/local-network.sh)"
    );
    list.split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("randomness");
    u64::from_le_bytes(bytes)
}
