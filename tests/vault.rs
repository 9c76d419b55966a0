//! The vault conformance suite, natively on `MemoryStore` and in headless Chromium on
//! IndexedDB.

mod common;

use common::vault_suite::{self as suite, Fixture};

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::*;
    use phantom_sync::vault::store::MemoryStore;

    /// Memory has no connection to reopen: the same store stands for "after a reload".
    struct Memory;

    impl Fixture for Memory {
        type Store = MemoryStore;

        async fn fresh(&self, _name: &str) -> MemoryStore {
            MemoryStore::new()
        }

        async fn reopen(&self, store: MemoryStore) -> MemoryStore {
            store
        }
    }

    macro_rules! on_memory {
        ($($name:ident),* $(,)?) => {$(
            #[test]
            fn $name() {
                pollster::block_on(suite::$name(&Memory));
            }
        )*};
    }

    on_memory!(
        round_trip_survives_reopening,
        storing_a_message_twice_keeps_one,
        a_reused_message_id_overwrites_nothing,
        a_conversation_is_read_a_page_at_a_time,
        history_blocks_are_kept_until_deleted,
        a_first_schema_vault_is_brought_up_to_date,
        a_wrong_key_is_refused,
        a_tampered_record_is_refused,
        a_swapped_record_is_refused,
        a_reimport_keeps_history_and_device_keys,
        a_different_persona_is_refused_and_nothing_changes,
        a_newer_schema_is_refused_untouched,
        pin_unlock_counts_wrong_pins_with_back_off,
        an_interrupted_import_leaves_the_old_state_and_can_be_retried,
        hostile_unlock_records_are_refused_without_hanging,
        a_pin_count_deleted_replaced_or_cut_short_gives_no_extra_tries,
        a_removed_device_with_a_copy_of_the_phones_storage_reads_nothing,
        the_pin_cost_is_measured_for_about_a_second_and_never_below_the_floor,
    );

    #[test]
    fn nothing_is_readable_at_rest() {
        pollster::block_on(suite::nothing_is_readable_at_rest(&Memory));
    }
}

#[cfg(target_arch = "wasm32")]
mod browser {
    use super::*;
    use phantom_sync::drivers::indexeddb::IndexedDbStore;
    use phantom_sync::drivers::webcrypto::WebCryptoKeyring;
    use phantom_sync::vault::Vault;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    /// Each test gets its own database, deleted first so reruns start clean.
    struct IndexedDb;

    impl Fixture for IndexedDb {
        type Store = IndexedDbStore;

        async fn fresh(&self, name: &str) -> IndexedDbStore {
            let name = format!("phantom-sync-test-{name}");
            IndexedDbStore::delete(&name).await.expect("deleted");
            IndexedDbStore::open(&name).await.expect("opened")
        }

        async fn reopen(&self, store: IndexedDbStore) -> IndexedDbStore {
            let name = store.name();
            drop(store);
            IndexedDbStore::open(&name).await.expect("reopened")
        }
    }

    macro_rules! on_indexeddb {
        ($($name:ident),* $(,)?) => {$(
            #[wasm_bindgen_test]
            async fn $name() {
                suite::$name(&IndexedDb).await;
            }
        )*};
    }

    on_indexeddb!(
        round_trip_survives_reopening,
        storing_a_message_twice_keeps_one,
        a_reused_message_id_overwrites_nothing,
        a_conversation_is_read_a_page_at_a_time,
        history_blocks_are_kept_until_deleted,
        a_first_schema_vault_is_brought_up_to_date,
        a_wrong_key_is_refused,
        a_tampered_record_is_refused,
        a_swapped_record_is_refused,
        a_reimport_keeps_history_and_device_keys,
        a_different_persona_is_refused_and_nothing_changes,
        a_newer_schema_is_refused_untouched,
        pin_unlock_counts_wrong_pins_with_back_off,
        an_interrupted_import_leaves_the_old_state_and_can_be_retried,
        hostile_unlock_records_are_refused_without_hanging,
        a_pin_count_deleted_replaced_or_cut_short_gives_no_extra_tries,
        a_removed_device_with_a_copy_of_the_phones_storage_reads_nothing,
        the_pin_cost_is_measured_for_about_a_second_and_never_below_the_floor,
    );

    #[wasm_bindgen(inline_js = r#"
        export async function dumpDatabase(name) {
            const db = await new Promise((resolve, reject) => {
                const request = indexedDB.open(name);
                request.onsuccess = () => resolve(request.result);
                request.onerror = () => reject(request.error);
            });
            const out = [];
            for (const storeName of db.objectStoreNames) {
                const tx = db.transaction(storeName, "readonly");
                const store = tx.objectStore(storeName);
                const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()].map(
                    (request) => new Promise((resolve, reject) => {
                        request.onsuccess = () => resolve(request.result);
                        request.onerror = () => reject(request.error);
                    })));
                for (const item of [...keys, ...values]) {
                    out.push(item instanceof ArrayBuffer ? new Uint8Array(item)
                        : ArrayBuffer.isView(item) ? new Uint8Array(item.buffer, item.byteOffset, item.byteLength)
                        : new TextEncoder().encode(String(item)));
                }
            }
            db.close();
            return out;
        }
        let heldOpen;
        export async function holdOpen(name) {
            heldOpen = await new Promise((resolve, reject) => {
                const request = indexedDB.open(name);
                request.onsuccess = () => resolve(request.result);
                request.onerror = () => reject(request.error);
            });
        }
        export function release() {
            heldOpen.close();
        }
        export async function exportKey(key) {
            await crypto.subtle.exportKey("raw", key);
        }
    "#)]
    extern "C" {
        #[wasm_bindgen(js_name = dumpDatabase, catch)]
        async fn dump_database(name: &str) -> Result<JsValue, JsValue>;
        #[wasm_bindgen(js_name = holdOpen, catch)]
        async fn hold_open(name: &str) -> Result<JsValue, JsValue>;
        fn release();
        #[wasm_bindgen(js_name = exportKey, catch)]
        async fn export_key(key: &web_sys::CryptoKey) -> Result<JsValue, JsValue>;
    }

    #[wasm_bindgen_test]
    async fn nothing_is_readable_at_rest_through_the_plain_browser_api() {
        let world = suite::nothing_is_readable_at_rest(&IndexedDb).await;
        let dumped: js_sys::Array = dump_database("phantom-sync-test-at_rest")
            .await
            .expect("the plain API reads the database")
            .unchecked_into();
        let contents: Vec<Vec<u8>> = dumped
            .iter()
            .map(|item| item.unchecked_into::<js_sys::Uint8Array>().to_vec())
            .collect();
        assert!(contents.len() > 40, "every key and value was read");
        suite::assert_nothing_readable(&contents, &suite::forbidden_bytes(&world));
    }

    #[wasm_bindgen_test]
    async fn the_webcrypto_device_key_unlocks_and_cannot_be_exported() {
        let mut w = suite::world(11);
        IndexedDbStore::delete("phantom-sync-test-webcrypto")
            .await
            .expect("deleted");
        let keyring = WebCryptoKeyring::load_or_create("test-webcrypto")
            .await
            .expect("a key");
        assert!(!keyring.is_extractable());
        let store = IndexedDbStore::open("phantom-sync-test-webcrypto")
            .await
            .expect("opened");
        let vault = Vault::import(store, &w.persona, w.device.clone(), &keyring, &mut w.rng)
            .await
            .expect("imports");
        drop(vault.lock());

        let keyring = WebCryptoKeyring::load("test-webcrypto")
            .await
            .expect("the same key");
        let store = IndexedDbStore::open("phantom-sync-test-webcrypto")
            .await
            .expect("reopened");
        let vault = Vault::unlock(store, &keyring, None, suite::NOW)
            .await
            .expect("unlocks");
        assert_eq!(
            vault.fingerprint().await.expect("fingerprint"),
            w.persona.fingerprint()
        );
        assert!(
            export_key(keyring.crypto_key()).await.is_err(),
            "the key cannot be read out"
        );

        let other = WebCryptoKeyring::load_or_create("test-webcrypto-other")
            .await
            .expect("a key");
        let locked = vault.lock();
        let refused = Vault::unlock(&locked, &other, None, suite::NOW).await;
        assert_eq!(refused.err().map(|e| e.code()), Some("device_key_rejected"));
        assert_eq!(
            WebCryptoKeyring::load("test-webcrypto-missing")
                .await
                .err()
                .map(|e| e.code()),
            Some("device_key_missing")
        );
    }

    #[wasm_bindgen_test]
    async fn a_database_deleted_by_another_tab_reports_closed_and_a_blocked_delete_reports_blocked()
    {
        use phantom_sync::vault::store::{RawStore, StoreError, StoreName};

        let name = "phantom-sync-test-lifecycle";
        let store = IndexedDb.fresh("lifecycle").await;
        // Another tab deletes the database: this connection steps aside instead of blocking.
        IndexedDbStore::delete(name)
            .await
            .expect("not blocked by our own connection");
        assert_eq!(
            store.get(StoreName::Meta, b"schema_version").await,
            Err(StoreError::Closed)
        );

        // A connection that ignores version changes blocks the delete: a typed error.
        hold_open(name).await.expect("held open");
        assert_eq!(IndexedDbStore::delete(name).await, Err(StoreError::Blocked));
        release();
        IndexedDbStore::delete(name)
            .await
            .expect("deleted once released");
    }
}
