//! The IndexedDB driver: a [`RawStore`] on the browser's IndexedDB.
//!
//! One database per vault (its name selects an isolated device profile), one object store
//! per [`StoreName`], binary keys and `Uint8Array` values. A `write` issues every request
//! in one `readwrite` transaction before waiting once for it to complete, so a batch costs
//! one round trip and is atomic: if anything fails — or the tab closes — none of it is kept.
//! The connection closes itself when another tab upgrades the database, so it never blocks
//! one; a later call then fails with [`StoreError::Closed`].

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbDatabase, IdbFactory, IdbKeyRange, IdbOpenDbRequest, IdbRequest,
    IdbTransaction, IdbTransactionMode,
};

use crate::vault::schema::SCHEMA_VERSION;
use crate::vault::store::{RawStore, StoreError, StoreName, WriteOp};

/// A vault database in IndexedDB.
#[derive(Debug)]
pub struct IndexedDbStore {
    db: IdbDatabase,
}

impl IndexedDbStore {
    /// Opens (creating if needed) the database `name` at the current schema version.
    pub async fn open(name: &str) -> Result<Self, StoreError> {
        let stores = StoreName::ALL.map(StoreName::as_str);
        Ok(Self {
            db: open_database(name, SCHEMA_VERSION, &stores).await?,
        })
    }

    /// Deletes the database `name` and everything in it.
    pub async fn delete(name: &str) -> Result<(), StoreError> {
        let request = factory()?
            .delete_database(name)
            .map_err(|e| map_error(&e))?;
        JsFuture::from(open_request_promise(&request))
            .await
            .map_err(|e| map_error(&e))?;
        Ok(())
    }

    pub fn name(&self) -> String {
        self.db.name()
    }

    fn transaction(
        &self,
        stores: &[StoreName],
        mode: IdbTransactionMode,
    ) -> Result<IdbTransaction, StoreError> {
        let names: Array = stores
            .iter()
            .map(|s| JsValue::from_str(s.as_str()))
            .collect();
        self.db
            .transaction_with_str_sequence_and_mode(&names, mode)
            .map_err(|e| map_error(&e))
    }
}

/// Dropping the store closes its connection; the data stays.
impl Drop for IndexedDbStore {
    fn drop(&mut self) {
        self.db.close();
    }
}

impl RawStore for IndexedDbStore {
    async fn get(&self, store: StoreName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.transaction(&[store], IdbTransactionMode::Readonly)?;
        let request = tx
            .object_store(store.as_str())
            .and_then(|s| s.get(&Uint8Array::from(key)))
            .map_err(|e| map_error(&e))?;
        let value = request_result(&request).await?;
        if value.is_undefined() {
            return Ok(None);
        }
        value
            .dyn_into::<Uint8Array>()
            .map(|bytes| Some(bytes.to_vec()))
            .map_err(|_| {
                StoreError::Failed(format!("a value in `{}` is not bytes", store.as_str()))
            })
    }

    async fn scan_prefix(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let tx = self.transaction(&[store], IdbTransactionMode::Readonly)?;
        let object_store = tx.object_store(store.as_str()).map_err(|e| map_error(&e))?;
        let range = prefix_range(prefix)?;
        let (keys, values) = match &range {
            Some(range) => (
                object_store.get_all_keys_with_key(range),
                object_store.get_all_with_key(range),
            ),
            None => (object_store.get_all_keys(), object_store.get_all()),
        };
        let keys = keys.map_err(|e| map_error(&e))?;
        let values = values.map_err(|e| map_error(&e))?;
        let keys: Array = request_result(&keys).await?.unchecked_into();
        let values: Array = request_result(&values).await?.unchecked_into();
        keys.iter()
            .zip(values.iter())
            .map(|(key, value)| Ok((bytes_of(key, store)?, bytes_of(value, store)?)))
            .collect()
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut stores: Vec<StoreName> = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put { store, .. } | WriteOp::Delete { store, .. } => *store,
            })
            .collect();
        stores.sort();
        stores.dedup();
        let tx = self.transaction(&stores, IdbTransactionMode::Readwrite)?;
        let done = Promise::new(&mut |resolve, reject| {
            let on_complete = Closure::once_into_js(move |_: web_sys::Event| {
                let _ = resolve.call0(&JsValue::NULL);
            });
            let failing_tx = tx.clone();
            let on_abort = Closure::once_into_js(move |_: web_sys::Event| {
                let error = failing_tx
                    .error()
                    .map(JsValue::from)
                    .unwrap_or_else(|| JsValue::from_str("AbortError"));
                let _ = reject.call1(&JsValue::NULL, &error);
            });
            tx.set_oncomplete(Some(on_complete.unchecked_ref()));
            tx.set_onabort(Some(on_abort.unchecked_ref()));
        });
        let issued = ops.into_iter().try_for_each(|op| {
            let result = match op {
                WriteOp::Put { store, key, value } => {
                    tx.object_store(store.as_str()).and_then(|s| {
                        s.put_with_key(&Uint8Array::from(&value[..]), &Uint8Array::from(&key[..]))
                    })
                }
                WriteOp::Delete { store, key } => tx
                    .object_store(store.as_str())
                    .and_then(|s| s.delete(&Uint8Array::from(&key[..]))),
            };
            result.map(|_| ())
        });
        if let Err(error) = issued {
            // Nothing is committed: undo what was issued and report why.
            let _ = tx.abort();
            return Err(map_error(&error));
        }
        JsFuture::from(done).await.map_err(|e| map_error(&e))?;
        Ok(())
    }
}

const BLOCKED: &str = "phantom-sync: blocked";

/// Opens `name` at `version`, creating the object stores it lacks. The connection closes
/// itself when another tab asks to upgrade, so it never blocks one.
pub(crate) async fn open_database(
    name: &str,
    version: u32,
    stores: &[&'static str],
) -> Result<IdbDatabase, StoreError> {
    let request = factory()?
        .open_with_u32(name, version)
        .map_err(|e| map_error(&e))?;
    let wanted = stores.to_vec();
    let on_upgrade = Closure::once_into_js(move |event: web_sys::Event| {
        let Some(db) = event
            .target()
            .and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok())
            .and_then(|r| r.result().ok())
            .and_then(|r| r.dyn_into::<IdbDatabase>().ok())
        else {
            return;
        };
        for store in wanted {
            if !db.object_store_names().contains(store) {
                // A failure here aborts the upgrade, which the open request reports.
                let _ = db.create_object_store(store);
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    let opened = open_request_promise(&request);
    let db: IdbDatabase = JsFuture::from(opened)
        .await
        .map_err(|e| map_error(&e))?
        .dyn_into()
        .map_err(|_| StoreError::Failed("open returned no database".into()))?;
    let to_close = db.clone();
    let on_version_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| to_close.close());
    db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
    on_version_change.forget();
    Ok(db)
}

fn factory() -> Result<IdbFactory, StoreError> {
    let value = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .map_err(|_| StoreError::Unavailable("no IndexedDB in this context".into()))?;
    if value.is_undefined() || value.is_null() {
        return Err(StoreError::Unavailable(
            "no IndexedDB in this context".into(),
        ));
    }
    value
        .dyn_into()
        .map_err(|_| StoreError::Unavailable("indexedDB is not an IDBFactory".into()))
}

/// Settles like any request, and rejects with [`StoreError::Blocked`] when another
/// connection keeps the database from being upgraded or deleted.
fn open_request_promise(request: &IdbOpenDbRequest) -> Promise {
    Promise::new(&mut |resolve, reject| {
        let blocked_reject = reject.clone();
        let on_blocked = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = blocked_reject.call1(&JsValue::NULL, &JsValue::from_str(BLOCKED));
        });
        request.set_onblocked(Some(on_blocked.unchecked_ref()));
        settle_request(request, resolve, reject);
    })
}

/// Resolves with the request's result, rejects with its error.
fn settle_request(request: &IdbRequest, resolve: js_sys::Function, reject: js_sys::Function) {
    let succeeded = request.clone();
    let on_success = Closure::once_into_js(move |_: web_sys::Event| {
        let result = succeeded.result().unwrap_or(JsValue::UNDEFINED);
        let _ = resolve.call1(&JsValue::NULL, &result);
    });
    let failed = request.clone();
    let on_error = Closure::once_into_js(move |event: web_sys::Event| {
        // The transaction reports the failure too; keep the error from reaching window.
        event.prevent_default();
        let error = failed
            .error()
            .ok()
            .flatten()
            .map(JsValue::from)
            .unwrap_or_else(|| JsValue::from_str("UnknownError"));
        let _ = reject.call1(&JsValue::NULL, &error);
    });
    request.set_onsuccess(Some(on_success.unchecked_ref()));
    request.set_onerror(Some(on_error.unchecked_ref()));
}

pub(crate) async fn request_result(request: &IdbRequest) -> Result<JsValue, StoreError> {
    let settled = Promise::new(&mut |resolve, reject| settle_request(request, resolve, reject));
    JsFuture::from(settled).await.map_err(|e| map_error(&e))
}

/// Keys starting with `prefix`: from the prefix up to, not including, the next prefix.
fn prefix_range(prefix: &[u8]) -> Result<Option<IdbKeyRange>, StoreError> {
    if prefix.is_empty() {
        return Ok(None);
    }
    let lower = Uint8Array::from(prefix);
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return IdbKeyRange::bound_with_lower_open_and_upper_open(
                &lower,
                &Uint8Array::from(&upper[..]),
                false,
                true,
            )
            .map(Some)
            .map_err(|e| map_error(&e));
        }
    }
    IdbKeyRange::lower_bound(&lower)
        .map(Some)
        .map_err(|e| map_error(&e))
}

fn bytes_of(value: JsValue, store: StoreName) -> Result<Vec<u8>, StoreError> {
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    // IndexedDB hands binary keys back as ArrayBuffers.
    if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err(StoreError::Failed(format!(
        "a record in `{}` is not bytes",
        store.as_str()
    )))
}

/// Turns what IndexedDB threw or rejected with into a typed error.
pub(crate) fn map_error(error: &JsValue) -> StoreError {
    if error.as_string().as_deref() == Some(BLOCKED) {
        return StoreError::Blocked;
    }
    let (name, message) = match error.dyn_ref::<DomException>() {
        Some(dom) => (dom.name(), dom.message()),
        None => match error.dyn_ref::<js_sys::Error>() {
            Some(js) => (String::from(js.name()), String::from(js.message())),
            None => (error.as_string().unwrap_or_default(), String::new()),
        },
    };
    match name.as_str() {
        "QuotaExceededError" => StoreError::QuotaExceeded,
        "InvalidStateError" => StoreError::Closed,
        "VersionError" => StoreError::NewerVersion,
        "SecurityError" | "InvalidAccessError" => StoreError::Unavailable(message),
        _ => StoreError::Failed(format!("{name}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    #[wasm_bindgen_test]
    fn dom_exceptions_become_typed_errors() {
        let dom = |name: &str| -> JsValue {
            DomException::new_with_message_and_name("from the test", name)
                .expect("a DOMException")
                .into()
        };
        assert_eq!(
            map_error(&dom("QuotaExceededError")),
            StoreError::QuotaExceeded
        );
        assert_eq!(map_error(&dom("InvalidStateError")), StoreError::Closed);
        assert_eq!(map_error(&dom("VersionError")), StoreError::NewerVersion);
        assert_eq!(map_error(&JsValue::from_str(BLOCKED)), StoreError::Blocked);
        assert!(matches!(
            map_error(&dom("DataError")),
            StoreError::Failed(_)
        ));
    }
}
