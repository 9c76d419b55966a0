//! One writer per device: a [`SingleWriter`] store claims the vault for one opener (a tab,
//! a window) and fences every later write on that claim. When a second opener claims the
//! same vault, every write of the first fails with [`StoreError::Superseded`] and keeps
//! nothing, so two copies of a device can never both advance its Olm sessions or its
//! outbox — whatever the browser's own locks do (a lock can be stolen from a frozen tab that
//! wakes up later and carries on).
//!
//! The claim is a random token in the `meta` store; each write carries a
//! [`WriteOp::Expect`] of it, which the store checks inside the same atomic write.
//!
//! ```
//! # pollster::block_on(async {
//! use std::rc::Rc;
//! use phantom_core::vault::store::{MemoryStore, RawStore, StoreError, StoreName, WriteOp};
//! use phantom_core::vault::writer::SingleWriter;
//! # let mut rng = phantom_core::testing::SeededRng::new(1);
//!
//! let disk = Rc::new(MemoryStore::new());
//! let first_tab = SingleWriter::claim(Rc::clone(&disk), &mut rng).await?;
//! let second_tab = SingleWriter::claim(Rc::clone(&disk), &mut rng).await?;
//! let write = vec![WriteOp::put(StoreName::Device, b"state", b"advanced")];
//! assert_eq!(first_tab.write(write.clone()).await, Err(StoreError::Superseded));
//! second_tab.write(write).await?;
//! # Ok::<(), StoreError>(())
//! # }).unwrap();
//! ```

use std::cell::Cell;

use rand_core::CryptoRng;

use crate::vault::store::{RawStore, StoreError, StoreName, WriteOp};

/// Where the current writer's claim is kept (not secret: it only tells openers apart).
pub const WRITER_ID: &[u8] = b"writer";

/// A store written by one opener only, until another claims it.
#[derive(Debug)]
pub struct SingleWriter<S: RawStore> {
    inner: S,
    claim: [u8; 16],
    /// Set by the first write refused for another opener's claim: later ones fail at once.
    superseded: Cell<bool>,
}

impl<S: RawStore> SingleWriter<S> {
    /// Claims `inner` for this opener: from now on only this one's writes are kept.
    pub async fn claim(inner: S, rng: &mut impl CryptoRng) -> Result<Self, StoreError> {
        let mut claim = [0u8; 16];
        rng.fill_bytes(&mut claim);
        inner
            .write(vec![WriteOp::put(StoreName::Meta, WRITER_ID, &claim)])
            .await?;
        Ok(Self {
            inner,
            claim,
            superseded: Cell::new(false),
        })
    }

    /// Whether a write found that another opener claimed the store since.
    pub fn superseded(&self) -> bool {
        self.superseded.get()
    }

    /// The store underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: RawStore> RawStore for SingleWriter<S> {
    async fn get(&self, store: StoreName, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(store, key).await
    }

    async fn scan_prefix(
        &self,
        store: StoreName,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.inner.scan_prefix(store, prefix).await
    }

    async fn scan_prefix_page(
        &self,
        store: StoreName,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.inner
            .scan_prefix_page(store, prefix, after, limit)
            .await
    }

    async fn count_prefix(&self, store: StoreName, prefix: &[u8]) -> Result<u32, StoreError> {
        self.inner.count_prefix(store, prefix).await
    }

    async fn write_new(&self, ops: Vec<WriteOp>) -> Result<Vec<bool>, StoreError> {
        if self.superseded.get() {
            return Err(StoreError::Superseded);
        }
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut fenced = Vec::with_capacity(ops.len() + 1);
        fenced.push(WriteOp::Expect {
            store: StoreName::Meta,
            key: WRITER_ID.to_vec(),
            value: self.claim.to_vec(),
        });
        fenced.extend(ops);
        let written = self.inner.write_new(fenced).await;
        if matches!(written, Err(StoreError::Superseded)) {
            self.superseded.set(true);
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::testing::SeededRng;
    use crate::vault::store::MemoryStore;

    #[test]
    fn a_superseded_writer_keeps_nothing_and_learns_it() {
        pollster::block_on(async {
            let mut rng = SeededRng::new(3);
            let disk = Rc::new(MemoryStore::new());
            let first = SingleWriter::claim(Rc::clone(&disk), &mut rng)
                .await
                .expect("claimed");
            first
                .write(vec![WriteOp::put(StoreName::Device, b"k", b"one")])
                .await
                .expect("the only writer writes");
            let second = SingleWriter::claim(Rc::clone(&disk), &mut rng)
                .await
                .expect("claimed");
            assert!(
                !first.superseded(),
                "a read-only opener learns it at its next write"
            );
            assert_eq!(
                first
                    .write_new(vec![
                        WriteOp::put(StoreName::Device, b"k", b"two"),
                        WriteOp::put(StoreName::Messages, b"m", b"x"),
                    ])
                    .await,
                Err(StoreError::Superseded)
            );
            assert_eq!(
                disk.get(StoreName::Device, b"k").await,
                Ok(Some(b"one".to_vec()))
            );
            assert_eq!(disk.get(StoreName::Messages, b"m").await, Ok(None));
            assert!(first.superseded());
            assert_eq!(
                first
                    .write(vec![WriteOp::put(StoreName::Device, b"k", b"four")])
                    .await,
                Err(StoreError::Superseded),
                "and stays refused"
            );
            second
                .write(vec![WriteOp::put(StoreName::Device, b"k", b"three")])
                .await
                .expect("the new writer writes");
            assert!(!second.superseded());
        });
    }
}
