//! Durable envelope storage for a node, on redb (an embedded, crash-safe key-value store).
//!
//! Per mailbox, envelopes are numbered 1, 2, 3 … in arrival order; the same envelope (same
//! id) stored twice keeps its first number. Limits: a per-mailbox quota of envelopes and
//! bytes, and a time to live after which [`EnvelopeStore::prune`] drops envelopes.
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
/// stored_at ‖ mailbox ‖ seq → (), to find what has expired.
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("storage: {0}")]
    Redb(#[from] redb::Error),
    #[error("the mailbox is full")]
    MailboxFull,
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

/// How much one mailbox may hold, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_envelopes_per_mailbox: u64,
    pub max_bytes_per_mailbox: u64,
    pub ttl_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelopes_per_mailbox: 100_000,
            max_bytes_per_mailbox: 256 * 1024 * 1024,
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
        tx.commit()?;
        Ok(Self { db, limits })
    }

    /// Stores `envelope` in `mailbox` unless it is already there or the mailbox is full.
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
            let mut tables = Tables {
                ids: tx.open_table(IDS)?,
                heads: tx.open_table(HEADS)?,
                envelopes: tx.open_table(ENVELOPES)?,
                expiry: tx.open_table(EXPIRY)?,
            };
            for (mailbox, envelope) in puts {
                outcomes.push(self.put_in(&mut tables, mailbox, envelope, now)?);
            }
        }
        tx.commit()?;
        Ok(outcomes)
    }

    /// One put inside a transaction: `Ok(Err(MailboxFull))` refuses this envelope alone;
    /// an outer error fails the transaction.
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
        let mut head = match tables.heads.get(mailbox.as_bytes().as_slice())? {
            Some(bytes) => Head::decode(bytes.value())?,
            None => Head::default(),
        };
        if head.count >= self.limits.max_envelopes_per_mailbox
            || head.bytes + envelope.len() as u64 > self.limits.max_bytes_per_mailbox
        {
            return Ok(Err(StorageError::MailboxFull));
        }
        head.last_seq += 1;
        head.count += 1;
        head.bytes += envelope.len() as u64;
        let seq = head.last_seq;
        tables
            .heads
            .insert(mailbox.as_bytes().as_slice(), head.encode().as_slice())?;
        tables.ids.insert(id_key.as_slice(), seq)?;
        let mut value = now.to_be_bytes().to_vec();
        value.extend_from_slice(envelope.as_bytes());
        tables
            .envelopes
            .insert(envelope_key(mailbox, seq).as_slice(), value.as_slice())?;
        let mut expiry_key = now.to_be_bytes().to_vec();
        expiry_key.extend_from_slice(&envelope_key(mailbox, seq));
        tables.expiry.insert(expiry_key.as_slice(), ())?;
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
            let seq_bytes: [u8; 8] = key
                .value()
                .get(32..40)
                .and_then(|s| s.try_into().ok())
                .ok_or(StorageError::Damaged)?;
            let bytes = value.value().get(8..).ok_or(StorageError::Damaged)?;
            items.push(StoredEnvelope {
                seq: u64::from_be_bytes(seq_bytes),
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
            let mut expiry = tx.open_table(EXPIRY)?;
            let mut envelopes = tx.open_table(ENVELOPES)?;
            let mut ids = tx.open_table(IDS)?;
            let mut heads = tx.open_table(HEADS)?;
            let expired: Vec<Vec<u8>> = expiry
                .range(..cutoff.to_be_bytes().as_slice())?
                .map(|entry| entry.map(|(key, _)| key.value().to_vec()))
                .collect::<Result<_, _>>()?;
            for expiry_key in expired {
                expiry.remove(expiry_key.as_slice())?;
                let envelope_key = expiry_key.get(8..).ok_or(StorageError::Damaged)?;
                let Some(value) = envelopes.remove(envelope_key)? else {
                    continue;
                };
                let bytes = value
                    .value()
                    .get(8..)
                    .ok_or(StorageError::Damaged)?
                    .to_vec();
                drop(value);
                let mailbox = envelope_key
                    .get(..32)
                    .ok_or(StorageError::Damaged)?
                    .to_vec();
                let envelope = Envelope::new(bytes).map_err(|_| StorageError::Damaged)?;
                let mut id_key = mailbox.clone();
                id_key.extend_from_slice(envelope.id().as_bytes());
                ids.remove(id_key.as_slice())?;
                let head = match heads.get(mailbox.as_slice())? {
                    Some(bytes) => Some(Head::decode(bytes.value())?),
                    None => None,
                };
                if let Some(mut head) = head {
                    head.count = head.count.saturating_sub(1);
                    head.bytes = head.bytes.saturating_sub(envelope.len() as u64);
                    heads.insert(mailbox.as_slice(), head.encode().as_slice())?;
                }
                removed += 1;
            }
        }
        tx.commit()?;
        Ok(removed)
    }
}
