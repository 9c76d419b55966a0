//! History catch-up, sans-IO: the source packs a persona's messages into encrypted,
//! content-addressed blocks described by a [`Manifest`](manifest::Manifest); the new device
//! checks each block against the manifest, decrypts it and imports its messages, in any
//! order and across restarts, and is complete only when every block is in.
//!
//! - [`manifest`]: the manifest (block hashes, conversation, time range, totals).
//! - [`export`]: [`export::HistoryExport`] cuts conversations into blocks, newest
//!   conversation first, one block at a time.
//! - [`import`]: [`import::HistoryImport`] verifies, decrypts and tracks what arrived.
//! - [`transfer`]: the blocks through a mailbox, and the offer sealed to the new device.
//! - [`vault_export`]: the source's export, read from its vault and stored back there.
//! - [`direct`]: the same blocks over a direct data channel, asked for by what is missing.
//! - [`direct_link`]: the new device's rules for that channel: when to ask, when to want.
//!
//! ```
//! use phantom_core::history::export::HistoryExport;
//! use phantom_core::history::import::HistoryImport;
//! use phantom_core::history::TransferId;
//! use phantom_core::persona::{ContactId, ConversationId, Message, MessageId, Sender};
//! use phantom_core::secret::Secret;
//! # let mut rng = phantom_core::testing::SeededRng::new(3);
//!
//! let key = Secret::generate(&mut rng);
//! let grace = ConversationId::from_bytes([7; 16]);
//! let chat: Vec<Message> = (0..100u8)
//!     .map(|n| Message {
//!         id: MessageId::from_bytes([n; 16]),
//!         conversation_id: grace,
//!         sender: Sender::Contact(ContactId::from_bytes([1; 16])),
//!         sent_at_ms: 1_000 + u64::from(n),
//!         body: "hello".repeat(40),
//!     })
//!     .collect();
//! let mut export = HistoryExport::new(&key, 4096, TransferId::from_bytes([9; 16]));
//! let blocks = export.add_conversation(grace, &chat, &mut rng)?;
//! let (manifest, unsealed) = export.finish(&mut rng)?;
//! assert!(unsealed.is_none(), "add_conversation seals its last block");
//! assert!(blocks.len() > 1);
//!
//! let mut import = HistoryImport::new(manifest, key);
//! let mut received = 0;
//! for (index, block) in blocks.iter().enumerate().rev() {
//!     received += import.accept(index, block)?.len();
//! }
//! assert_eq!(received, 100);
//! assert!(import.is_complete());
//! # Ok::<(), phantom_core::history::HistoryError>(())
//! ```

pub mod direct;
pub mod direct_link;
pub mod export;
pub mod import;
pub mod manifest;
pub mod transfer;
pub mod vault_export;

use thiserror::Error;

use crate::wire::WireError;

byte_id! {
    random
    /// A history transfer's id: random, named in its offer, manifest and wants; its blocks
    /// are sealed (in their associated data) and stored under it.
    TransferId
}

/// Why history could not be packed, taken in or served.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// A manifest, a block's contents, a want or a saved import state does not decode (or
    /// a value is too large to encode).
    #[error("malformed history: {0}")]
    Wire(#[from] WireError),
    /// A block index (of a block, a want or a saved import state) past the end of the
    /// manifest.
    #[error("block {index} is not in the manifest")]
    UnknownBlock {
        /// The index asked for, in manifest order.
        index: usize,
    },
    /// The block's SHA-256 is not the one the manifest lists, or it is too short to hold
    /// its nonce: it was damaged or altered on the way.
    #[error("block {index} does not match its hash in the manifest")]
    BlockTampered {
        /// The block's index in the manifest.
        index: usize,
    },
    /// The block matches its hash but does not open with the transfer's key for this index
    /// and transfer: it was sealed with another key, or for another place.
    #[error("block {index} does not decrypt with this transfer's key")]
    BlockUndecryptable {
        /// The block's index in the manifest.
        index: usize,
    },
    /// The block opens but holds a message of another conversation, sent outside the time
    /// range the manifest gives it, or not the number of messages the manifest says.
    #[error("block {index} holds a message outside its conversation or time range")]
    BlockMismatch {
        /// The block's index in the manifest.
        index: usize,
    },
    /// One encoded message is larger than a block holds (the block size less
    /// [`export::BLOCK_OVERHEAD`]), so it cannot be exported at this block size.
    #[error("one message does not fit a block of {block_size} bytes")]
    MessageTooLarge {
        /// The export's block size in bytes.
        block_size: usize,
    },
    /// A want names another transfer than the one the source serves.
    #[error("the history transfer asked for is not the one on offer")]
    WrongTransfer,
}

impl HistoryError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            HistoryError::Wire(inner) => inner.code(),
            HistoryError::UnknownBlock { .. } => "unknown_block",
            HistoryError::BlockTampered { .. } => "block_tampered",
            HistoryError::BlockUndecryptable { .. } => "block_undecryptable",
            HistoryError::BlockMismatch { .. } => "block_mismatch",
            HistoryError::MessageTooLarge { .. } => "message_too_large",
            HistoryError::WrongTransfer => "wrong_transfer",
        }
    }
}
