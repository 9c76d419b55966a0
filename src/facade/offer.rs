//! Offering the persona's history to another of its devices: the core's offer
//! ([`crate::device::sync::offer`]) decides the order of the writes; this carries them out
//! on the vault. The outbox then sends the manifest and offer, and the blocks, read from
//! the vault one at a time. Whatever the history's length, memory holds a page of messages
//! and a block or two.

use super::{rng, FacadeError, SyncManager};
use crate::device::OfferRequest;
use crate::history::vault_export::export_from_vault;
use crate::mailbox::envelope::Envelope;
use crate::mailbox::transport::MailboxTransport;
use crate::messaging::outbox::HistoryPublication;
use crate::persona::DeviceId;

impl SyncManager {
    /// Packs this device's history for device `device_id` and offers it; a transfer offered
    /// to that device before is forgotten, its blocks deleted.
    pub(super) async fn offer_history_to(&self, device_id: &DeviceId) -> Result<(), FacadeError> {
        self.sync_mut()?
            .start_history_offer(device_id, &mut rng())?;
        let offered = self.drive_offer().await;
        if offered.is_err() {
            if let Ok(mut sync) = self.sync_mut() {
                sync.abandon_offer();
            }
        }
        offered
    }

    async fn drive_offer(&self) -> Result<(), FacadeError> {
        let vault = self.unlocked_vault()?;
        loop {
            // Taken alone: the device is not borrowed while the vault is awaited.
            let next = self.sync_mut()?.poll_offer();
            let Some(request) = next else {
                return Ok(());
            };
            match request {
                OfferRequest::Pack(mut plan) => {
                    let stored = export_from_vault(
                        &vault,
                        &mut plan.transfer,
                        &plan.conversations,
                        &mut rng(),
                    )
                    .await?;
                    self.sync_mut()?
                        .handle_offer_packed(plan.transfer, stored, &mut rng())?;
                }
                OfferRequest::StoreBlock {
                    transfer_id,
                    index,
                    block,
                } => {
                    vault
                        .put_history_blocks(
                            &transfer_id,
                            index,
                            std::slice::from_ref(&block),
                            &mut rng(),
                        )
                        .await?;
                    self.sync_mut()?.handle_offer_stored()?;
                }
                OfferRequest::Save(save) => {
                    self.store(&save).await?;
                    self.sync_mut()?.handle_offer_saved(save.mark)?;
                }
                OfferRequest::Delete(replaced) => {
                    vault
                        .delete_history(&replaced.transfer_id, replaced.blocks)
                        .await?;
                    self.sync_mut()?.handle_offer_stored()?;
                }
            }
        }
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
