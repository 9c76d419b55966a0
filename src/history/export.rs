//! Cutting history into encrypted, content-addressed blocks.
//!
//! A block holds messages of one conversation, newest first, up to the block size; it is
//! `nonce[24] ‖ XChaCha20-Poly1305(key, nonce, count u32 ‖ Message*, aad)` with
//! `aad = "phantom-sync history v1" ‖ transfer_id ‖ u32 index`, so a block cannot be moved
//! to another place or transfer. Blocks leave as they are cut: the export never holds more
//! than one block's messages.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use crate::history::manifest::{BlockEntry, Manifest};
use crate::history::HistoryError;
use crate::persona::Message;
use crate::secret::Secret;
use crate::wire::{WireRecord, Writer};

/// Bytes a block adds around its messages: nonce, tag, count.
pub const BLOCK_OVERHEAD: usize = 24 + 16 + 4;
/// Blocks sized for a WebRTC data channel message and within a mailbox envelope.
pub const DEFAULT_BLOCK_SIZE: usize = 64 * 1024;

pub(crate) fn block_aad(transfer_id: &[u8; 16], index: usize) -> Vec<u8> {
    let mut aad = b"phantom-sync history v1".to_vec();
    aad.extend_from_slice(transfer_id);
    aad.extend_from_slice(&u32::try_from(index).unwrap_or(u32::MAX).to_be_bytes());
    aad
}

pub(crate) fn cipher(key: &Secret<32>) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*key.expose()))
}

pub struct HistoryExport {
    cipher: XChaCha20Poly1305,
    block_size: usize,
    manifest: Manifest,
}

impl HistoryExport {
    pub fn new(key: &Secret<32>, block_size: usize, transfer_id: [u8; 16]) -> Self {
        Self {
            cipher: cipher(key),
            block_size,
            manifest: Manifest {
                transfer_id,
                blocks: Vec::new(),
            },
        }
    }

    /// Cuts one conversation (its messages in conversation order) into blocks, newest
    /// messages first; returns the blocks in transfer order.
    pub fn add_conversation(
        &mut self,
        conversation_id: [u8; 16],
        messages: &[Message],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Vec<u8>>, HistoryError> {
        let capacity = self.block_size.saturating_sub(BLOCK_OVERHEAD);
        let mut blocks = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut in_block: Vec<&Message> = Vec::new();
        for message in messages.iter().rev() {
            let mut w = Writer::new();
            message.write(&mut w)?;
            let encoded = w.into_bytes();
            if encoded.len() > capacity {
                return Err(HistoryError::MessageTooLarge {
                    block_size: self.block_size,
                });
            }
            if pending.len() + encoded.len() > capacity {
                blocks.push(self.seal(conversation_id, &in_block, &pending, rng)?);
                pending.clear();
                in_block.clear();
            }
            pending.extend_from_slice(&encoded);
            in_block.push(message);
        }
        if !in_block.is_empty() {
            blocks.push(self.seal(conversation_id, &in_block, &pending, rng)?);
        }
        Ok(blocks)
    }

    fn seal(
        &mut self,
        conversation_id: [u8; 16],
        messages: &[&Message],
        encoded: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, HistoryError> {
        let index = self.manifest.blocks.len();
        let count = u32::try_from(messages.len()).map_err(|_| HistoryError::MessageTooLarge {
            block_size: self.block_size,
        })?;
        let mut plaintext = zeroize::Zeroizing::new(Vec::with_capacity(4 + encoded.len()));
        plaintext.extend_from_slice(&count.to_be_bytes());
        plaintext.extend_from_slice(encoded);
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
        let times = messages.iter().map(|m| m.sent_at_ms);
        self.manifest.blocks.push(BlockEntry {
            hash: Sha256::digest(&block).into(),
            conversation_id,
            first_ms: times.clone().min().unwrap_or(0),
            last_ms: times.max().unwrap_or(0),
            messages: count,
            bytes: u32::try_from(block.len()).unwrap_or(u32::MAX),
        });
        Ok(block)
    }

    /// The manifest of every block cut so far.
    pub fn finish(self) -> Manifest {
        self.manifest
    }
}
