//! Offering the persona's history to another of its devices: packed from the vault into
//! blocks stored back in the vault; the messenger's outbox sends the manifest and offer,
//! then the blocks, read from the vault one at a time. Whatever the history's length,
//! memory holds a page of messages and a block or two.

use super::{rng, FacadeError, SyncManager};
use crate::history::vault_export::export_from_vault;
use crate::mailbox::envelope::Envelope;
use crate::mailbox::transport::MailboxTransport;
use crate::messaging::messenger::HistoryOfferPlan;
use crate::messaging::outbox::HistoryPublication;
use crate::vault::MessageWrites;

impl SyncManager {
    /// Packs this device's history for device `device_id` and offers it; a transfer offered
    /// to that device before is forgotten, its blocks deleted.
    pub(super) async fn offer_history_to(&self, device_id: &[u8; 16]) -> Result<(), FacadeError> {
        let HistoryOfferPlan {
            device_id,
            mut transfer,
            conversations,
        } = self.with_messenger(|m| m.begin_history_offer(device_id, &mut rng()))?;
        let vault = self.unlocked_vault()?;
        let stored = export_from_vault(&vault, &mut transfer, &conversations, &mut rng()).await?;
        drop(conversations);
        let offered =
            self.with_messenger(|m| m.finish_history_offer(&device_id, transfer, &mut rng()))?;
        let publication = offered.publication;
        if let Some(last) = &offered.unsealed {
            vault
                .put_history_blocks(
                    &publication.transfer_id,
                    stored,
                    std::slice::from_ref(last),
                    &mut rng(),
                )
                .await?;
        }
        self.save_messaging(MessageWrites::default()).await?;
        for old in offered.superseded {
            vault.delete_history(&old.transfer_id, old.blocks).await?;
        }
        Ok(())
    }

    /// Puts block `index` of an offered transfer in its mailbox, read from the vault.
    pub(super) async fn put_history_block(
        &self,
        network: &crate::network::client::MailboxClient,
        publication: &HistoryPublication,
        index: u32,
    ) -> Result<(), FacadeError> {
        let block = self
            .unlocked_vault()?
            .history_block(&publication.transfer_id, index)
            .await?
            .ok_or_else(|| FacadeError::new("record_missing", "a history block is gone"))?;
        let envelope = Envelope::new(block)?;
        MailboxTransport::put(network, &publication.mailbox.keys(), envelope)
            .await
            .map_err(|e| FacadeError::new(e.code(), e.to_string()))
    }
}
