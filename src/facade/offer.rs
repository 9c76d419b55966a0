//! Offering the persona's history to another of its devices: packed from the vault into
//! blocks stored back in the vault, the manifest and offer sent at once, and the blocks put
//! in the transfer's mailbox one at a time at each flush. Whatever the history's length,
//! memory holds a page of messages and a block or two.

use std::collections::{HashMap, VecDeque};

use super::{rng, FacadeError, SyncManager};
use crate::history::vault_export::export_from_vault;
use crate::mailbox::envelope::Envelope;
use crate::mailbox::transport::MailboxTransport;
use crate::messaging::messenger::{HistoryOfferPlan, HistoryPublication};

/// The history transfers this device offered since it started.
#[derive(Default)]
pub(super) struct Offers {
    /// Blocks still to put in their mailboxes: a transfer and the next block.
    publishing: VecDeque<(HistoryPublication, u32)>,
    /// The latest transfer offered to each device, whose blocks the vault keeps.
    latest: HashMap<[u8; 16], HistoryPublication>,
}

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
        let replaced = self
            .offers
            .borrow_mut()
            .latest
            .insert(device_id, publication);
        if let Some(replaced) = replaced {
            self.offers
                .borrow_mut()
                .publishing
                .retain(|(pending, _)| pending.transfer_id != replaced.transfer_id);
            vault
                .delete_history(&replaced.transfer_id, replaced.blocks)
                .await?;
        }
        self.outbox.borrow_mut().extend(offered.transmits);
        self.offers
            .borrow_mut()
            .publishing
            .push_back((publication, 0));
        self.save_messaging(&[]).await.map(drop)
    }

    /// Puts the offered transfers' blocks in their mailboxes, read from the vault one at a
    /// time; after a failure the next flush goes on from the block that failed.
    pub(super) async fn publish_history(
        &self,
        network: &crate::network::client::MailboxClient,
    ) -> Result<u32, FacadeError> {
        let mut sent = 0;
        loop {
            let next = self.offers.borrow().publishing.front().copied();
            let Some((publication, index)) = next else {
                return Ok(sent);
            };
            if index >= publication.blocks {
                self.offers.borrow_mut().publishing.pop_front();
                continue;
            }
            let block = self
                .unlocked_vault()?
                .history_block(&publication.transfer_id, index)
                .await?
                .ok_or_else(|| FacadeError::new("record_missing", "a history block is gone"))?;
            let envelope = Envelope::new(block)?;
            MailboxTransport::put(network, publication.mailbox, envelope)
                .await
                .map_err(|e| FacadeError::new(e.code(), e.to_string()))?;
            sent += 1;
            if let Some((current, next)) = self.offers.borrow_mut().publishing.front_mut() {
                if current.transfer_id == publication.transfer_id {
                    *next = index + 1;
                }
            }
        }
    }
}
