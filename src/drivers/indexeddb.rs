//! The IndexedDB driver: a [`RawStore`] on the browser's IndexedDB.
//!
//! One database per vault (its name selects an isolated device profile), one object store
//! per [`StoreName`], binary keys and `Uint8Array` values. A `write` issues every request
//! in one `readwrite` transaction, with strict durability, before waiting once for it to
//! complete: a batch costs one round trip and is atomic — if anything fails, or the tab
//! closes, none of it is kept — and once it reports success it is on disk. The connection
//! closes itself when another tab upgrades or deletes the database, so it never blocks
//! one; a later call then fails with [`StoreError::Closed`].
//!
//! Every event handler is owned by the Rust future that waits for it and is removed when
//! that future ends, so nothing is left behind in the JS heap per request.

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, Event, IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStore, IdbOpenDbRequest,
    IdbRequest, IdbTransaction, IdbTransactionMode,
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

    /// Deletes the database `name` and everything in it. [`StoreError::Blocked`] means a
    /// connection elsewhere ignores the request; the deletion then happens once it closes.
    pub async fn delete(name: &str) -> Result<(), StoreError> {
        let request = factory()?
            .delete_database(name)
            .map_err(|e| map_error(&e))?;
        OpenWait::new(&request).wait().await?;
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
        let mode = match mode {
            IdbTransactionMode::Readwrite => "readwrite",
            _ => "readonly",
        };
        // `durability` is not in web-sys's stable API: call `transaction` with it directly.
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"durability".into(), &"strict".into())
            .map_err(|e| map_error(&e))?;
        let transaction: js_sys::Function = js_sys::Reflect::get(&self.db, &"transaction".into())
            .map_err(|e| map_error(&e))?
            .unchecked_into();
        transaction
            .call3(&self.db, &names, &mode.into(), &options)
            .map_err(|e| map_error(&e))?
            .dyn_into()
            .map_err(|_| StoreError::Failed("transaction() returned no transaction".into()))
    }
}

impl IndexedDbStore {
    /// The records in `range`, in key order, the first `limit` of them if given.
    async fn read_range(
        &self,
        store: StoreName,
        range: &IdbKeyRange,
        limit: Option<u32>,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let tx = self.transaction(&[store], IdbTransactionMode::Readonly)?;
        let object_store = tx.object_store(store.as_str()).map_err(|e| map_error(&e))?;
        let (keys, values) = match limit {
            Some(limit) => (
                object_store.get_all_keys_with_key_and_limit(range, limit),
                object_store.get_all_with_key_and_limit(range, limit),
            ),
            None => (
                object_store.get_all_keys_with_key(range),
                object_store.get_all_with_key(range),
            ),
        };
        let keys = keys.map_err(|e| map_error(&e))?;
        let values = values.map_err(|e| map_error(&e))?;
        // Both waits exist before either is awaited: their events may come in one task.
        let (keys, values) = (RequestWait::new(&keys), RequestWait::new(&values));
        let keys: Array = keys.wait().await?.unchecked_into();
        let values: Array = values.wait().await?.unchecked_into();
        keys.iter()
            .zip(values.iter())
            .map(|(key, value)| Ok((bytes_of(key, store)?, bytes_of(value, store)?)))
            .collect()
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
        let value = RequestWait::new(&request).wait().await?;
        if value.is_undefined() {
            return Ok(None);
        }
        bytes_of(value, store).map(Some)
    }

    async fn scan_prefix(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.read_range(store, &page_range(prefix, None)?, None)
            .await
    }

    async fn scan_prefix_page(
        &self,
        store: StoreName,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.read_range(store, &page_range(prefix, after)?, Some(limit))
            .await
    }

    async fn count_prefix(&self, store: StoreName, prefix: &[u8]) -> Result<u32, StoreError> {
        let tx = self.transaction(&[store], IdbTransactionMode::Readonly)?;
        let object_store = tx.object_store(store.as_str()).map_err(|e| map_error(&e))?;
        let request = match prefix_range(prefix)? {
            Some(range) => object_store.count_with_key(&range),
            None => object_store.count(),
        }
        .map_err(|e| map_error(&e))?;
        let count = RequestWait::new(&request).wait().await?;
        Ok(count.as_f64().unwrap_or(0.0) as u32)
    }

    async fn write_new(&self, ops: Vec<WriteOp>) -> Result<Vec<bool>, StoreError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut stores: Vec<StoreName> = ops.iter().map(WriteOp::store).collect();
        stores.sort();
        stores.dedup();
        let tx = self.transaction(&stores, IdbTransactionMode::Readwrite)?;
        let done = TransactionWait::new(&tx);
        let inserts = ops
            .iter()
            .filter(|op| matches!(op, WriteOp::Insert { .. }))
            .count();
        let existing = ExistingKeys::new(inserts);
        let fence = Fence::new(&tx);
        let object_stores = stores
            .iter()
            .map(|store| tx.object_store(store.as_str()).map(|os| (*store, os)))
            .collect::<Result<Vec<(StoreName, IdbObjectStore)>, JsValue>>();
        let issued = object_stores.and_then(|object_stores| {
            let object_store = |wanted: StoreName| {
                object_stores
                    .iter()
                    .find(|(store, _)| *store == wanted)
                    .map(|(_, os)| os)
                    .ok_or_else(|| JsValue::from_str("store not in the transaction"))
            };
            let mut insert_index = 0u32;
            ops.into_iter().try_for_each(|op| match op {
                WriteOp::Put { store, key, value } => object_store(store)?
                    .put_with_key(&Uint8Array::from(&value[..]), &Uint8Array::from(&key[..]))
                    .map(drop),
                WriteOp::Insert { store, key, value } => {
                    let request = object_store(store)?
                        .add_with_key(&Uint8Array::from(&value[..]), &Uint8Array::from(&key[..]))?;
                    existing.watch(&request, insert_index);
                    insert_index += 1;
                    Ok(())
                }
                WriteOp::Delete { store, key } => object_store(store)?
                    .delete(&Uint8Array::from(&key[..]))
                    .map(drop),
                WriteOp::Expect { store, key, value } => {
                    let request = object_store(store)?.get(&Uint8Array::from(&key[..]))?;
                    fence.watch(&request, store, value);
                    Ok(())
                }
            })
        });
        if let Err(error) = issued {
            // Nothing is committed: undo what was issued and report why.
            let _ = tx.abort();
            done.wait().await.ok();
            return Err(map_error(&error));
        }
        let committed = done.wait().await;
        if fence.tripped() {
            return Err(StoreError::Superseded);
        }
        committed?;
        Ok(existing.inserted())
    }
}

/// The [`WriteOp::Expect`]s of a write: each reads its record inside the transaction and
/// aborts the whole transaction when the record is not the expected value. The read is
/// issued before the write's changes and answered before the transaction can commit, so
/// nothing of an aborted write is kept.
struct Fence {
    tx: IdbTransaction,
    tripped: std::rc::Rc<std::cell::Cell<bool>>,
    handlers: std::cell::RefCell<Vec<Handler>>,
}

type Handler = Closure<dyn FnMut(Event)>;

impl Fence {
    fn new(tx: &IdbTransaction) -> Self {
        Self {
            tx: tx.clone(),
            tripped: std::rc::Rc::new(std::cell::Cell::new(false)),
            handlers: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn watch(&self, request: &IdbRequest, store: StoreName, expected: Vec<u8>) {
        let tx = self.tx.clone();
        let tripped = std::rc::Rc::clone(&self.tripped);
        let read = request.clone();
        let on_success = on_event(move |_| {
            let found = read
                .result()
                .ok()
                .and_then(|value| bytes_of(value, store).ok());
            if found.as_deref() != Some(&expected[..]) {
                tripped.set(true);
                let _ = tx.abort();
            }
        });
        request.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
        self.handlers.borrow_mut().push(on_success);
    }

    fn tripped(&self) -> bool {
        self.tripped.get()
    }
}

/// Which inserts of a write found their key taken. An `add` onto an existing key fails
/// with a `ConstraintError`; cancelling that error keeps the transaction going, so the
/// record already there stays and the rest of the write commits.
struct ExistingKeys {
    taken: std::rc::Rc<std::cell::RefCell<Vec<bool>>>,
    on_error: Closure<dyn FnMut(Event)>,
}

impl ExistingKeys {
    fn new(inserts: usize) -> Self {
        let taken = std::rc::Rc::new(std::cell::RefCell::new(vec![false; inserts]));
        let marking = std::rc::Rc::clone(&taken);
        let on_error = on_event(move |event| {
            let Some(request) = event
                .target()
                .and_then(|target| target.dyn_into::<IdbRequest>().ok())
            else {
                return;
            };
            let constraint = request
                .error()
                .ok()
                .flatten()
                .is_some_and(|error| error.name() == "ConstraintError");
            let index = js_sys::Reflect::get(&request, &INSERT_INDEX.into())
                .ok()
                .and_then(|index| index.as_f64());
            if let (true, Some(index)) = (constraint, index) {
                event.prevent_default();
                event.stop_propagation();
                if let Some(slot) = marking.borrow_mut().get_mut(index as usize) {
                    *slot = true;
                }
            }
        });
        Self { taken, on_error }
    }

    fn watch(&self, request: &IdbRequest, index: u32) {
        // The request object carries its place in the write to the shared handler.
        let _ = js_sys::Reflect::set(request, &INSERT_INDEX.into(), &index.into());
        request.set_onerror(Some(self.on_error.as_ref().unchecked_ref()));
    }

    fn inserted(&self) -> Vec<bool> {
        self.taken.borrow().iter().map(|taken| !taken).collect()
    }
}

const INSERT_INDEX: &str = "phantomInsertIndex";

const BLOCKED: &str = "phantom-sync: blocked";

/// Opens `name` at `version`, creating the object stores it lacks. The connection closes
/// itself when another tab asks to upgrade or delete, so it never blocks one.
pub(crate) async fn open_database(
    name: &str,
    version: u32,
    stores: &[&'static str],
) -> Result<IdbDatabase, StoreError> {
    let request = factory()?
        .open_with_u32(name, version)
        .map_err(|e| map_error(&e))?;
    let wanted = stores.to_vec();
    let upgrading = request.clone();
    let on_upgrade = Closure::<dyn FnMut(Event)>::new(move |_| {
        let Some(db) = upgrading
            .result()
            .ok()
            .and_then(|r| r.dyn_into::<IdbDatabase>().ok())
        else {
            return;
        };
        for store in &wanted {
            if !db.object_store_names().contains(store) {
                // A failure here aborts the upgrade, which the open request reports.
                let _ = db.create_object_store(store);
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let opened = OpenWait::new(&request).wait().await;
    request.set_onupgradeneeded(None);
    drop(on_upgrade);
    let db: IdbDatabase = opened?
        .dyn_into()
        .map_err(|_| StoreError::Failed("open returned no database".into()))?;
    close_on_version_change(&db);
    Ok(db)
}

/// A connection that closes when another tab upgrades or deletes its database. The handler
/// lives as long as the connection, and goes with it.
fn close_on_version_change(db: &IdbDatabase) {
    let to_close = db.clone();
    let handler = Closure::<dyn FnMut(Event)>::new(move |_| to_close.close());
    db.set_onversionchange(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
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

/// A promise and the handlers that settle it; dropping it removes the handlers.
struct Settling {
    promise: Promise,
    handlers: Vec<Closure<dyn FnMut(Event)>>,
}

impl Settling {
    /// `attach` receives the promise's resolve and reject functions and returns handlers.
    fn new(
        attach: impl FnOnce(js_sys::Function, js_sys::Function) -> Vec<Closure<dyn FnMut(Event)>>,
    ) -> Self {
        let mut handlers = Vec::new();
        let mut attach = Some(attach);
        let promise = Promise::new(&mut |resolve, reject| {
            if let Some(attach) = attach.take() {
                handlers = attach(resolve, reject);
            }
        });
        Self { promise, handlers }
    }

    async fn settle(self) -> Result<JsValue, JsValue> {
        let result = JsFuture::from(self.promise.clone()).await;
        drop(self.handlers);
        result
    }
}

fn on_event(handler: impl FnMut(Event) + 'static) -> Closure<dyn FnMut(Event)> {
    Closure::new(handler)
}

/// Settles with a request's result or error; the handlers are returned to be kept alive.
fn result_handlers(
    request: &IdbRequest,
    resolve: js_sys::Function,
    reject: js_sys::Function,
) -> Vec<Closure<dyn FnMut(Event)>> {
    let succeeded = request.clone();
    let on_success = on_event(move |_| {
        let result = succeeded.result().unwrap_or(JsValue::UNDEFINED);
        let _ = resolve.call1(&JsValue::NULL, &result);
    });
    let failed = request.clone();
    let on_error = on_event(move |event| {
        // The transaction reports the failure too; keep it from reaching window.
        event.prevent_default();
        let _ = reject.call1(&JsValue::NULL, &request_error(&failed));
    });
    request.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
    request.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    vec![on_success, on_error]
}

/// Waits for a request's result.
pub(crate) struct RequestWait {
    request: IdbRequest,
    settling: Settling,
}

impl RequestWait {
    pub(crate) fn new(request: &IdbRequest) -> Self {
        let settling = Settling::new(|resolve, reject| result_handlers(request, resolve, reject));
        Self {
            request: request.clone(),
            settling,
        }
    }

    pub(crate) async fn wait(self) -> Result<JsValue, StoreError> {
        let result = self.settling.settle().await;
        self.request.set_onsuccess(None);
        self.request.set_onerror(None);
        result.map_err(|e| map_error(&e))
    }
}

/// Waits for an open or delete request, which may also be blocked by another connection.
struct OpenWait {
    request: IdbOpenDbRequest,
    settling: Settling,
}

impl OpenWait {
    fn new(request: &IdbOpenDbRequest) -> Self {
        let settling = Settling::new(|resolve, reject| {
            let on_blocked = on_event({
                let reject = reject.clone();
                move |_| {
                    let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(BLOCKED));
                }
            });
            request.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));
            let mut handlers = result_handlers(request, resolve, reject);
            handlers.push(on_blocked);
            handlers
        });
        Self {
            request: request.clone(),
            settling,
        }
    }

    async fn wait(self) -> Result<JsValue, StoreError> {
        let result = self.settling.settle().await;
        self.request.set_onerror(None);
        self.request.set_onblocked(None);
        match result {
            Ok(value) => {
                self.request.set_onsuccess(None);
                Ok(value)
            }
            Err(error) => {
                // A blocked open may still succeed later: close that connection at once.
                let late = self.request.clone();
                let close_late = Closure::once_into_js(move |_: Event| {
                    if let Ok(db) = late.result().and_then(|r| r.dyn_into::<IdbDatabase>()) {
                        db.close();
                    }
                });
                self.request.set_onsuccess(Some(close_late.unchecked_ref()));
                Err(map_error(&error))
            }
        }
    }
}

/// Waits for a transaction to commit; an abort reports the transaction's error.
struct TransactionWait {
    tx: IdbTransaction,
    settling: Settling,
}

impl TransactionWait {
    fn new(tx: &IdbTransaction) -> Self {
        let settling = Settling::new(|resolve, reject| {
            let on_complete = on_event(move |_| {
                let _ = resolve.call0(&JsValue::NULL);
            });
            let failing = tx.clone();
            let on_abort = on_event(move |_| {
                let error = failing
                    .error()
                    .map(JsValue::from)
                    .unwrap_or_else(|| JsValue::from_str("AbortError"));
                let _ = reject.call1(&JsValue::NULL, &error);
            });
            tx.set_oncomplete(Some(on_complete.as_ref().unchecked_ref()));
            tx.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
            vec![on_complete, on_abort]
        });
        Self {
            tx: tx.clone(),
            settling,
        }
    }

    async fn wait(self) -> Result<(), StoreError> {
        let result = self.settling.settle().await;
        self.tx.set_oncomplete(None);
        self.tx.set_onabort(None);
        result.map(drop).map_err(|e| map_error(&e))
    }
}

fn request_error(request: &IdbRequest) -> JsValue {
    request
        .error()
        .ok()
        .flatten()
        .map(JsValue::from)
        .unwrap_or_else(|| JsValue::from_str("UnknownError"))
}

/// Keys starting with `prefix` and after `after` (all of them when `None`).
fn page_range(prefix: &[u8], after: Option<&[u8]>) -> Result<IdbKeyRange, StoreError> {
    let lower = Uint8Array::from(after.unwrap_or(prefix));
    let lower_open = after.is_some();
    let range = match prefix_end(prefix) {
        Some(upper) => IdbKeyRange::bound_with_lower_open_and_upper_open(
            &lower,
            &Uint8Array::from(&upper[..]),
            lower_open,
            true,
        ),
        None => IdbKeyRange::lower_bound_with_open(&lower, lower_open),
    };
    range.map_err(|e| map_error(&e))
}

/// The first key after every key that starts with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// Keys starting with `prefix`: from the prefix up to, not including, the next prefix.
fn prefix_range(prefix: &[u8]) -> Result<Option<IdbKeyRange>, StoreError> {
    if prefix.is_empty() {
        return Ok(None);
    }
    page_range(prefix, None).map(Some)
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
