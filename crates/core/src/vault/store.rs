//! The storage trait under the vault: named stores of opaque byte keys and values.
//!
//! The vault encrypts before it writes, so an implementation only ever sees keyed hashes
//! and ciphertext. `write` is atomic — all operations or none — which is what makes an
//! identity import all-or-nothing. [`MemoryStore`] serves native tests; the browser uses
//! the IndexedDB driver (`drivers::indexeddb`). One conformance suite runs against both.
//!
//! ```
//! use phantom_core::vault::store::{MemoryStore, RawStore, StoreName, WriteOp};
//!
//! let store = MemoryStore::new();
//! pollster::block_on(async {
//!     store.write(vec![WriteOp::put(StoreName::Meta, b"k", b"v")]).await?;
//!     assert_eq!(store.get(StoreName::Meta, b"k").await?, Some(b"v".to_vec()));
//!     Ok::<(), phantom_core::vault::store::StoreError>(())
//! })?;
//! # Ok::<(), phantom_core::vault::store::StoreError>(())
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;

use thiserror::Error;

/// The object stores of a vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreName {
    /// Schema version, key check, wrapped passphrase: what is needed before unlocking.
    Meta,
    /// The persona without its contacts and conversations: one record.
    Persona,
    /// This device's keys and its messaging state (Olm account, sessions).
    Device,
    /// One record per contact.
    Contacts,
    /// One record per conversation.
    Conversations,
    /// Every conversation's messages, keyed by conversation so that one is a key range.
    Messages,
    /// One sync cursor per mailbox.
    Cursors,
    /// Blocks of the history transfers this device offered, until they are served.
    History,
}

impl StoreName {
    /// Every store: the browser creates each, and the cipher derives keys for each.
    pub const ALL: [StoreName; 8] = [
        StoreName::Meta,
        StoreName::Persona,
        StoreName::Device,
        StoreName::Contacts,
        StoreName::Conversations,
        StoreName::Messages,
        StoreName::Cursors,
        StoreName::History,
    ];

    /// The store's name: the IndexedDB object store's, and part of its keys' derivation
    /// and of every record's associated data, so it must never change.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreName::Meta => "meta",
            StoreName::Persona => "persona",
            StoreName::Device => "device",
            StoreName::Contacts => "contacts",
            StoreName::Conversations => "conversations",
            StoreName::Messages => "messages",
            StoreName::Cursors => "cursors",
            StoreName::History => "history",
        }
    }
}

/// One change in an atomic write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Stores `value` under `key`, over any record there.
    Put {
        /// The store written to.
        store: StoreName,
        /// The stored key.
        key: Vec<u8>,
        /// The record's bytes.
        value: Vec<u8>,
    },
    /// A put that keeps the record already under `key`, if there is one.
    Insert {
        /// The store written to.
        store: StoreName,
        /// The stored key.
        key: Vec<u8>,
        /// The record's bytes, stored only if `key` holds none.
        value: Vec<u8>,
    },
    /// Removes the record under `key`; nothing happens if there is none.
    Delete {
        /// The store removed from.
        store: StoreName,
        /// The stored key.
        key: Vec<u8>,
    },
    /// Writes nothing; the whole write fails with [`StoreError::Superseded`] unless the
    /// record under `key` is `value` when it commits (a fence: see [`super::writer`]).
    Expect {
        /// The store read.
        store: StoreName,
        /// The stored key.
        key: Vec<u8>,
        /// The bytes the record must hold.
        value: Vec<u8>,
    },
}

impl WriteOp {
    /// The same write as an overwrite: an insert becomes a put.
    pub fn into_put(self) -> WriteOp {
        match self {
            WriteOp::Insert { store, key, value } => WriteOp::Put { store, key, value },
            other => other,
        }
    }

    /// The store the operation touches.
    pub fn store(&self) -> StoreName {
        match self {
            WriteOp::Put { store, .. }
            | WriteOp::Insert { store, .. }
            | WriteOp::Delete { store, .. }
            | WriteOp::Expect { store, .. } => *store,
        }
    }

    /// A [`WriteOp::Put`] of copies of `key` and `value`.
    pub fn put(store: StoreName, key: &[u8], value: &[u8]) -> Self {
        WriteOp::Put {
            store,
            key: key.to_vec(),
            value: value.to_vec(),
        }
    }
}

/// Why the storage underneath failed. Nothing written in a failed `write` is kept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The browser refused the write for lack of space (IndexedDB's `QuotaExceededError`).
    #[error("the browser's storage quota is exhausted; free some space and retry")]
    QuotaExceeded,
    /// Opening or deleting the database waits on a connection in another tab that does not
    /// close.
    #[error("another tab holds an older version of the database open; close it and retry")]
    Blocked,
    /// The connection is closed (IndexedDB's `InvalidStateError`): site data was cleared,
    /// or another tab upgraded or deleted the database.
    #[error("the database was closed (the browser may have cleared site data)")]
    Closed,
    /// The database's IndexedDB version is newer than this build's
    /// [`SCHEMA_VERSION`](super::schema::SCHEMA_VERSION) (`VersionError`).
    #[error("the database was written by a newer version of the app; update it")]
    NewerVersion,
    /// This context has no IndexedDB or may not use it; the text is the browser's reason.
    #[error("storage is not available in this browser context: {0}")]
    Unavailable(String),
    /// Any other failure of the storage; the text names it, for the log.
    #[error("the storage failed: {0}")]
    Failed(String),
    /// Another tab or window opened this device since: it writes now, this one no more.
    #[error("this device is open in another tab or window, which writes its data now")]
    Superseded,
}

impl StoreError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::QuotaExceeded => "quota_exceeded",
            StoreError::Blocked => "database_blocked",
            StoreError::Closed => "database_closed",
            StoreError::NewerVersion => "newer_schema",
            StoreError::Unavailable(_) => "storage_unavailable",
            StoreError::Failed(_) => "storage_failed",
            StoreError::Superseded => "open_elsewhere",
        }
    }
}

/// Named stores of byte keys and values, with atomic batched writes.
#[allow(async_fn_in_trait)]
pub trait RawStore {
    /// The record under `key` in `store`, if there is one.
    async fn get(&self, store: StoreName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every record whose key starts with `prefix`, in key order.
    async fn scan_prefix(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;

    /// At most `limit` records whose key starts with `prefix` and comes after `after` (from
    /// the first when `None`), in key order: a prefix read a page at a time.
    async fn scan_prefix_page(
        &self,
        store: StoreName,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;

    /// How many records have a key starting with `prefix`.
    async fn count_prefix(&self, store: StoreName, prefix: &[u8]) -> Result<u32, StoreError>;

    /// Applies every operation, or — if any fails or the page goes away — none. For each
    /// [`WriteOp::Insert`], in order, whether its record was new.
    async fn write_new(&self, ops: Vec<WriteOp>) -> Result<Vec<bool>, StoreError>;

    /// [`RawStore::write_new`], for writes that need not know what was new.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.write_new(ops).await.map(drop)
    }
}

/// Records by store and key.
type Records = BTreeMap<(StoreName, Vec<u8>), Vec<u8>>;

/// An in-memory store for native tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: RefCell<Records>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RawStore for MemoryStore {
    async fn get(&self, store: StoreName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.records.borrow().get(&(store, key.to_vec())).cloned())
    }

    async fn scan_prefix(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        Ok(self
            .records
            .borrow()
            .range((store, prefix.to_vec())..)
            .take_while(|((name, key), _)| *name == store && key.starts_with(prefix))
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }

    async fn scan_prefix_page(
        &self,
        store: StoreName,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let start = match after {
            Some(after) => Bound::Excluded((store, after.to_vec())),
            None => Bound::Included((store, prefix.to_vec())),
        };
        Ok(self
            .records
            .borrow()
            .range((start, Bound::Unbounded))
            .take_while(|((name, key), _)| *name == store && key.starts_with(prefix))
            .take(limit as usize)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect())
    }

    async fn count_prefix(&self, store: StoreName, prefix: &[u8]) -> Result<u32, StoreError> {
        let records = self.records.borrow();
        let count = records
            .range((store, prefix.to_vec())..)
            .take_while(|((name, key), _)| *name == store && key.starts_with(prefix))
            .count();
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn write_new(&self, ops: Vec<WriteOp>) -> Result<Vec<bool>, StoreError> {
        let mut records = self.records.borrow_mut();
        let fenced = ops.iter().any(|op| match op {
            WriteOp::Expect { store, key, value } => {
                records.get(&(*store, key.clone())) != Some(value)
            }
            _ => false,
        });
        if fenced {
            return Err(StoreError::Superseded);
        }
        let mut inserted = Vec::new();
        for op in ops {
            match op {
                WriteOp::Put { store, key, value } => {
                    records.insert((store, key), value);
                }
                WriteOp::Insert { store, key, value } => {
                    let new = !records.contains_key(&(store, key.clone()));
                    if new {
                        records.insert((store, key), value);
                    }
                    inserted.push(new);
                }
                WriteOp::Delete { store, key } => {
                    records.remove(&(store, key));
                }
                WriteOp::Expect { .. } => {}
            }
        }
        Ok(inserted)
    }
}

/// Stores shared by reference — borrowed, or counted (`Rc`) as the JS facade holds them —
/// are stores too, so a failed unlock leaves the caller holding its store.
macro_rules! forward_raw_store {
    ($($pointer:ty),*) => {$(
        impl<T: RawStore> RawStore for $pointer {
            async fn get(&self, store: StoreName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
                (**self).get(store, key).await
            }

            async fn scan_prefix(
                &self,
                store: StoreName,
                prefix: &[u8],
            ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
                (**self).scan_prefix(store, prefix).await
            }

            async fn scan_prefix_page(
                &self,
                store: StoreName,
                prefix: &[u8],
                after: Option<&[u8]>,
                limit: u32,
            ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
                (**self).scan_prefix_page(store, prefix, after, limit).await
            }

            async fn count_prefix(&self, store: StoreName, prefix: &[u8]) -> Result<u32, StoreError> {
                (**self).count_prefix(store, prefix).await
            }

            async fn write_new(&self, ops: Vec<WriteOp>) -> Result<Vec<bool>, StoreError> {
                (**self).write_new(ops).await
            }
        }
    )*};
}

forward_raw_store!(&T, std::rc::Rc<T>);
