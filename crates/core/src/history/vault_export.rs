//! The source's export from its vault: every stored message of the conversations it is
//! given, a page at a time, packed into an [`OutgoingTransfer`] whose blocks go back into
//! the vault as they fill. Memory holds a page of messages and a few blocks, whatever the
//! history's length.
//!
//! ```
//! use phantom_core::history::transfer::{HistoryReceiver, OutgoingTransfer, Received};
//! use phantom_core::history::vault_export::export_from_vault;
//! use phantom_core::persona::{
//!     ContactId, ConversationId, DeviceKeys, Message, MessageId, Persona, Sender,
//! };
//! use phantom_core::vault::{store::MemoryStore, unlock::MemoryKeyring, Vault};
//! # let mut rng = phantom_core::testing::SeededRng::new(6);
//! # let persona = Persona::create("Ada", 1, &mut rng)?;
//! # let device = DeviceKeys::generate("Phone", 1, &mut rng)?;
//! # let keyring = MemoryKeyring::generate(&mut rng);
//! pollster::block_on(async {
//!     let vault = Vault::import(MemoryStore::new(), &persona, device, &keyring, &mut rng).await?;
//!     let grace = ConversationId::from_bytes([7; 16]);
//!     let chat: Vec<Message> = (0..500u64)
//!         .map(|n| Message {
//!             id: MessageId::from_bytes(u128::from(n).to_be_bytes()),
//!             conversation_id: grace,
//!             sender: Sender::Contact(ContactId::from_bytes([1; 16])),
//!             sent_at_ms: n,
//!             body: "hello ".repeat(20),
//!         })
//!         .collect();
//!     vault.put_messages(&chat, &mut rng).await?;
//!
//!     let mut transfer = OutgoingTransfer::new(4096, &mut rng);
//!     let stored = export_from_vault(&vault, &mut transfer, &[(grace, Vec::new())], &mut rng).await?;
//!     let transfer_id = transfer.transfer_id();
//!     let finished = transfer.finish(&mut rng)?;
//!     assert!(finished.unsealed.is_none(), "every block is in the vault");
//!
//!     let mut receiver = HistoryReceiver::new(&finished.offer);
//!     receiver.accept(&finished.manifest)?;
//!     let mut messages = 0;
//!     for index in 0..stored {
//!         let block = vault.history_block(&transfer_id, index).await?.expect("stored");
//!         if let Received::Block(block) = receiver.accept(&block)? {
//!             messages += block.len();
//!         }
//!     }
//!     assert_eq!(messages, 500);
//!     assert!(receiver.is_complete());
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;

use rand_core::CryptoRng;
use thiserror::Error;

use crate::history::transfer::OutgoingTransfer;
use crate::history::HistoryError;
use crate::persona::{ConversationId, Message, MessageId};
use crate::vault::store::RawStore;
use crate::vault::{Vault, VaultError};

/// Messages read from the vault at a time.
pub const EXPORT_PAGE: u32 = 512;
/// Blocks written to the vault per transaction.
pub const STORED_BLOCKS_PER_WRITE: usize = 16;

/// Why an export from the vault stopped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VaultExportError {
    /// Reading messages from the vault or storing blocks in it failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// A message could not be packed (one too large for the block size, or one that does
    /// not encode).
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl VaultExportError {
    /// A stable, machine-readable code for this error: the inner error's.
    pub fn code(&self) -> &'static str {
        match self {
            VaultExportError::Vault(inner) => inner.code(),
            VaultExportError::History(inner) => inner.code(),
        }
    }
}

/// Packs each conversation of `conversations` in turn — first the latest messages given
/// with it (newest first, as the new device wants them), then the rest of what the vault
/// holds — storing the blocks in the vault as block 0, 1, …, the last one included.
/// Returns how many it stored.
pub async fn export_from_vault<S: RawStore>(
    vault: &Vault<S>,
    transfer: &mut OutgoingTransfer,
    conversations: &[(ConversationId, Vec<Message>)],
    rng: &mut impl CryptoRng,
) -> Result<u32, VaultExportError> {
    let transfer_id = transfer.transfer_id();
    let mut filled = Vec::new();
    let mut stored = 0u32;
    for (conversation_id, latest) in conversations {
        for message in latest {
            filled.extend(transfer.push(*conversation_id, message, rng)?);
        }
        let sent: HashSet<MessageId> = latest.iter().map(|message| message.id).collect();
        let mut pages = vault.message_pages(conversation_id, EXPORT_PAGE);
        while let Some(page) = pages.next().await? {
            for message in page.iter().filter(|m| !sent.contains(&m.id)) {
                filled.extend(transfer.push(*conversation_id, message, rng)?);
            }
            if filled.len() >= STORED_BLOCKS_PER_WRITE {
                vault
                    .put_history_blocks(&transfer_id, stored, &filled, rng)
                    .await?;
                stored += filled.len() as u32;
                filled.clear();
            }
        }
    }
    filled.extend(transfer.flush(rng)?);
    vault
        .put_history_blocks(&transfer_id, stored, &filled, rng)
        .await?;
    Ok(stored + filled.len() as u32)
}
