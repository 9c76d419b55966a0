//! Vault benchmarks in headless Chromium — not tests: they assert nothing about speed and
//! are ignored by the test run. Run them with `scripts/bench.sh`.
//!
//! In one run, on fresh databases, alternating so neither side warms up the other:
//! raw IndexedDB puts of plaintext records vs the vault's encrypted puts of the same
//! messages, both in transactions of the same size; then the cost of a PIN (Argon2id with
//! the default settings) and of the default auto-unlock.
#![cfg(target_arch = "wasm32")]

mod common;

use common::vault_suite::{message, world, NOW};
use phantom_sync::drivers::indexeddb::IndexedDbStore;
use phantom_sync::drivers::webcrypto::WebCryptoKeyring;
use phantom_sync::persona::Message;
use phantom_sync::vault::store::{RawStore, StoreName, WriteOp};
use phantom_sync::vault::unlock::{protect, PinParams};
use phantom_sync::vault::Vault;
use phantom_sync::wire::WireRecord;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const RECORDS: u64 = 100_000;
const BATCH: usize = 10_000;
const ROUNDS: usize = 5;

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// About 200-byte messages, as in the brief's goal.
fn messages() -> Vec<Message> {
    (0..RECORDS)
        .map(|n| {
            let mut m = message(n, (n / 2_000) as u8);
            m.body = format!("{n:08} {}", "lorem ipsum dolor sit amet ".repeat(5));
            m
        })
        .collect()
}

async fn fresh(name: &str) -> IndexedDbStore {
    IndexedDbStore::delete(name).await.expect("deleted");
    IndexedDbStore::open(name).await.expect("opened")
}

async fn raw_puts(messages: &[Message]) -> f64 {
    let store = fresh("phantom-sync-bench-raw").await;
    let start = now_ms();
    for batch in messages.chunks(BATCH) {
        let ops = batch
            .iter()
            .map(|m| {
                let mut key = m.conversation_id.as_bytes().to_vec();
                key.extend_from_slice(m.id.as_bytes());
                WriteOp::Put {
                    store: StoreName::Messages,
                    key,
                    value: m.encode().expect("encodes").to_vec(),
                }
            })
            .collect();
        store.write(ops).await.expect("raw write");
    }
    now_ms() - start
}

async fn encrypted_puts(messages: &[Message]) -> f64 {
    let mut w = world(99);
    let store = fresh("phantom-sync-bench-vault").await;
    let vault = Vault::import(store, &w.persona, w.device.clone(), &w.keyring, &mut w.rng)
        .await
        .expect("imports");
    let start = now_ms();
    for batch in messages.chunks(BATCH) {
        vault
            .put_messages(batch, &mut w.rng)
            .await
            .expect("vault write");
    }
    now_ms() - start
}

#[wasm_bindgen_test]
#[ignore = "benchmark: scripts/bench.sh"]
async fn bench_vault_writes_against_raw_indexeddb() {
    let messages = messages();
    let bytes: usize = messages
        .iter()
        .map(|m| m.encode().expect("encodes").len())
        .sum();
    let (mut raw, mut encrypted) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        raw.push(raw_puts(&messages).await);
        encrypted.push(encrypted_puts(&messages).await);
    }
    let raw_rate = RECORDS as f64 / (median(raw) / 1000.0);
    let encrypted_rate = RECORDS as f64 / (median(encrypted) / 1000.0);
    console_log!(
        "BENCH vault_import records={RECORDS} avg_record_bytes={} batch={BATCH} rounds={ROUNDS} raw_records_per_s={raw_rate:.0} encrypted_records_per_s={encrypted_rate:.0} ratio={:.3}",
        bytes / RECORDS as usize,
        encrypted_rate / raw_rate
    );
}

#[wasm_bindgen_test]
#[ignore = "benchmark: scripts/bench.sh"]
async fn bench_unlock_costs() {
    let mut w = world(98);
    let keyring = WebCryptoKeyring::load_or_create("bench")
        .await
        .expect("a key");
    let store = fresh("phantom-sync-bench-unlock").await;
    let vault = Vault::import(store, &w.persona, w.device.clone(), &keyring, &mut w.rng)
        .await
        .expect("imports");
    let store = vault.lock();

    let mut unlock = Vec::new();
    for _ in 0..10 {
        let start = now_ms();
        let vault = Vault::unlock(&store, &keyring, None, NOW)
            .await
            .expect("unlocks");
        vault.persona().await.expect("persona");
        unlock.push(now_ms() - start);
    }
    let start = now_ms();
    let params = PinParams::calibrate(now_ms).expect("calibrates");
    let calibration = now_ms() - start;
    let mut pin = Vec::new();
    for _ in 0..3 {
        let start = now_ms();
        protect(
            &w.persona.database_passphrase,
            &keyring,
            Some(("246813", params)),
            &mut w.rng,
        )
        .await
        .expect("protects");
        pin.push(now_ms() - start);
    }
    console_log!(
        "BENCH unlock default_unlock_ms={:.1} pin_argon2id_ms={:.0} pin_params=m{}KiB,t{},p{} pin_calibration_ms={calibration:.0}",
        median(unlock),
        median(pin),
        params.memory_kib,
        params.iterations,
        params.parallelism
    );
}
