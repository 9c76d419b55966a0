//! Cutting history into encrypted, content-addressed blocks.
//!
//! A block holds messages of one conversation in the order they were added (the source
//! adds a conversation's latest first), up to the block size; it is
//! `nonce[24] ‖ XChaCha20-Poly1305(key, nonce, count u32 ‖ Message*, aad)` with
//! `aad = "phantom-sync history v1" ‖ transfer_id ‖ u32 index`, so a block cannot be moved
//! to another place or transfer. Blocks leave as they are cut: the export never holds more
//! than one block's messages.
//!
//! ```
//! use phantom_core::history::export::HistoryExport;
//! use phantom_core::history::TransferId;
//! use phantom_core::persona::{ContactId, ConversationId, Message, MessageId, Sender};
//! use phantom_core::secret::Secret;
//! # let mut rng = phantom_core::testing::SeededRng::new(7);
//! let message = |n: u8, conversation_id: ConversationId| Message {
//!     id: MessageId::from_bytes([n; 16]),
//!     conversation_id,
//!     sender: Sender::Contact(ContactId::from_bytes([1; 16])),
//!     sent_at_ms: 1_000 + u64::from(n),
//!     body: "hello".into(),
//! };
//! let key = Secret::generate(&mut rng);
//! let mut export = HistoryExport::new(&key, 1024, TransferId::from_bytes([9; 16]));
//! let (grace, heidi) = (ConversationId::from_bytes([1; 16]), ConversationId::from_bytes([2; 16]));
//! // Two messages of one conversation fill the same block...
//! assert!(export.push(grace, &message(2, grace), &mut rng)?.is_none());
//! assert!(export.push(grace, &message(1, grace), &mut rng)?.is_none());
//! // ...which another conversation's message seals.
//! let first = export.push(heidi, &message(3, heidi), &mut rng)?.expect("block 0");
//! let (manifest, last) = export.finish(&mut rng)?;
//! assert!(last.is_some(), "the finish seals block 1");
//! assert_eq!(manifest.blocks.len(), 2);
//! assert_eq!(manifest.blocks[0].messages, 2);
//! assert_eq!((manifest.blocks[0].first_ms, manifest.blocks[0].last_ms), (1_001, 1_002));
//! assert_eq!(manifest.blocks[0].bytes as usize, first.len());
//! # Ok::<(), phantom_core::history::HistoryError>(())
//! ```

use phantom_aead::{Payload, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use crate::history::manifest::{BlockEntry, Manifest};
use crate::history::HistoryError;
use crate::history::TransferId;
use crate::persona::{ConversationId, Message};
use crate::secret::Secret;
use crate::wire::{WireRecord, Writer};

/// Bytes a block adds around its messages: nonce, tag, count.
pub const BLOCK_OVERHEAD: usize = 24 + 16 + 4;
/// Blocks sized for a WebRTC data channel message and within a mailbox envelope.
pub const DEFAULT_BLOCK_SIZE: usize = 64 * 1024;

pub(crate) fn block_aad(transfer_id: &TransferId, index: usize) -> Vec<u8> {
    let mut aad = b"phantom-sync history v1".to_vec();
    aad.extend_from_slice(transfer_id.as_bytes());
    aad.extend_from_slice(&u32::try_from(index).unwrap_or(u32::MAX).to_be_bytes());
    aad
}

pub(crate) fn cipher(key: &Secret<32>) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&phantom_aead::Key::from(*key.expose()))
}

/// Packs messages into blocks one at a time, and lists each block in the manifest.
pub struct HistoryExport {
    cipher: XChaCha20Poly1305,
    block_size: usize,
    manifest: Manifest,
    pending: Pending,
}

/// The block being filled.
#[derive(Default)]
struct Pending {
    conversation_id: Option<ConversationId>,
    encoded: zeroize::Zeroizing<Vec<u8>>,
    count: u32,
    first_ms: u64,
    last_ms: u64,
}

impl HistoryExport {
    /// An export with no block yet, sealing blocks of at most `block_size` bytes (the
    /// encrypted block, overhead included) with `key` for transfer `transfer_id`.
    pub fn new(key: &Secret<32>, block_size: usize, transfer_id: TransferId) -> Self {
        Self {
            cipher: cipher(key),
            block_size,
            manifest: Manifest {
                transfer_id,
                blocks: Vec::new(),
            },
            pending: Pending::default(),
        }
    }

    /// Adds one message; returns the block it completed, if it did (the message would not
    /// fit, or belongs to another conversation). Messages of a conversation go in together.
    pub fn push(
        &mut self,
        conversation_id: ConversationId,
        message: &Message,
        rng: &mut impl CryptoRng,
    ) -> Result<Option<Vec<u8>>, HistoryError> {
        let mut w = Writer::new();
        message.write(&mut w)?;
        let encoded = zeroize::Zeroizing::new(w.into_bytes());
        let capacity = self.block_size.saturating_sub(BLOCK_OVERHEAD);
        if encoded.len() > capacity {
            return Err(HistoryError::MessageTooLarge {
                block_size: self.block_size,
            });
        }
        let starts_another = self
            .pending
            .conversation_id
            .is_some_and(|current| current != conversation_id)
            || self.pending.encoded.len() + encoded.len() > capacity;
        let completed = if starts_another {
            self.flush(rng)?
        } else {
            None
        };
        let pending = &mut self.pending;
        if pending.conversation_id.is_none() {
            pending.conversation_id = Some(conversation_id);
            pending.first_ms = message.sent_at_ms;
            pending.last_ms = message.sent_at_ms;
        }
        pending.encoded.extend_from_slice(&encoded);
        pending.count += 1;
        pending.first_ms = pending.first_ms.min(message.sent_at_ms);
        pending.last_ms = pending.last_ms.max(message.sent_at_ms);
        Ok(completed)
    }

    /// A conversation's messages (in order), newest first; returns the blocks they filled,
    /// the last one included.
    pub fn add_conversation(
        &mut self,
        conversation_id: ConversationId,
        messages: &[Message],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Vec<u8>>, HistoryError> {
        let mut blocks = Vec::new();
        for message in messages.iter().rev() {
            blocks.extend(self.push(conversation_id, message, rng)?);
        }
        blocks.extend(self.flush(rng)?);
        Ok(blocks)
    }

    /// Seals the block being filled, if it holds anything.
    pub fn flush(&mut self, rng: &mut impl CryptoRng) -> Result<Option<Vec<u8>>, HistoryError> {
        let pending = std::mem::take(&mut self.pending);
        let Some(conversation_id) = pending.conversation_id else {
            return Ok(None);
        };
        let index = self.manifest.blocks.len();
        let mut plaintext = zeroize::Zeroizing::new(Vec::with_capacity(4 + pending.encoded.len()));
        plaintext.extend_from_slice(&pending.count.to_be_bytes());
        plaintext.extend_from_slice(&pending.encoded);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &block_aad(&self.manifest.transfer_id, index),
                },
            )
            .map_err(|_| HistoryError::MessageTooLarge {
                block_size: self.block_size,
            })?;
        let mut block = nonce.to_vec();
        block.extend_from_slice(&ciphertext);
        self.manifest.blocks.push(BlockEntry {
            hash: Sha256::digest(&block).into(),
            conversation_id,
            first_ms: pending.first_ms,
            last_ms: pending.last_ms,
            messages: pending.count,
            bytes: u32::try_from(block.len()).unwrap_or(u32::MAX),
        });
        Ok(Some(block))
    }

    /// The manifest of every block sealed, and the last block, sealed now if it held
    /// anything.
    pub fn finish(
        mut self,
        rng: &mut impl CryptoRng,
    ) -> Result<(Manifest, Option<Vec<u8>>), HistoryError> {
        let last = self.flush(rng)?;
        Ok((self.manifest, last))
    }
}
