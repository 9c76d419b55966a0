//! Durable envelope storage for a node, on redb (an embedded, crash-safe key-value store).
//!
//! Per mailbox, envelopes are numbered 1, 2, 3 … in arrival order; the same envelope (same
//! id) stored twice keeps its first number. Limits: a quota of envelopes and bytes per
//! mailbox and for the whole node, and a time to live after which [`EnvelopeStore::prune`]
//! drops envelopes.
//!
//! A full store makes room rather than refusing, so nobody can lock a mailbox by filling
//! it: a full mailbox drops its own oldest envelopes; a full node drops the oldest it holds,
//! whichever mailbox they are in — expired ones first, since the time to live is the same
//! for all. Numbers are never reused: a reader's cursor stays right after an eviction.
//!
//! ```
//! use phantom_node::storage::{EnvelopeStore, Limits};
//! use phantom_sync::mailbox::{envelope::Envelope, MailboxAddress};
//!
//! let dir = tempfile::tempdir()?;
//! let store = EnvelopeStore::open(&dir.path().join("node.redb"), Limits::default())?;
//! let mailbox = MailboxAddress::from_bytes([1; 32]);
//! let put = store.put(&mailbox, &Envelope::new(b"sealed".to_vec())?, 1_700_000_000)?;
//! assert_eq!(put.seq, 1);
//! assert_eq!(store.fetch(&mailbox, 0, 10)?.items.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::protocol::{StoredEnvelope, MAX_FETCH_BYTES};
use phantom_sync::mailbox::MailboxAddress;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use thiserror::Error;

/// mailbox ‖ seq (big-endian) → stored_at (big-endian) ‖ envelope bytes.
const ENVELOPES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("envelopes");
/// mailbox ‖ envelope id → seq.
const IDS: TableDefinition<&[u8], u64> = TableDefinition::new("ids");
/// mailbox → last seq ‖ envelope count ‖ stored bytes.
const HEADS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("heads");
/// [`ENVELOPE_COUNT`] and [`BYTE_COUNT`] → the node's totals.
const TOTALS: TableDefinition<&str, u64> = TableDefinition::new("totals");
const ENVELOPE_COUNT: &str = "envelopes";
const BYTE_COUNT: &str = "bytes";
/// stored_at ‖ mailbox ‖ seq → (), to find what has expired.
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("storage: {0}")]
    Redb(#[from] redb::Error),
    #[error("the envelope is larger than a mailbox may hold")]
    TooLarge,
    #[error("a stored record is damaged")]
    Damaged,
}

macro_rules! from_redb {
    ($($error:ty),*) => {$(
        impl From<$error> for StorageError {
            fn from(error: $error) -> Self {
                StorageError::Redb(error.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// How much one mailbox and the whole node may hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_envelopes_per_mailbox: u64,
    pub max_bytes_per_mailbox: u64,
    pub max_envelopes: u64,
    pub max_bytes: u64,
    pub ttl_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelopes_per_mailbox: 100_000,
            max_bytes_per_mailbox: 256 * 1024 * 1024,
            max_envelopes: 4_000_000,
            max_bytes: 4 * 1024 * 1024 * 1024,
            ttl_secs: 30 * 24 * 3600,
        }
    }
}

/// The outcome of a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put {
    pub seq: u64,
    pub duplicate: bool,
}

/// Envelopes after a sequence number, and the mailbox's latest number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub items: Vec<StoredEnvelope>,
    pub last_seq: u64,
}

/// The tables a write transaction changes.
struct Tables<'tx> {
    ids: redb::Table<'tx, &'static [u8], u64>,
    heads: redb::Table<'tx, &'static [u8], &'static [u8]>,
    envelopes: redb::Table<'tx, &'static [u8], &'static [u8]>,
    expiry: redb::Table<'tx, &'static [u8], ()>,
    totals: redb::Table<'tx, &'static str, u64>,
}

impl<'tx> Tables<'tx> {
    fn open(tx: &'tx redb::WriteTransaction) -> Result<Self, StorageError> {
        Ok(Self {
            ids: tx.open_table(IDS)?,
            heads: tx.open_table(HEADS)?,
            envelopes: tx.open_table(ENVELOPES)?,
            expiry: tx.open_table(EXPIRY)?,
            totals: tx.open_table(TOTALS)?,
        })
    }

    fn head(&self, mailbox: &[u8]) -> Result<Head, StorageError> {
        match self.heads.get(mailbox)? {
            Some(bytes) => Head::decode(bytes.value()),
            None => Ok(Head::default()),
        }
    }

    fn total(&self, which: &str) -> Result<u64, StorageError> {
        Ok(self.totals.get(which)?.map_or(0, |total| total.value()))
    }

    /// Adds `envelopes` and `bytes` (negative: takes them away) to the node's totals.
    fn count(&mut self, envelopes: i64, bytes: i64) -> Result<(), StorageError> {
        for (which, change) in [(ENVELOPE_COUNT, envelopes), (BYTE_COUNT, bytes)] {
            let total = self.total(which)?.saturating_add_signed(change);
            self.totals.insert(which, total)?;
        }
        Ok(())
    }

    /// Removes the envelope numbered `seq` in `mailbox` from every table; false when there
    /// is none.
    fn remove(&mut self, mailbox: &[u8], seq: u64) -> Result<bool, StorageError> {
        let mut key = mailbox.to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        let Some(value) = self
            .envelopes
            .remove(key.as_slice())?
            .map(|value| value.value().to_vec())
        else {
            return Ok(false);
        };
        let (stored_at, bytes) = value.split_at_checked(8).ok_or(StorageError::Damaged)?;
        let envelope = Envelope::new(bytes.to_vec()).map_err(|_| StorageError::Damaged)?;
        let mut id_key = mailbox.to_vec();
        id_key.extend_from_slice(envelope.id().as_bytes());
        self.ids.remove(id_key.as_slice())?;
        let mut expiry_key = stored_at.to_vec();
        expiry_key.extend_from_slice(&key);
        self.expiry.remove(expiry_key.as_slice())?;
        let mut head = self.head(mailbox)?;
        head.count = head.count.saturating_sub(1);
        head.bytes = head.bytes.saturating_sub(envelope.len() as u64);
        self.heads.insert(mailbox, head.encode().as_slice())?;
        self.count(-1, -(envelope.len() as i64))?;
        Ok(true)
    }

    /// Removes the oldest envelope of `mailbox`; false when it holds none.
    fn remove_oldest_of(&mut self, mailbox: &[u8]) -> Result<bool, StorageError> {
        let mut start = mailbox.to_vec();
        start.extend_from_slice(&0u64.to_be_bytes());
        let mut end = mailbox.to_vec();
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        let oldest = match self
            .envelopes
            .range(start.as_slice()..=end.as_slice())?
            .next()
        {
            Some(entry) => seq_of(entry?.0.value())?,
            None => return Ok(false),
        };
        self.remove(mailbox, oldest)
    }

    /// Removes the envelope stored first on this node (expired ones are the first); false
    /// when there is none.
    fn remove_oldest(&mut self) -> Result<bool, StorageError> {
        let key = match self.expiry.first()? {
            Some((key, _)) => key.value().to_vec(),
            None => return Ok(false),
        };
        let envelope_key = key.get(8..).ok_or(StorageError::Damaged)?;
        let (mailbox, _) = envelope_key
            .split_at_checked(32)
            .ok_or(StorageError::Damaged)?;
        let seq = seq_of(envelope_key)?;
        if !self.remove(mailbox, seq)? {
            // An index entry without its envelope: drop it, so the next try moves on.
            self.expiry.remove(key.as_slice())?;
        }
        Ok(true)
    }
}

/// The number in an envelope key (mailbox ‖ seq).
fn seq_of(envelope_key: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = envelope_key
        .get(32..40)
        .and_then(|s| s.try_into().ok())
        .ok_or(StorageError::Damaged)?;
    Ok(u64::from_be_bytes(bytes))
}

pub struct EnvelopeStore {
    db: Database,
    limits: Limits,
}

#[derive(Default)]
struct Head {
    last_seq: u64,
    count: u64,
    bytes: u64,
}

impl Head {
    fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let field = |i: usize| -> Result<u64, StorageError> {
            let slice = bytes.get(i * 8..i * 8 + 8).ok_or(StorageError::Damaged)?;
            Ok(u64::from_be_bytes(
                slice.try_into().map_err(|_| StorageError::Damaged)?,
            ))
        };
        Ok(Self {
            last_seq: field(0)?,
            count: field(1)?,
            bytes: field(2)?,
        })
    }

    fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.last_seq.to_be_bytes());
        out[8..16].copy_from_slice(&self.count.to_be_bytes());
        out[16..].copy_from_slice(&self.bytes.to_be_bytes());
        out
    }
}

fn envelope_key(mailbox: &MailboxAddress, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(mailbox.as_bytes());
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

impl EnvelopeStore {
    pub fn open(path: &Path, limits: Limits) -> Result<Self, StorageError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(ENVELOPES)?;
        tx.open_table(IDS)?;
        tx.open_table(HEADS)?;
        tx.open_table(EXPIRY)?;
        {
            let mut totals = tx.open_table(TOTALS)?;
            // Stores written before the node-wide quota have no totals yet: count them once.
            if totals.get(BYTE_COUNT)?.is_none() {
                let (mut envelopes, mut bytes) = (0, 0);
                for entry in tx.open_table(HEADS)?.iter()? {
                    let head = Head::decode(entry?.1.value())?;
                    envelopes += head.count;
                    bytes += head.bytes;
                }
                totals.insert(ENVELOPE_COUNT, envelopes)?;
                totals.insert(BYTE_COUNT, bytes)?;
            }
        }
        tx.commit()?;
        Ok(Self { db, limits })
    }

    /// Stores `envelope` in `mailbox` unless it is already there, making room first when
    /// the mailbox or the node is full.
    pub fn put(
        &self,
        mailbox: &MailboxAddress,
        envelope: &Envelope,
        now: u64,
    ) -> Result<Put, StorageError> {
        let mut outcomes = self.put_many(&[(*mailbox, envelope.clone())], now)?;
        outcomes.pop().unwrap_or(Err(StorageError::Damaged))
    }

    /// Stores several envelopes in one durable transaction, each as [`put`](Self::put)
    /// would in turn; one outcome per envelope, in order. Nothing is stored when the
    /// transaction fails.
    pub fn put_many(
        &self,
        puts: &[(MailboxAddress, Envelope)],
        now: u64,
    ) -> Result<Vec<Result<Put, StorageError>>, StorageError> {
        let tx = self.db.begin_write()?;
        let mut outcomes = Vec::with_capacity(puts.len());
        {
            let mut tables = Tables::open(&tx)?;
            for (mailbox, envelope) in puts {
                outcomes.push(self.put_in(&mut tables, mailbox, envelope, now)?);
            }
        }
        tx.commit()?;
        Ok(outcomes)
    }

    /// One put inside a transaction: `Ok(Err(TooLarge))` refuses this envelope alone; an
    /// outer error fails the transaction.
    fn put_in(
        &self,
        tables: &mut Tables<'_>,
        mailbox: &MailboxAddress,
        envelope: &Envelope,
        now: u64,
    ) -> Result<Result<Put, StorageError>, StorageError> {
        let mut id_key = mailbox.as_bytes().to_vec();
        id_key.extend_from_slice(envelope.id().as_bytes());
        if let Some(seq) = tables.ids.get(id_key.as_slice())? {
            return Ok(Ok(Put {
                seq: seq.value(),
                duplicate: true,
            }));
        }
        let size = envelope.len() as u64;
        let limits = &self.limits;
        if size > limits.max_bytes_per_mailbox.min(limits.max_bytes)
            || limits.max_envelopes_per_mailbox == 0
            || limits.max_envelopes == 0
        {
            return Ok(Err(StorageError::TooLarge));
        }
        let key = mailbox.as_bytes().as_slice();
        loop {
            let head = tables.head(key)?;
            let fits = head.count < limits.max_envelopes_per_mailbox
                && head.bytes + size <= limits.max_bytes_per_mailbox;
            if fits || !tables.remove_oldest_of(key)? {
                break;
            }
        }
        loop {
            let fits = tables.total(ENVELOPE_COUNT)? < limits.max_envelopes
                && tables.total(BYTE_COUNT)? + size <= limits.max_bytes;
            if fits || !tables.remove_oldest()? {
                break;
            }
        }
        let mut head = tables.head(key)?;
        head.last_seq += 1;
        head.count += 1;
        head.bytes += size;
        let seq = head.last_seq;
        tables.heads.insert(key, head.encode().as_slice())?;
        tables.ids.insert(id_key.as_slice(), seq)?;
        let mut value = now.to_be_bytes().to_vec();
        value.extend_from_slice(envelope.as_bytes());
        tables
            .envelopes
            .insert(envelope_key(mailbox, seq).as_slice(), value.as_slice())?;
        let mut expiry_key = now.to_be_bytes().to_vec();
        expiry_key.extend_from_slice(&envelope_key(mailbox, seq));
        tables.expiry.insert(expiry_key.as_slice(), ())?;
        tables.count(1, size as i64)?;
        Ok(Ok(Put {
            seq,
            duplicate: false,
        }))
    }

    /// Up to `limit` envelopes numbered above `after`, oldest first, and no more than
    /// [`MAX_FETCH_BYTES`] of them beyond the first.
    pub fn fetch(
        &self,
        mailbox: &MailboxAddress,
        after: u64,
        limit: u32,
    ) -> Result<Fetched, StorageError> {
        let tx = self.db.begin_read()?;
        let last_seq = match tx.open_table(HEADS)?.get(mailbox.as_bytes().as_slice())? {
            Some(bytes) => Head::decode(bytes.value())?.last_seq,
            None => 0,
        };
        let envelopes = tx.open_table(ENVELOPES)?;
        let start = envelope_key(mailbox, after.saturating_add(1));
        let end = envelope_key(mailbox, u64::MAX);
        let mut items = Vec::new();
        let mut bytes = 0;
        for entry in envelopes
            .range(start.as_slice()..=end.as_slice())?
            .take(limit as usize)
        {
            let (key, value) = entry?;
            bytes += value.value().len();
            if !items.is_empty() && bytes > MAX_FETCH_BYTES {
                break;
            }
            let seq = seq_of(key.value())?;
            let bytes = value.value().get(8..).ok_or(StorageError::Damaged)?;
            items.push(StoredEnvelope {
                seq,
                envelope: Envelope::new(bytes.to_vec()).map_err(|_| StorageError::Damaged)?,
            });
        }
        Ok(Fetched { items, last_seq })
    }

    /// The mailboxes this node holds envelopes for (for republishing).
    pub fn mailboxes(&self) -> Result<Vec<MailboxAddress>, StorageError> {
        let tx = self.db.begin_read()?;
        let heads = tx.open_table(HEADS)?;
        let mut out = Vec::new();
        for entry in heads.iter()? {
            let (key, _) = entry?;
            let bytes: [u8; 32] = key.value().try_into().map_err(|_| StorageError::Damaged)?;
            out.push(MailboxAddress::from_bytes(bytes));
        }
        Ok(out)
    }

    /// Drops envelopes stored more than the time to live before `now`; returns how many.
    pub fn prune(&self, now: u64) -> Result<u64, StorageError> {
        let cutoff = now.saturating_sub(self.limits.ttl_secs);
        let tx = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut tables = Tables::open(&tx)?;
            let expired: Vec<Vec<u8>> = tables
                .expiry
                .range(..cutoff.to_be_bytes().as_slice())?
                .map(|entry| entry.map(|(key, _)| key.value().to_vec()))
                .collect::<Result<_, _>>()?;
            for expiry_key in expired {
                let envelope_key = expiry_key.get(8..).ok_or(StorageError::Damaged)?;
                let mailbox = envelope_key.get(..32).ok_or(StorageError::Damaged)?;
                if tables.remove(mailbox, seq_of(envelope_key)?)? {
                    removed += 1;
                } else {
                    tables.expiry.remove(expiry_key.as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(limits: Limits) -> (tempfile::TempDir, EnvelopeStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
        let store = EnvelopeStore::open(&dir.path().join("store.redb"), limits)
            .unwrap_or_else(|e| panic!("opens: {e}"));
        (dir, store)
    }

    fn envelope(n: u32) -> Envelope {
        let mut bytes = n.to_be_bytes().to_vec();
        bytes.resize(100, 0);
        Envelope::new(bytes).unwrap_or_else(|e| panic!("small: {e}"))
    }

    fn seqs(store: &EnvelopeStore, mailbox: &MailboxAddress) -> Vec<u64> {
        store
            .fetch(mailbox, 0, 100)
            .unwrap_or_else(|e| panic!("fetches: {e}"))
            .items
            .iter()
            .map(|item| item.seq)
            .collect()
    }

    #[test]
    fn a_full_mailbox_drops_its_oldest_for_the_new_envelope() -> Result<(), StorageError> {
        let (_dir, store) = store(Limits {
            max_envelopes_per_mailbox: 3,
            ..Limits::default()
        });
        let mailbox = MailboxAddress::from_bytes([1; 32]);
        for n in 0..5 {
            store.put(&mailbox, &envelope(n), 1_000 + u64::from(n))?;
        }
        assert_eq!(seqs(&store, &mailbox), [3, 4, 5]);
        assert_eq!(store.fetch(&mailbox, 0, 10)?.last_seq, 5);
        // The first envelope went: stored again, it is new, and numbers are not reused.
        assert_eq!(
            store.put(&mailbox, &envelope(0), 2_000)?,
            Put {
                seq: 6,
                duplicate: false
            }
        );
        assert_eq!(seqs(&store, &mailbox), [4, 5, 6]);
        Ok(())
    }

    #[test]
    fn a_full_node_drops_the_oldest_it_holds_expired_first() -> Result<(), StorageError> {
        let size = envelope(0).len() as u64;
        let (_dir, store) = store(Limits {
            max_bytes: 3 * size,
            ttl_secs: 1_000,
            ..Limits::default()
        });
        let [a, b, c] = [1, 2, 3].map(|n| MailboxAddress::from_bytes([n; 32]));
        store.put(&a, &envelope(1), 5_000)?;
        store.put(&b, &envelope(2), 100)?; // expired by the time the node fills
        store.put(&a, &envelope(3), 5_100)?;
        store.put(&c, &envelope(4), 5_200)?;
        assert_eq!(
            seqs(&store, &b),
            Vec::<u64>::new(),
            "the expired one went first"
        );
        assert_eq!(seqs(&store, &a), [1, 2]);
        store.put(&c, &envelope(5), 5_300)?;
        assert_eq!(seqs(&store, &a), [2], "then the oldest, whichever mailbox");
        assert_eq!(seqs(&store, &c), [1, 2]);
        Ok(())
    }

    #[test]
    fn pruning_and_eviction_keep_the_totals() -> Result<(), StorageError> {
        let size = envelope(0).len() as u64;
        let (dir, store) = store(Limits {
            max_bytes: 4 * size,
            ttl_secs: 1_000,
            ..Limits::default()
        });
        let mailbox = MailboxAddress::from_bytes([4; 32]);
        for n in 0..6 {
            store.put(&mailbox, &envelope(n), 100 * u64::from(n))?;
        }
        // Evicted already: those stored at 0 and 100. Expired now: 200 and 300.
        assert_eq!(store.prune(1_350)?, 2);
        drop(store);
        let store = EnvelopeStore::open(
            &dir.path().join("store.redb"),
            Limits {
                max_bytes: 4 * size,
                ..Limits::default()
            },
        )?;
        // Two held of four: two more fit before anything goes.
        store.put(&mailbox, &envelope(10), 2_000)?;
        store.put(&mailbox, &envelope(11), 2_001)?;
        assert_eq!(seqs(&store, &mailbox), [5, 6, 7, 8]);
        Ok(())
    }

    #[test]
    fn an_envelope_larger_than_a_mailbox_may_hold_is_refused() -> Result<(), StorageError> {
        let (_dir, store) = store(Limits {
            max_bytes_per_mailbox: 50,
            ..Limits::default()
        });
        let mailbox = MailboxAddress::from_bytes([5; 32]);
        assert!(matches!(
            store.put(&mailbox, &envelope(1), 1),
            Err(StorageError::TooLarge)
        ));
        Ok(())
    }
}
