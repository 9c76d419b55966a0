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
//! Each envelope is kept with the stamp it was put with, and each mailbox with its public
//! keys, so that what the node hands on — to readers, to other nodes — still proves it
//! belongs there. The store checks no stamp: the node did before it stored.
//!
//! ```
//! use phantom_node::storage::{EnvelopeStore, Incoming, Limits};
//! use phantom_mailbox::{envelope::Envelope, keys::MailboxKeys};
//!
//! let dir = tempfile::tempdir()?;
//! let store = EnvelopeStore::open(&dir.path().join("node.redb"), Limits::default())?;
//! let keys = MailboxKeys::shared(&[1; 32]);
//! let envelope = Envelope::new(b"sealed".to_vec())?;
//! let stamp = keys.stamp(&envelope.id(), 1_700_000_000)?;
//! let put = store.put(&Incoming { mailbox: *keys.public(), stamp, envelope }, 1_700_000_000)?;
//! assert_eq!(put.seq, 1);
//! assert_eq!(store.fetch(&keys.address(), 0, 10)?.items.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::{MailboxPublicKeys, PutStamp};
use phantom_mailbox::protocol::{StoredEnvelope, MAX_FETCH_BYTES};
use phantom_mailbox::MailboxAddress;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use thiserror::Error;

/// mailbox ‖ seq (big-endian) → stored_at (big-endian) ‖ stamp (written_at ‖ signature)
/// ‖ envelope bytes.
const ENVELOPES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("envelopes");
/// Where the envelope bytes start in an [`ENVELOPES`] value.
const ENVELOPE_AT: usize = 8 + PutStamp::LEN;
/// mailbox ‖ envelope id → seq.
const IDS: TableDefinition<&[u8], u64> = TableDefinition::new("ids");
/// mailbox → last seq ‖ envelope count ‖ stored bytes ‖ writer key ‖ reader key.
const HEADS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("heads");
/// [`FORMAT`] → the layout version of the tables.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const FORMAT: &str = "format";
/// Stores before it kept envelopes without stamps, which protocol 2 cannot hand on.
const FORMAT_VERSION: u64 = 2;
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

/// Envelopes after a sequence number, the mailbox's latest number, and its keys (for
/// handing the envelopes on with their stamps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub items: Vec<StoredEnvelope>,
    pub last_seq: u64,
    pub mailbox: MailboxPublicKeys,
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
        let stored_at = value.get(..8).ok_or(StorageError::Damaged)?;
        let bytes = value.get(ENVELOPE_AT..).ok_or(StorageError::Damaged)?;
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

struct Head {
    last_seq: u64,
    count: u64,
    bytes: u64,
    keys: MailboxPublicKeys,
}

impl Default for Head {
    fn default() -> Self {
        Self {
            last_seq: 0,
            count: 0,
            bytes: 0,
            keys: MailboxPublicKeys {
                writer: [0; 32],
                reader: [0; 32],
            },
        }
    }
}

impl Head {
    fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        let mut r = phantom_mailbox::wire::Reader::new(bytes);
        let damaged = |_| StorageError::Damaged;
        let head = Self {
            last_seq: r.u64("last_seq").map_err(damaged)?,
            count: r.u64("count").map_err(damaged)?,
            bytes: r.u64("bytes").map_err(damaged)?,
            keys: MailboxPublicKeys::read(&mut r).map_err(damaged)?,
        };
        r.finish().map_err(damaged)?;
        Ok(head)
    }

    fn encode(&self) -> Vec<u8> {
        let mut w = phantom_mailbox::wire::Writer::new();
        w.put_u64(self.last_seq);
        w.put_u64(self.count);
        w.put_u64(self.bytes);
        self.keys.write(&mut w);
        w.into_bytes()
    }
}

/// An envelope to store: the mailbox's keys, and the stamp that let it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub mailbox: MailboxPublicKeys,
    pub stamp: PutStamp,
    pub envelope: Envelope,
}

fn envelope_key(mailbox: &MailboxAddress, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(mailbox.as_bytes());
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

impl EnvelopeStore {
    /// Opens the store at `path`, made empty if it was written by a node of protocol 1:
    /// those envelopes have no stamps, and protocol 2 hands on nothing unstamped.
    pub fn open(path: &Path, limits: Limits) -> Result<Self, StorageError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        let format = tx.open_table(META)?.get(FORMAT)?.map(|v| v.value());
        if format != Some(FORMAT_VERSION) {
            let mut dropped = 0;
            if let Ok(totals) = tx.open_table(TOTALS) {
                dropped = totals.get(ENVELOPE_COUNT)?.map_or(0, |count| count.value());
            }
            tx.delete_table(ENVELOPES)?;
            tx.delete_table(IDS)?;
            tx.delete_table(HEADS)?;
            tx.delete_table(TOTALS)?;
            tx.delete_table(EXPIRY)?;
            if dropped > 0 {
                tracing::warn!("dropped {dropped} envelopes stored without write stamps");
            }
            tx.open_table(META)?.insert(FORMAT, FORMAT_VERSION)?;
        }
        tx.open_table(ENVELOPES)?;
        tx.open_table(IDS)?;
        tx.open_table(HEADS)?;
        tx.open_table(EXPIRY)?;
        tx.open_table(TOTALS)?;
        tx.commit()?;
        Ok(Self { db, limits })
    }

    /// Stores an envelope in its mailbox unless it is already there, making room first
    /// when the mailbox or the node is full.
    pub fn put(&self, incoming: &Incoming, now: u64) -> Result<Put, StorageError> {
        let mut outcomes = self.put_many(std::slice::from_ref(incoming), now)?;
        outcomes.pop().unwrap_or(Err(StorageError::Damaged))
    }

    /// Stores several envelopes in one durable transaction, each as [`put`](Self::put)
    /// would in turn; one outcome per envelope, in order. Nothing is stored when the
    /// transaction fails.
    pub fn put_many(
        &self,
        puts: &[Incoming],
        now: u64,
    ) -> Result<Vec<Result<Put, StorageError>>, StorageError> {
        let tx = self.db.begin_write()?;
        let mut outcomes = Vec::with_capacity(puts.len());
        {
            let mut tables = Tables::open(&tx)?;
            for incoming in puts {
                outcomes.push(self.put_in(&mut tables, incoming, now)?);
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
        incoming: &Incoming,
        now: u64,
    ) -> Result<Result<Put, StorageError>, StorageError> {
        let Incoming {
            mailbox: keys,
            stamp,
            envelope,
        } = incoming;
        let mailbox = &keys.address();
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
        head.keys = *keys;
        let seq = head.last_seq;
        tables.heads.insert(key, head.encode().as_slice())?;
        tables.ids.insert(id_key.as_slice(), seq)?;
        let mut value = phantom_mailbox::wire::Writer::new();
        value.put_u64(now);
        stamp.write(&mut value);
        value.put_bytes(envelope.as_bytes());
        let value = value.into_bytes();
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
        let head = match tx.open_table(HEADS)?.get(mailbox.as_bytes().as_slice())? {
            Some(bytes) => Head::decode(bytes.value())?,
            None => Head::default(),
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
            let stamp = value
                .value()
                .get(8..ENVELOPE_AT)
                .and_then(|bytes| {
                    PutStamp::read(&mut phantom_mailbox::wire::Reader::new(bytes)).ok()
                })
                .ok_or(StorageError::Damaged)?;
            let bytes = value
                .value()
                .get(ENVELOPE_AT..)
                .ok_or(StorageError::Damaged)?;
            items.push(StoredEnvelope {
                seq,
                stamp,
                envelope: Envelope::new(bytes.to_vec()).map_err(|_| StorageError::Damaged)?,
            });
        }
        Ok(Fetched {
            items,
            last_seq: head.last_seq,
            mailbox: head.keys,
        })
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

    fn keys(n: u8) -> MailboxPublicKeys {
        MailboxPublicKeys {
            writer: [n; 32],
            reader: [n; 32],
        }
    }

    /// What the node would store: the store itself checks no stamp.
    fn incoming(mailbox: &MailboxPublicKeys, envelope: Envelope) -> Incoming {
        Incoming {
            mailbox: *mailbox,
            stamp: PutStamp {
                written_at: 1,
                signature: [7; 64],
            },
            envelope,
        }
    }

    fn seqs(store: &EnvelopeStore, mailbox: &MailboxPublicKeys) -> Vec<u64> {
        store
            .fetch(&mailbox.address(), 0, 100)
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
        let mailbox = keys(1);
        for n in 0..5 {
            store.put(&incoming(&mailbox, envelope(n)), 1_000 + u64::from(n))?;
        }
        assert_eq!(seqs(&store, &mailbox), [3, 4, 5]);
        assert_eq!(store.fetch(&mailbox.address(), 0, 10)?.last_seq, 5);
        // The first envelope went: stored again, it is new, and numbers are not reused.
        assert_eq!(
            store.put(&incoming(&mailbox, envelope(0)), 2_000)?,
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
        let [a, b, c] = [1, 2, 3].map(keys);
        store.put(&incoming(&a, envelope(1)), 5_000)?;
        store.put(&incoming(&b, envelope(2)), 100)?; // expired by the time the node fills
        store.put(&incoming(&a, envelope(3)), 5_100)?;
        store.put(&incoming(&c, envelope(4)), 5_200)?;
        assert_eq!(
            seqs(&store, &b),
            Vec::<u64>::new(),
            "the expired one went first"
        );
        assert_eq!(seqs(&store, &a), [1, 2]);
        store.put(&incoming(&c, envelope(5)), 5_300)?;
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
        let mailbox = keys(4);
        for n in 0..6 {
            store.put(&incoming(&mailbox, envelope(n)), 100 * u64::from(n))?;
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
        store.put(&incoming(&mailbox, envelope(10)), 2_000)?;
        store.put(&incoming(&mailbox, envelope(11)), 2_001)?;
        assert_eq!(seqs(&store, &mailbox), [5, 6, 7, 8]);
        Ok(())
    }

    #[test]
    fn an_envelope_larger_than_a_mailbox_may_hold_is_refused() -> Result<(), StorageError> {
        let (_dir, store) = store(Limits {
            max_bytes_per_mailbox: 50,
            ..Limits::default()
        });
        let mailbox = keys(5);
        assert!(matches!(
            store.put(&incoming(&mailbox, envelope(1)), 1),
            Err(StorageError::TooLarge)
        ));
        Ok(())
    }
}
