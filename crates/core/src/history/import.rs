//! Taking history in: each block checked against the manifest before it is opened, its
//! messages checked against what the manifest says the block covers, and a record of which
//! blocks arrived, so a transfer resumes where it stopped and says "complete" only when
//! every block is in.
//!
//! ```
//! use phantom_core::history::export::HistoryExport;
//! use phantom_core::history::TransferId;
//! use phantom_core::history::import::HistoryImport;
//! use phantom_core::history::HistoryError;
//! use phantom_core::persona::{ContactId, ConversationId, Message, MessageId, Sender};
//! use phantom_core::secret::Secret;
//! # let mut rng = phantom_core::testing::SeededRng::new(8);
//! let grace = ConversationId::from_bytes([7; 16]);
//! let chat: Vec<Message> = (0..40u8)
//!     .map(|n| Message {
//!         id: MessageId::from_bytes([n; 16]),
//!         conversation_id: grace,
//!         sender: Sender::Contact(ContactId::from_bytes([1; 16])),
//!         sent_at_ms: 1_000 + u64::from(n),
//!         body: "hi".repeat(30),
//!     })
//!     .collect();
//! let key = Secret::generate(&mut rng);
//! let mut export = HistoryExport::new(&key, 1024, TransferId::from_bytes([9; 16]));
//! let blocks = export.add_conversation(grace, &chat, &mut rng)?;
//! let (manifest, _) = export.finish(&mut rng)?;
//!
//! let mut import = HistoryImport::new(manifest.clone(), key.clone());
//! import.accept(0, &blocks[0])?;
//! let saved = import.received_state()?;
//! // After a restart only the other blocks are missing.
//! let mut import = HistoryImport::resume(manifest, key, &saved)?;
//! assert_eq!(import.missing(), (1..blocks.len()).collect::<Vec<_>>());
//! // A block altered on the way is refused before it is opened.
//! let mut damaged = blocks[1].clone();
//! damaged[30] ^= 1;
//! assert_eq!(import.accept(1, &damaged), Err(HistoryError::BlockTampered { index: 1 }));
//! assert_eq!(import.progress().blocks_done, 1);
//! assert!(!import.is_complete());
//! # Ok::<(), HistoryError>(())
//! ```

use std::collections::BTreeSet;

use phantom_aead::{Payload, XNonce};
use sha2::{Digest, Sha256};

use crate::history::export::{block_aad, cipher};
use crate::history::manifest::Manifest;
use crate::history::HistoryError;
use crate::persona::Message;
use crate::secret::Secret;
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// How far an import has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryProgress {
    /// Blocks imported.
    pub blocks_done: usize,
    /// Blocks the manifest lists.
    pub blocks_total: usize,
    /// Messages in the blocks imported, as the manifest counts them.
    pub messages_done: u64,
    /// Messages in every block the manifest lists.
    pub messages_total: u64,
    /// Encrypted bytes of the blocks imported.
    pub bytes_done: u64,
    /// Encrypted bytes of every block the manifest lists.
    pub bytes_total: u64,
}

/// The new device's record of one transfer: the manifest, the key that opens its blocks,
/// and which blocks arrived.
pub struct HistoryImport {
    manifest: Manifest,
    key: Secret<32>,
    received: BTreeSet<usize>,
}

impl HistoryImport {
    /// An import of the blocks `manifest` lists, none of them received yet, opened with
    /// the transfer's `key`.
    pub fn new(manifest: Manifest, key: Secret<32>) -> Self {
        Self {
            manifest,
            key,
            received: BTreeSet::new(),
        }
    }

    /// The manifest the blocks are checked against.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Block `index`'s messages, once it matches its hash, opens with the key and holds
    /// only messages of its conversation and time range. A block already imported gives
    /// its messages again (importing them twice keeps one copy).
    pub fn accept(&mut self, index: usize, block: &[u8]) -> Result<Vec<Message>, HistoryError> {
        let entry = self
            .manifest
            .blocks
            .get(index)
            .ok_or(HistoryError::UnknownBlock { index })?;
        if <[u8; 32]>::from(Sha256::digest(block)) != entry.hash {
            return Err(HistoryError::BlockTampered { index });
        }
        let (nonce, ciphertext) = block
            .split_first_chunk::<24>()
            .ok_or(HistoryError::BlockTampered { index })?;
        let plaintext = zeroize::Zeroizing::new(
            cipher(&self.key)
                .decrypt(
                    &XNonce::from(*nonce),
                    Payload {
                        msg: ciphertext,
                        aad: &block_aad(&self.manifest.transfer_id, index),
                    },
                )
                .map_err(|_| HistoryError::BlockUndecryptable { index })?,
        );
        let mut r = Reader::new(&plaintext);
        let count = r.count("messages", entry.messages as usize, Message::MIN_LEN)?;
        let mut messages = Vec::with_capacity(count);
        for _ in 0..count {
            let message = Message::read(&mut r)?;
            let inside = message.conversation_id == entry.conversation_id
                && (entry.first_ms..=entry.last_ms).contains(&message.sent_at_ms);
            if !inside {
                return Err(HistoryError::BlockMismatch { index });
            }
            messages.push(message);
        }
        r.finish()?;
        if messages.len() != entry.messages as usize {
            return Err(HistoryError::BlockMismatch { index });
        }
        self.received.insert(index);
        Ok(messages)
    }

    /// Whether block `index` was imported already.
    pub fn has(&self, index: usize) -> bool {
        self.received.contains(&index)
    }

    /// Blocks still to fetch, in transfer order.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.manifest.blocks.len())
            .filter(|index| !self.received.contains(index))
            .collect()
    }

    /// Whether every block the manifest lists was imported.
    pub fn is_complete(&self) -> bool {
        self.received.len() == self.manifest.blocks.len()
    }

    /// How far the import has come, in blocks, messages and bytes.
    pub fn progress(&self) -> HistoryProgress {
        let done = self
            .received
            .iter()
            .filter_map(|index| self.manifest.blocks.get(*index));
        HistoryProgress {
            blocks_done: self.received.len(),
            blocks_total: self.manifest.blocks.len(),
            messages_done: done.clone().map(|b| u64::from(b.messages)).sum(),
            messages_total: self.manifest.total_messages(),
            bytes_done: done.map(|b| u64::from(b.bytes)).sum(),
            bytes_total: self.manifest.total_bytes(),
        }
    }

    /// Which blocks arrived, to resume after a restart (the manifest and key are stored
    /// beside it).
    pub fn received_state(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new();
        w.put_count(
            "received",
            self.received.len(),
            crate::history::manifest::MAX_BLOCKS,
        )?;
        for index in &self.received {
            w.put_u32(u32::try_from(*index).unwrap_or(u32::MAX));
        }
        Ok(w.into_bytes())
    }

    /// An import picked up again: blocks recorded as received are not fetched again.
    pub fn resume(
        manifest: Manifest,
        key: Secret<32>,
        received: &[u8],
    ) -> Result<Self, HistoryError> {
        let mut r = Reader::new(received);
        let count = r.count("received", manifest.blocks.len(), 4)?;
        let mut set = BTreeSet::new();
        for _ in 0..count {
            let index = r.u32("received")? as usize;
            if index >= manifest.blocks.len() {
                return Err(HistoryError::UnknownBlock { index });
            }
            set.insert(index);
        }
        r.finish()?;
        Ok(Self {
            manifest,
            key,
            received: set,
        })
    }
}
