//! The manifest: what a history transfer holds, block by block, sent before the blocks.
//!
//! ```
//! use phantom_core::history::manifest::{BlockEntry, Manifest};
//! use phantom_core::persona::ConversationId;
//! use phantom_core::history::TransferId;
//!
//! let manifest = Manifest {
//!     transfer_id: TransferId::from_bytes([1; 16]),
//!     blocks: vec![BlockEntry {
//!         hash: [2; 32],
//!         conversation_id: ConversationId::from_bytes([3; 16]),
//!         first_ms: 10,
//!         last_ms: 20,
//!         messages: 2,
//!         bytes: 400,
//!     }],
//! };
//! assert_eq!(Manifest::decode(&manifest.encode()?)?, manifest);
//! assert_eq!(manifest.total_messages(), 2);
//! # Ok::<(), phantom_core::wire::WireError>(())
//! ```

use crate::history::TransferId;
use crate::persona::ConversationId;
use crate::wire::{Reader, WireError, WireRecord, Writer};

/// The version byte after the manifest's magic `PH`; a manifest of another version is
/// refused.
pub const MANIFEST_FORMAT_VERSION: u8 = 1;
const MANIFEST_MAGIC: &[u8; 2] = b"PH";
/// A million blocks of 64 KiB is 64 GiB of history: more than any device holds.
pub const MAX_BLOCKS: usize = 1 << 20;

/// One block: its content address and what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEntry {
    /// SHA-256 of the encrypted block.
    pub hash: [u8; 32],
    /// The conversation every message of the block belongs to.
    pub conversation_id: ConversationId,
    /// Sender time of its oldest message (ms since the Unix epoch).
    pub first_ms: u64,
    /// Sender time of its newest message (ms since the Unix epoch).
    pub last_ms: u64,
    /// How many messages the block holds.
    pub messages: u32,
    /// Size of the encrypted block in bytes.
    pub bytes: u32,
}

/// What a history transfer holds: its id and every block's entry. The new device trusts
/// a block only if it matches its entry here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The transfer's id, bound into each block's associated data.
    pub transfer_id: TransferId,
    /// In transfer order: the most recent conversation's newest messages first.
    pub blocks: Vec<BlockEntry>,
}

impl Manifest {
    /// Messages in all blocks.
    pub fn total_messages(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.messages)).sum()
    }

    /// Encrypted bytes of all blocks.
    pub fn total_bytes(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.bytes)).sum()
    }

    /// Magic `PH`, [`MANIFEST_FORMAT_VERSION`], the transfer id, then the block list;
    /// fails with more than [`MAX_BLOCKS`] blocks.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let mut w = Writer::new();
        w.put_bytes(MANIFEST_MAGIC);
        w.put_u8(MANIFEST_FORMAT_VERSION);
        w.put_bytes(self.transfer_id.as_bytes());
        w.put_list("blocks", &self.blocks, MAX_BLOCKS)?;
        Ok(w.into_bytes())
    }

    /// Reads what [`Manifest::encode`] wrote; refuses another magic or version, more than
    /// [`MAX_BLOCKS`] blocks and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        r.magic_and_version(MANIFEST_MAGIC, MANIFEST_FORMAT_VERSION)?;
        let manifest = Self {
            transfer_id: TransferId::from_bytes(r.array("transfer_id")?),
            blocks: r.list("blocks", MAX_BLOCKS)?,
        };
        r.finish()?;
        Ok(manifest)
    }
}

impl WireRecord for BlockEntry {
    const MIN_LEN: usize = 32 + 16 + 8 + 8 + 4 + 4;

    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(&self.hash);
        w.put_bytes(self.conversation_id.as_bytes());
        w.put_u64(self.first_ms);
        w.put_u64(self.last_ms);
        w.put_u32(self.messages);
        w.put_u32(self.bytes);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            hash: r.array("block_hash")?,
            conversation_id: ConversationId::from_bytes(r.array("conversation_id")?),
            first_ms: r.u64("first_ms")?,
            last_ms: r.u64("last_ms")?,
            messages: r.u32("messages")?,
            bytes: r.u32("bytes")?,
        })
    }
}
