//! AEAD throughput on 64 KiB blocks (the size of a history block): XChaCha20-Poly1305, the
//! cipher the history catch-up seals with, through `phantom-aead` as the package calls it,
//! natively and in wasm; and in the browser,
//! WebCrypto's AES-256-GCM on the same blocks, in the same page. Not tests: they assert
//! nothing about speed and are ignored by the test run; `scripts/bench.sh` runs them.

use phantom_aead::{Key, Payload, XChaCha20Poly1305, XNonce};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const BLOCK: usize = 64 * 1024;
/// 16 MiB a round.
const BLOCKS: usize = 256;
const ROUNDS: usize = 7;

#[cfg(target_arch = "wasm32")]
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ms() -> f64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
        * 1000.0
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn megabytes_per_second(start_ms: f64) -> f64 {
    (BLOCK * BLOCKS) as f64 / 1e6 / ((now_ms() - start_ms) / 1000.0)
}

fn nonce(i: usize) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
    nonce
}

fn xchacha_round(cipher: &XChaCha20Poly1305, block: &[u8]) -> f64 {
    let start = now_ms();
    for i in 0..BLOCKS {
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce(i)),
                Payload {
                    msg: block,
                    aad: &[],
                },
            )
            .expect("sealed");
        std::hint::black_box(sealed);
    }
    megabytes_per_second(start)
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
#[ignore = "a benchmark: scripts/bench.sh runs it"]
fn aead_64k_blocks() {
    let cipher = XChaCha20Poly1305::new(&Key::from([7u8; 32]));
    let block = vec![0x5a; BLOCK];
    let rate = median(
        (0..ROUNDS)
            .map(|_| xchacha_round(&cipher, &block))
            .collect(),
    );
    println!("BENCH aead_64k native xchacha20poly1305 MB_per_s={rate:.0}");
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use super::*;
    use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::console_log;

    fn subtle() -> web_sys::SubtleCrypto {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).expect("crypto");
        Reflect::get(&crypto, &"subtle".into())
            .expect("subtle")
            .unchecked_into()
    }

    fn object(fields: &[(&str, JsValue)]) -> Object {
        let object = Object::new();
        for (name, value) in fields {
            Reflect::set(&object, &(*name).into(), value).expect("set");
        }
        object
    }

    async fn aes_gcm_key() -> web_sys::CryptoKey {
        let promise = subtle()
            .import_key_with_object(
                "raw",
                &Uint8Array::from(&[7u8; 32][..]),
                &object(&[("name", "AES-GCM".into())]),
                false,
                &Array::of1(&"encrypt".into()),
            )
            .expect("import");
        JsFuture::from(promise).await.expect("key").unchecked_into()
    }

    /// Every block's encryption started at once, as a pipeline would, then awaited.
    async fn aes_gcm_round(key: &web_sys::CryptoKey, block: &[u8]) -> f64 {
        let start = now_ms();
        let pending: Vec<Promise> = (0..BLOCKS)
            .map(|i| {
                let iv = Uint8Array::from(&nonce(i)[..12]);
                let params = object(&[("name", "AES-GCM".into()), ("iv", iv.into())]);
                subtle()
                    .encrypt_with_object_and_u8_array(&params, key, block)
                    .expect("encrypt")
            })
            .collect();
        for promise in pending {
            JsFuture::from(promise).await.expect("sealed");
        }
        megabytes_per_second(start)
    }

    #[wasm_bindgen_test::wasm_bindgen_test]
    #[ignore = "a benchmark: scripts/bench.sh runs it"]
    async fn aead_64k_blocks() {
        let cipher = XChaCha20Poly1305::new(&Key::from([7u8; 32]));
        let block = vec![0x5a; BLOCK];
        let key = aes_gcm_key().await;
        let mut wasm = Vec::new();
        let mut webcrypto = Vec::new();
        // Alternating, so neither side runs on a warmer page.
        for _ in 0..ROUNDS {
            wasm.push(xchacha_round(&cipher, &block));
            webcrypto.push(aes_gcm_round(&key, &block).await);
        }
        let (wasm, webcrypto) = (median(wasm), median(webcrypto));
        console_log!("BENCH aead_64k wasm xchacha20poly1305 MB_per_s={wasm:.0}");
        console_log!("BENCH aead_64k webcrypto aes256gcm MB_per_s={webcrypto:.0}");
    }
}
