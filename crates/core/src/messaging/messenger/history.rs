//! History for a newly linked device: the offer and its manifest on the source, the
//! blocks on the new device, and the signals of a direct channel.

use super::*;
use crate::history::TransferId;

impl Messenger {
    /// Starts offering this device's history to another device of the persona: the
    /// transfer to pack, and every conversation with messages — the most recent first —
    /// with its latest messages, newest first. Pack them and the rest of the vault with
    /// [`export_from_vault`](crate::history::vault_export::export_from_vault), then
    /// [`Messenger::finish_history_offer`].
    pub fn begin_history_offer(
        &self,
        device_id: &DeviceId,
        rng: &mut impl CryptoRng,
    ) -> Result<HistoryOfferPlan, MessagingError> {
        if self.roster.device(device_id).is_none() || device_id == &self.device_id {
            return Err(crate::roster::RosterError::UnknownDevice.into());
        }
        let mut conversations: Vec<(ConversationId, Vec<Message>)> = self
            .conversations
            .iter()
            .map(|(id, log)| {
                (
                    *id,
                    log.recent_messages().rev().cloned().collect::<Vec<_>>(),
                )
            })
            .filter(|(_, latest)| !latest.is_empty())
            .collect();
        conversations.sort_by_key(|(_, latest)| {
            std::cmp::Reverse(latest.first().map_or(0, |m| m.sent_at_ms))
        });
        Ok(HistoryOfferPlan {
            device_id: *device_id,
            transfer: OutgoingTransfer::new(DEFAULT_BLOCK_SIZE, rng),
            conversations,
        })
    }

    /// Offers a packed transfer to its device: the manifest goes to the transfer's mailbox
    /// and the offer, sealed to that device alone, to the persona's inbox. The stored blocks
    /// are for the caller to put in the mailbox after the manifest
    /// ([`OfferedHistory::publication`]) and to serve on a direct channel.
    pub fn finish_history_offer(
        &mut self,
        device_id: &DeviceId,
        transfer: OutgoingTransfer,
        rng: &mut impl CryptoRng,
    ) -> Result<OfferedHistory, MessagingError> {
        let FinishedTransfer {
            offer,
            manifest,
            unsealed,
        } = transfer.finish(rng)?;
        let manifest_transmit = Transmit {
            mailbox: offer.mailbox.keys(),
            bytes: manifest.clone(),
        };
        let server = DirectServer::new(manifest)?;
        let publication = HistoryPublication {
            transfer_id: offer.transfer_id,
            mailbox: offer.mailbox,
            blocks: u32::try_from(server.blocks()).unwrap_or(u32::MAX),
        };
        let sealed_offer =
            self.seal_to_own_device(device_id, &Content::HistoryOffer(offer), rng)?;
        self.outbox.push(manifest_transmit);
        self.queue(sealed_offer);
        let waiting = self.outbox.publish(*device_id, publication);
        let earlier = self.offered.insert(*device_id, publication);
        let superseded = earlier
            .into_iter()
            .chain(waiting.filter(|w| earlier.map(|e| e.transfer_id) != Some(w.transfer_id)))
            .collect();
        self.serving
            .insert(publication.transfer_id, (*device_id, Arc::new(server)));
        Ok(OfferedHistory {
            publication,
            superseded,
            unsealed,
        })
    }

    pub(super) fn incomplete_history(&self) -> Option<&IncomingHistory> {
        self.history
            .as_ref()
            .filter(|history| !history.receiver.is_complete())
    }

    /// Where the history offered to this device waits, until all of it arrived.
    pub fn history_mailbox(&self) -> Option<MailboxKeys> {
        self.incomplete_history()
            .map(|history| history.offer.mailbox.keys())
    }

    /// Whether the manifest of the history still to come is here (see
    /// [`HistoryReceiver::manifest_known`]).
    pub fn history_manifest_known(&self) -> bool {
        self.incomplete_history()
            .is_some_and(|history| history.receiver.manifest_known())
    }

    /// Asks the device that offered the history for a direct channel: `sdp` is this
    /// device's WebRTC offer, sealed to that device alone.
    pub fn request_direct(
        &mut self,
        sdp: String,
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessagingError> {
        let history = self
            .incomplete_history()
            .ok_or(MessagingError::NoHistoryTransfer)?;
        let signal = DirectSignal {
            transfer_id: history.offer.transfer_id,
            sdp,
        };
        let source = history.source;
        let transmits = self.seal_to_own_device(&source, &Content::DirectRequest(signal), rng)?;
        self.queue(transmits);
        Ok(())
    }

    /// What a direct channel should carry to this device: everything it does not hold yet,
    /// conversation `first`'s history before the rest.
    pub fn direct_want(&self, first: Option<ConversationId>) -> Option<WantFrame> {
        self.incomplete_history()
            .map(|history| history.receiver.want(history.offer.transfer_id, first))
    }

    /// Answers a [`MessagingEvent::DirectRequested`]: `sdp` is this device's WebRTC answer.
    pub fn accept_direct(
        &mut self,
        transfer_id: &TransferId,
        sdp: String,
        rng: &mut impl CryptoRng,
    ) -> Result<(), MessagingError> {
        let (device_id, _) = self
            .serving
            .get(transfer_id)
            .ok_or(MessagingError::UnknownTransfer)?;
        let device_id = *device_id;
        let signal = DirectSignal {
            transfer_id: *transfer_id,
            sdp,
        };
        let transmits = self.seal_to_own_device(&device_id, &Content::DirectAccept(signal), rng)?;
        self.queue(transmits);
        Ok(())
    }

    /// The blocks of a transfer this device offered, to serve on a direct channel.
    pub fn direct_server(&self, transfer_id: &TransferId) -> Option<Arc<DirectServer>> {
        self.serving
            .get(transfer_id)
            .map(|(_, server)| Arc::clone(server))
    }

    pub(super) fn seal_to_own_device(
        &mut self,
        device_id: &DeviceId,
        content: &Content,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Transmit>, MessagingError> {
        let device = self
            .roster
            .device(device_id)
            .cloned()
            .ok_or(crate::roster::RosterError::UnknownDevice)?;
        let inbox = self.roster.inbox;
        Ok(self
            .seal_to(std::slice::from_ref(&device), content, rng)?
            .map(|bytes| Transmit {
                mailbox: inbox.keys(),
                bytes,
            })
            .into_iter()
            .collect())
    }

    /// A history envelope, read from [`Messenger::history_mailbox`] or from a direct
    /// channel: a block's messages count into their conversations, taking the place of any
    /// different copy held here, and come back for the vault, which stores them over what it
    /// holds ([`Vault::save_messaging`]); anything else changes nothing.
    pub fn receive_history(&mut self, bytes: &[u8]) -> Result<Vec<MessagingEvent>, MessagingError> {
        let history = self
            .history
            .as_mut()
            .ok_or(MessagingError::NoHistoryTransfer)?;
        let receiver = &mut history.receiver;
        let messages = match receiver.accept(bytes)? {
            Received::Block(messages) => messages,
            // A history of no blocks is complete with its manifest: say so, or the new
            // device waits for blocks that will never come.
            Received::Manifest if receiver.is_complete() => Vec::new(),
            Received::Manifest | Received::Nothing => return Ok(Vec::new()),
        };
        let progress = receiver.progress();
        for message in &messages {
            if let Some(log) = self.conversations.get_mut(&message.conversation_id) {
                log.prefer(message.clone());
            }
        }
        Ok(progress
            .map(|progress| MessagingEvent::HistoryImported { messages, progress })
            .into_iter()
            .collect())
    }
}
