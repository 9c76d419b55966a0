//! The messaging half of `SyncManager`: contacts, conversations, sending, read state, the
//! persona's devices, and `syncMessages`, the event stream a page polls.
//!
//! ```js
//! const alice = await SyncManager.open("alice", "Alice's phone");
//! await alice.createPersona("Alice");
//! alice.connectNetwork(nodes);
//! const bob = await alice.addContact(bobsContactCard);          // persona key (hex)
//! await alice.sendText(bob, "Hi Bob!");
//! for (const event of await alice.syncMessages(1000)) {          // sends, then reads
//!   if (event.type === "message") show(event.conversationId, event.body);
//! }
//! ```

use std::time::Duration;

use wasm_bindgen::prelude::*;

use super::views::{
    to_js, to_js_array, ContactView, ConversationView, DeviceView, HistoryProgressView,
    MessageView, NetworkStatsView, OutboxSizeView, SenderKind, SyncEvent,
};
use super::{now_ms, now_secs, rng, FacadeError, SyncManager};
use crate::device::{
    Device, DeviceError, DeviceEvent, FlushRequest, HistoryBlockStored, HistoryPath, PersonaSync,
    Save, SyncRequest, SyncStart, UnlinkRequest,
};
use crate::drivers::qr;
use crate::mailbox::envelope::Envelope;
use crate::mailbox::transport::MailboxTransport;
use crate::messaging::sealed::ContactCard;
use crate::messaging::{MessagingError, MessagingEvent, Messenger};
use crate::persona::{ConversationId, DeviceId, Message, MessageId, Sender};
use crate::vault::MessageWrites;

fn hex(bytes: &[u8]) -> String {
    crate::encoding::hex(bytes)
}

pub(super) fn id_from_hex<const N: usize>(
    text: &str,
    what: &'static str,
) -> Result<[u8; N], FacadeError> {
    crate::encoding::hex_decode(text.trim())
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .ok_or_else(|| FacadeError::new("invalid_id", format!("not a {what}: {text}")))
}

/// A conversation's id as JS gives it, in hex.
pub(super) fn conversation_from_hex(text: &str) -> Result<ConversationId, FacadeError> {
    id_from_hex::<16>(text, "conversation id").map(ConversationId::from_bytes)
}

#[wasm_bindgen]
impl SyncManager {
    /// One sync round, driving the device's requests (see [`crate::device`]).
    async fn sync_round(&self, wait_ms: u32) -> Result<js_sys::Array, FacadeError> {
        let network = self.connected()?;
        let (direct_history, first_conversation, channel) = self.direct.borrow().start();
        let start = SyncStart {
            now_ms: now_ms(),
            wait: Duration::from_millis(wait_ms.into()),
            direct_history,
            first_conversation,
            channel,
        };
        self.sync_mut()?.start_sync(start)?;
        let events = js_sys::Array::new();
        loop {
            // Taken alone: the device is not borrowed while a request is carried out.
            let next = self.sync_mut()?.poll_request();
            let Some(request) = next else {
                return Ok(events);
            };
            match request {
                SyncRequest::Fetch(fetch) => {
                    let mut cursor = fetch.cursor;
                    let fetched = MailboxTransport::fetch_some(
                        &network,
                        &fetch.mailbox,
                        &mut cursor,
                        fetch.wait,
                        fetch.enough,
                    )
                    .await
                    .map_err(|e| FacadeError::new(e.code(), e.to_string()))?;
                    self.sync_mut()?
                        .handle_fetched(cursor, fetched, &mut rng())?;
                }
                SyncRequest::DirectSignal(event) => {
                    if let Err(error) = self.on_direct_signal(&event).await {
                        events.push(&to_js(&channel_failed(&error)));
                    }
                }
                SyncRequest::TakeDirect { max } => {
                    let frames = self.take_direct(max);
                    let status = self.direct.borrow().incoming_status();
                    self.sync_mut()?.handle_direct(status, frames, now_ms())?;
                }
                SyncRequest::OpenDirect => {
                    let offer = self.open_direct().await.map_err(|error| {
                        events.push(&to_js(&channel_failed(&error)));
                    });
                    self.sync_mut()?
                        .handle_direct_opened(offer.ok(), now_ms(), &mut rng())?;
                }
                SyncRequest::CloseDirect => self.close_direct(),
                SyncRequest::CheckDirect => {
                    let status = self.direct.borrow().incoming_status();
                    self.sync_mut()?.handle_direct_status(status, now_ms())?;
                }
                SyncRequest::SendDirect(want) => match self.send_direct(&want).await {
                    Ok(()) => self.sync_mut()?.handle_direct_sent(now_ms())?,
                    Err(error) => {
                        events.push(&to_js(&channel_failed(&error)));
                    }
                },
                SyncRequest::Save(save) => {
                    let new = self.store(&save).await?;
                    self.sync_mut()?.handle_saved(save.mark, &new, now_ms())?;
                }
                SyncRequest::Flush => {
                    self.flush_messaging(&network).await?;
                }
            }
            loop {
                let next = self.sync_mut()?.poll_event();
                let Some(event) = next else { break };
                events.push(&to_js(&self.device_event_view(&event)?));
            }
        }
    }

    /// This persona's contact card as a link code (`PHCONTACT:…`), for a contact to add.
    #[wasm_bindgen(js_name = contactCard)]
    pub fn contact_card(&self) -> Result<String, JsValue> {
        let card = self.with_messenger(|m| m.contact_card())?;
        Ok(card.to_link_code().map_err(FacadeError::from)?)
    }

    /// The contact card as a QR code (SVG).
    #[wasm_bindgen(js_name = contactCardSvg)]
    pub fn contact_card_svg(&self) -> Result<String, JsValue> {
        let code = self.contact_card()?;
        Ok(qr::render_svg(&code).map_err(FacadeError::from)?)
    }

    /// Adds a contact from its card; returns its persona key (hex). This persona's other
    /// devices learn it at the next `syncMessages`.
    #[wasm_bindgen(js_name = addContact)]
    pub async fn add_contact(&self, link_code: String) -> Result<String, JsValue> {
        let card = ContactCard::from_link_code(&link_code).map_err(FacadeError::from)?;
        let key = self.with_messenger(|m| m.add_contact(&card, &mut rng()))?;
        self.save_messaging(MessageWrites::default()).await?;
        Ok(hex(&key))
    }

    /// The longest text `sendText` takes, in UTF-8 bytes: the one limit every screen uses.
    #[wasm_bindgen(js_name = maxTextBytes)]
    pub fn max_text_bytes() -> u32 {
        crate::messaging::messenger::MAX_TEXT_LEN as u32
    }

    /// This persona's contacts.
    #[wasm_bindgen(unchecked_return_type = "ContactView[]")]
    pub fn contacts(&self) -> Result<js_sys::Array, JsValue> {
        let own = self.with_messenger(|m| Ok(m.persona_key()))?;
        self.read_messenger(|m| {
            to_js_array(m.contacts().map(|(key, name)| ContactView {
                persona_key: hex(&key),
                display_name: name.to_owned(),
                conversation_id: hex(
                    crate::messaging::messenger::conversation_id(&own, &key).as_bytes(),
                ),
            }))
        })
    }

    /// The conversations, the most recent first.
    #[wasm_bindgen(unchecked_return_type = "ConversationView[]")]
    pub fn conversations(&self) -> Result<js_sys::Array, JsValue> {
        self.read_messenger(|m| {
            let mut rows: Vec<ConversationView> = m
                .conversations()
                .map(|(id, log)| {
                    let last = log.recent_messages().next_back();
                    ConversationView {
                        conversation_id: hex(id.as_bytes()),
                        peer_key: hex(&log.peer),
                        title: m
                            .contact_name(&log.peer)
                            .unwrap_or("Unknown contact")
                            .to_owned(),
                        unread: log.unread() as u32,
                        notifying: log.notifying() as u32,
                        last_body: last.map(|message| message.body.clone()),
                        last_at: last.map_or(0, |message| message.sent_at_ms),
                        disputed: m.is_disputed(&log.peer),
                    }
                })
                .collect();
            rows.sort_by_key(|row| std::cmp::Reverse(row.last_at));
            to_js_array(rows)
        })
    }

    /// A conversation's latest messages (up to 100) in order. Older ones come from
    /// `earlierMessages`.
    #[wasm_bindgen(unchecked_return_type = "MessageView[]")]
    pub fn messages(&self, conversation_id: &str) -> Result<js_sys::Array, JsValue> {
        let id = conversation_from_hex(conversation_id)?;
        let rows = self.with_messenger(|m| {
            let log = m
                .conversation(&id)
                .ok_or(MessagingError::UnknownConversation)?;
            Ok(to_js_array(
                log.recent_messages()
                    .map(|message| message_view(m, message, log.peer)),
            ))
        })?;
        Ok(rows)
    }

    /// Up to `limit` messages of a conversation from before message `beforeId` (hex; the
    /// latest when absent), in order, as `messages` shows them. Read from the vault a page
    /// at a time: scrolling back through any length of history.
    #[wasm_bindgen(js_name = earlierMessages, unchecked_return_type = "MessageView[]")]
    pub async fn earlier_messages(
        &self,
        conversation_id: &str,
        before_id: Option<String>,
        limit: u32,
    ) -> Result<js_sys::Array, JsValue> {
        let id = conversation_from_hex(conversation_id)?;
        let vault = self.unlocked_vault()?;
        let peer = self.with_messenger(|m| {
            m.conversation(&id)
                .map(|log| log.peer)
                .ok_or(MessagingError::UnknownConversation)
        })?;
        let before = before_id
            .map(|before| id_from_hex::<16>(&before, "message id").map(MessageId::from_bytes))
            .transpose()?;
        let latest = vault
            .latest_messages(&id, before.as_ref(), limit as usize)
            .await
            .map_err(FacadeError::from)?
            .ok_or_else(|| FacadeError::new("unknown_message", "no such message here"))?;
        let rows = self.with_messenger(|m| {
            Ok(to_js_array(
                latest.iter().map(|message| message_view(m, message, peer)),
            ))
        })?;
        Ok(rows)
    }

    /// Copies of messages of a conversation that conflicted with the one it shows (its
    /// sender and id with another text): a contact rewriting what it sent, or a copy the
    /// persona's own history replaced. As `messages` shows messages.
    #[wasm_bindgen(unchecked_return_type = "MessageView[]")]
    pub async fn conflicts(&self, conversation_id: &str) -> Result<js_sys::Array, JsValue> {
        let id = conversation_from_hex(conversation_id)?;
        let vault = self.unlocked_vault()?;
        let conflicts = vault.conflicts(&id).await.map_err(FacadeError::from)?;
        let rows = self.with_messenger(|m| {
            let peer = m
                .conversation(&id)
                .map(|log| log.peer)
                .ok_or(MessagingError::UnknownConversation)?;
            Ok(to_js_array(
                conflicts
                    .iter()
                    .map(|message| message_view(m, message, peer)),
            ))
        })?;
        Ok(rows)
    }

    /// How many messages this device holds in a conversation.
    #[wasm_bindgen(js_name = messageCount)]
    pub async fn message_count(&self, conversation_id: &str) -> Result<u32, JsValue> {
        let id = conversation_from_hex(conversation_id)?;
        let vault = self.unlocked_vault()?;
        Ok(vault.count_messages(&id).await.map_err(FacadeError::from)?)
    }

    /// Sends a text to a contact (persona key, hex); returns the message as `messages`
    /// shows it. It goes out at the next `syncMessages` or `flushToNetwork`.
    #[wasm_bindgen(js_name = sendText, unchecked_return_type = "MessageView")]
    pub async fn send_text(&self, persona_key: &str, body: String) -> Result<JsValue, JsValue> {
        let to = id_from_hex::<32>(persona_key, "persona key")?;
        let (message, view) = self.with_messenger(|m| {
            let message = m.send_text(&to, &body, now_ms(), &mut rng())?;
            let view = to_js(&message_view(m, &message, to));
            Ok((message, view))
        })?;
        self.save_messaging(MessageWrites {
            live: std::slice::from_ref(&message),
            ..MessageWrites::default()
        })
        .await?;
        Ok(view)
    }

    /// Marks a conversation read on every device of the persona.
    #[wasm_bindgen(js_name = markRead)]
    pub async fn mark_read(&self, conversation_id: &str) -> Result<(), JsValue> {
        let id = conversation_from_hex(conversation_id)?;
        if self.with_messenger(|m| m.mark_read(&id, &mut rng()))? {
            self.save_messaging(MessageWrites::default()).await?;
        }
        Ok(())
    }

    /// Dismisses a conversation's notifications on every device, without reading it.
    pub async fn dismiss(&self, conversation_id: &str) -> Result<(), JsValue> {
        let id = conversation_from_hex(conversation_id)?;
        if self.with_messenger(|m| m.dismiss(&id, &mut rng()))? {
            self.save_messaging(MessageWrites::default()).await?;
        }
        Ok(())
    }

    /// The persona's devices, in the roster's order.
    #[wasm_bindgen(unchecked_return_type = "DeviceView[]")]
    pub fn devices(&self) -> Result<js_sys::Array, JsValue> {
        self.read_messenger(|m| {
            to_js_array(m.roster().devices.iter().map(|device| DeviceView {
                device_id: hex(device.device_id.as_bytes()),
                name: device.name.clone(),
                added_at: device.added_at,
                this_device: device.device_id == m.device_id(),
                last_active: m.last_active(&device.device_id),
            }))
        })
    }

    /// Whether this device was taken off its persona's roster (it reads and sends nothing
    /// new); kept across reloads.
    #[wasm_bindgen(getter)]
    pub fn revoked(&self) -> bool {
        self.device
            .borrow()
            .sync()
            .is_some_and(|sync| sync.messenger().is_revoked())
    }

    /// Whether this persona's key signed a device list this device's roster does not
    /// explain: someone else holds the recovery code (or another device took the authority
    /// and changed the devices). Until the device holding the authority settles it
    /// (`settleRoster`), nothing goes to a device only one of the lists names.
    #[wasm_bindgen(getter, js_name = rosterDisputed)]
    pub fn roster_disputed(&self) -> bool {
        self.device
            .borrow()
            .sync()
            .map(PersonaSync::messenger)
            .is_some_and(|m| m.is_disputed(&m.persona_key()))
    }

    /// On the device holding the authority: signs its device list again past the disputed
    /// one, with a new inbox, and tells the contacts and the other devices.
    #[wasm_bindgen(js_name = settleRoster)]
    pub async fn settle_roster(&self) -> Result<(), JsValue> {
        self.with_messenger(|m| m.settle_roster(&mut rng()))?;
        self.save_messaging(MessageWrites::default()).await?;
        Ok(())
    }

    /// The roster's epoch: it grows with every device added or revoked.
    #[wasm_bindgen(getter, js_name = rosterEpoch)]
    pub fn roster_epoch(&self) -> Option<f64> {
        self.device
            .borrow()
            .sync()
            .map(|sync| sync.messenger().roster().epoch as f64)
    }

    /// Removes another device of the persona: it reads nothing sent from now on.
    #[wasm_bindgen(js_name = revokeDevice)]
    pub async fn revoke_device(&self, device_id: &str) -> Result<(), JsValue> {
        let id = DeviceId::from_bytes(id_from_hex::<16>(device_id, "device id")?);
        self.with_messenger(|m| m.revoke_device(&id, &mut rng()))?;
        self.save_messaging(MessageWrites::default()).await?;
        Ok(())
    }

    /// Offers this persona's history again to one of its devices (`deviceId`, hex), as a
    /// link does: a device that has it already imports nothing twice.
    #[wasm_bindgen(js_name = offerHistory)]
    pub async fn offer_history(&self, device_id: &str) -> Result<(), JsValue> {
        let id = DeviceId::from_bytes(id_from_hex::<16>(device_id, "device id")?);
        Ok(self.offer_history_to(&id).await?)
    }

    /// Sends what is waiting, then reads the persona's inbox (waiting up to `waitMs` for
    /// something new) and returns what changed, each a [`SyncEvent`] told apart by `type`
    /// (in TypeScript, a union to `switch` on).
    #[wasm_bindgen(js_name = syncMessages, unchecked_return_type = "SyncEvent[]")]
    pub async fn sync_messages(&self, wait_ms: u32) -> Result<js_sys::Array, JsValue> {
        let synced = self.sync_round(wait_ms).await;
        self.step_ended(synced.is_ok());
        Ok(synced?)
    }

    /// What waits in this device's outbox, stored, to be put on the network: `{ envelopes,
    /// historyBlocks }`. It empties as a write quorum of nodes acknowledges each; a reload
    /// keeps it.
    #[wasm_bindgen(js_name = outboxSize, unchecked_return_type = "OutboxSizeView")]
    pub fn outbox_size(&self) -> Result<JsValue, JsValue> {
        let view = self.with_messenger(|m| {
            Ok(OutboxSizeView {
                envelopes: m.outbox().envelopes() as u32,
                history_blocks: m.outbox().blocks() as u32,
            })
        })?;
        Ok(to_js(&view))
    }

    /// How the network has treated this device since it connected: `{ stored, notStored,
    /// fetched, duplicates, repaired, refused }` — envelopes a quorum of nodes stored, puts
    /// that must be tried again, envelopes read for the first time, copies dropped (from
    /// several nodes, replayed, or read again), envelopes sent back to nodes that lacked
    /// them, and envelopes refused as altered or unreadable since this manager opened.
    #[wasm_bindgen(js_name = networkStats, unchecked_return_type = "NetworkStatsView")]
    pub fn network_stats(&self) -> Result<JsValue, JsValue> {
        let traffic = self.connected()?.traffic();
        Ok(to_js(&NetworkStatsView {
            stored: traffic.stored,
            not_stored: traffic.not_stored,
            fetched: traffic.fetched,
            duplicates: traffic.duplicates,
            repaired: traffic.repaired,
            refused: self.refused.get(),
        }))
    }
}

impl SyncManager {
    /// Acts on a direct-channel signal; other events need nothing here.
    async fn on_direct_signal(&self, event: &MessagingEvent) -> Result<(), FacadeError> {
        match event {
            MessagingEvent::DirectRequested {
                transfer_id, sdp, ..
            } => self.direct_requested(transfer_id, sdp).await,
            MessagingEvent::DirectAccepted { sdp, .. } => self.direct_accepted(sdp).await,
            _ => Ok(()),
        }
    }

    /// An envelope refused with its typed error (nothing stored changed), counted for
    /// `networkStats`.
    fn refused_view(&self, error: &MessagingError) -> SyncEvent {
        self.refused.set(self.refused.get().saturating_add(1));
        SyncEvent::Refused {
            code: error.code().to_owned(),
            message: error.to_string(),
        }
    }

    /// A `history_progress` event: a block stored, with the rate since the import
    /// started and the time it still needs at that rate.
    fn progress_view(&self, block: &HistoryBlockStored) -> SyncEvent {
        let progress = &block.progress;
        SyncEvent::HistoryProgress(HistoryProgressView {
            via: block.via.as_str(),
            imported: block.imported as u32,
            blocks_done: progress.blocks_done as u64,
            blocks_total: progress.blocks_total as u64,
            messages_done: progress.messages_done,
            messages_total: progress.messages_total,
            bytes_done: progress.bytes_done,
            bytes_total: progress.bytes_total,
            bytes_per_second: block.bytes_per_second,
            seconds_remaining: block.seconds_remaining,
            complete: block.complete,
        })
    }

    fn device_event_view(&self, event: &DeviceEvent) -> Result<SyncEvent, FacadeError> {
        Ok(match event {
            DeviceEvent::Messaging(event) => self.event_view(event)?,
            DeviceEvent::Refused(error) => self.refused_view(error),
            DeviceEvent::HistoryBlock(block) => self.progress_view(block),
            DeviceEvent::DirectFailed(error) => SyncEvent::HistoryChannelFailed {
                code: error.code().to_owned(),
                message: error.to_string(),
            },
        })
    }
}

/// A direct history channel that could not be set up or used; the mailbox carries on.
fn channel_failed(error: &FacadeError) -> SyncEvent {
    SyncEvent::HistoryChannelFailed {
        code: error.code().to_owned(),
        message: error.message().to_owned(),
    }
}

fn message_view(messenger: &Messenger, message: &Message, peer: [u8; 32]) -> MessageView {
    let (sender, sender_name) = match message.sender {
        Sender::OwnDevice(id) if id == messenger.device_id() => (SenderKind::Me, "Me".to_owned()),
        Sender::OwnDevice(id) => (
            SenderKind::OwnDevice,
            messenger
                .roster()
                .device(&id)
                .map_or_else(|| "Another device".to_owned(), |d| d.name.clone()),
        ),
        Sender::Contact(_) => (
            SenderKind::Contact,
            messenger
                .contact_name(&peer)
                .unwrap_or("Unknown contact")
                .to_owned(),
        ),
    };
    MessageView {
        id: hex(message.id.as_bytes()),
        conversation_id: hex(message.conversation_id.as_bytes()),
        sender,
        sender_name,
        sent_at: message.sent_at_ms,
        body: message.body.clone(),
    }
}

impl SyncManager {
    /// Runs `action` on this device's messenger; `no_persona` when there is none.
    pub(super) fn with_messenger<T>(
        &self,
        action: impl FnOnce(&mut Messenger) -> Result<T, MessagingError>,
    ) -> Result<T, FacadeError> {
        let mut messenger = self.messenger_mut()?;
        action(&mut messenger).map_err(FacadeError::from)
    }

    /// Kept apart from [`Self::with_messenger`], which is instantiated for every action, so
    /// that the package holds its checks once.
    fn messenger_mut(&self) -> Result<std::cell::RefMut<'_, Messenger>, FacadeError> {
        Ok(std::cell::RefMut::map(
            self.sync_mut()?,
            PersonaSync::messenger_mut,
        ))
    }

    /// The sync of this tab's persona, unless another tab holds it.
    pub(super) fn sync_mut(&self) -> Result<std::cell::RefMut<'_, PersonaSync>, FacadeError> {
        if self.open_elsewhere() {
            return Err(self.step_aside());
        }
        std::cell::RefMut::filter_map(self.device.borrow_mut(), Device::sync_mut)
            .map_err(|_| DeviceError::NoPersona.into())
    }

    fn read_messenger(
        &self,
        rows: impl FnOnce(&Messenger) -> js_sys::Array,
    ) -> Result<js_sys::Array, JsValue> {
        if self.open_elsewhere() {
            return Err(self.step_aside().into());
        }
        let device = self.device.borrow();
        let sync = device
            .sync()
            .ok_or(DeviceError::NoPersona)
            .map_err(FacadeError::from)?;
        Ok(rows(sync.messenger()))
    }

    /// Saves the messenger's state — its outbox with it — and `messages` in one vault
    /// transaction; for each message, whether the vault did not hold it yet. What the
    /// outbox held then may leave from now on.
    pub(super) async fn save_messaging(
        &self,
        messages: MessageWrites<'_>,
    ) -> Result<Vec<bool>, FacadeError> {
        let (snapshot, mark) = self.with_messenger(|m| Ok((m.snapshot()?, m.outbox().mark())))?;
        let new = self
            .unlocked_vault()?
            .save_messaging(&snapshot, messages, &mut rng())
            .await?;
        self.with_messenger(|m| {
            m.outbox_mut().persisted(mark);
            Ok(())
        })?;
        Ok(new)
    }

    /// The messenger of an unlocked vault, with its conversations' messages.
    pub(super) async fn load_messenger(&self) -> Result<(), FacadeError> {
        let vault = self.unlocked_vault()?;
        let Some(state) = vault.messaging_state().await? else {
            return Ok(());
        };
        let persona = vault.persona().await?;
        let device = vault.device().await?;
        let mut messenger = Messenger::restore(&persona, &device, &state)?;
        messenger.restore_from_vault(&vault).await?;
        let announced = messenger.announce_sealing_key(&mut rng())?;
        self.device.borrow_mut().hold(PersonaSync::new(messenger));
        if announced {
            self.save_messaging(MessageWrites::default()).await?;
        }
        Ok(())
    }

    /// A new persona's first device: its roster, published at the next sync.
    pub(super) async fn start_messaging(&self) -> Result<(), FacadeError> {
        let vault = self.unlocked_vault()?;
        let persona = vault.persona().await?;
        let device = vault.device().await?;
        let messenger = Messenger::create(&persona, &device, now_secs(), &mut rng())?;
        self.device.borrow_mut().hold(PersonaSync::new(messenger));
        self.save_messaging(MessageWrites::default())
            .await
            .map(drop)
    }

    /// The source put a linked device on the roster ([`Device::receive_pairing`]): that
    /// is stored, and the history offered. History that cannot be offered never undoes
    /// the link: it is reported, and `offerHistory` tries again.
    pub(super) async fn linked_device_added(
        &self,
        device_id: &DeviceId,
    ) -> Result<(), FacadeError> {
        self.save_messaging(MessageWrites::default()).await?;
        if let Err(error) = self.offer_history_to(device_id).await {
            web_sys::console::warn_1(
                &format!(
                    "history not offered ({}): {}",
                    error.code(),
                    error.message()
                )
                .into(),
            );
        }
        Ok(())
    }

    /// Carries out a [`Save`] the device asked for: one vault write; for each message,
    /// whether the vault did not hold it yet.
    pub(super) async fn store(&self, save: &Save) -> Result<Vec<bool>, FacadeError> {
        Ok(self
            .unlocked_vault()?
            .save_messaging(&save.state, save.writes(), &mut rng())
            .await?)
    }

    /// Carries out an unlink's requests (see [`crate::device::sync::unlink`]) until the
    /// device says its data may go; anything else is an error, and nothing is deleted.
    pub(super) async fn drive_unlink(&self) -> Result<(), FacadeError> {
        loop {
            let next = self.sync_mut()?.poll_unlink();
            match next {
                Some(UnlinkRequest::Delete) => return Ok(()),
                Some(UnlinkRequest::Save(save)) => {
                    self.store(&save).await?;
                    self.sync_mut()?.handle_unlink_saved(save.mark)?;
                }
                Some(UnlinkRequest::Flush) => {
                    // A flush under way may have begun before the leave: the unlink's own
                    // flush comes after it.
                    while self.sync_mut()?.is_flushing() {
                        super::sleep_ms(50).await;
                    }
                    self.flush_messaging(&self.connected()?).await?;
                    self.sync_mut()?.handle_unlink_flushed()?;
                }
                None => return Err(DeviceError::NoSuchRequest.into()),
            }
        }
    }

    /// Carries out a flush of the device's outbox (see [`crate::device::flush`]); returns
    /// how many puts a write quorum stored. A flush under way elsewhere is left to finish.
    pub(super) async fn flush_messaging(
        &self,
        network: &crate::network::client::MailboxClient,
    ) -> Result<u32, FacadeError> {
        if !self.sync_mut()?.start_flush() {
            return Ok(0);
        }
        let flushed = self.drive_flush(network).await;
        if flushed.is_err() {
            if let Ok(mut sync) = self.sync_mut() {
                sync.abandon_flush();
            }
        }
        flushed
    }

    async fn drive_flush(
        &self,
        network: &crate::network::client::MailboxClient,
    ) -> Result<u32, FacadeError> {
        let mut sent = 0;
        let mut failure = None;
        loop {
            let next = self.sync_mut()?.poll_transmit();
            let Some(request) = next else {
                return failure.map_or(Ok(sent), Err);
            };
            let put = match request {
                FlushRequest::Envelope(pending) => {
                    let envelope = Envelope::new(pending.transmit.bytes)?;
                    MailboxTransport::put(network, &pending.transmit.mailbox, envelope)
                        .await
                        .map_err(|error| FacadeError::new(error.code(), error.to_string()))
                }
                FlushRequest::HistoryBlock { publication, index } => {
                    self.put_history_block(network, &publication, index).await
                }
                FlushRequest::Save(save) => {
                    self.store(&save).await?;
                    self.sync_mut()?.handle_flush_saved(save.mark)?;
                    continue;
                }
            };
            match put {
                Ok(()) => {
                    self.sync_mut()?.handle_transmitted()?;
                    sent += 1;
                }
                Err(error) => {
                    self.sync_mut()?.handle_transmit_failed()?;
                    failure = Some(error);
                }
            }
        }
    }

    fn event_view(&self, event: &MessagingEvent) -> Result<SyncEvent, FacadeError> {
        Ok(match event {
            MessagingEvent::Message {
                conversation_id,
                message,
            } => SyncEvent::Message(self.with_messenger(|m| {
                let peer = m
                    .conversation(conversation_id)
                    .map(|log| log.peer)
                    .unwrap_or_default();
                Ok(message_view(m, message, peer))
            })?),
            MessagingEvent::ReadStateChanged {
                conversation_id,
                unread,
            } => SyncEvent::ReadState {
                conversation_id: hex(conversation_id.as_bytes()),
                unread: *unread as u32,
            },
            MessagingEvent::ContactAdded {
                persona_key,
                display_name,
            } => SyncEvent::ContactAdded {
                persona_key: hex(persona_key),
                display_name: display_name.clone(),
            },
            MessagingEvent::RosterChanged { persona_key, epoch } => SyncEvent::RosterChanged {
                persona_key: hex(persona_key),
                epoch: *epoch,
            },
            MessagingEvent::DeviceLinked {
                device_id,
                name,
                added_at,
            } => SyncEvent::DeviceLinked {
                device_id: hex(device_id.as_bytes()),
                name: name.clone(),
                added_at: *added_at,
            },
            MessagingEvent::DeviceRevoked => SyncEvent::Revoked,
            MessagingEvent::RosterDisputed { persona_key, epoch } => SyncEvent::RosterDisputed {
                persona_key: hex(persona_key),
                epoch: *epoch,
            },
            MessagingEvent::HistoryOffered { transfer_id } => SyncEvent::HistoryOffered {
                transfer_id: hex(transfer_id.as_bytes()),
            },
            // The device takes history in its sync and reports each block once stored
            // (`DeviceEvent::HistoryBlock`); this is the block as it was read.
            MessagingEvent::HistoryImported { messages, progress } => {
                self.progress_view(&HistoryBlockStored {
                    via: HistoryPath::Mailbox,
                    imported: messages.len(),
                    progress: *progress,
                    bytes_per_second: 0.0,
                    seconds_remaining: None,
                    complete: progress.blocks_done == progress.blocks_total,
                })
            }
            MessagingEvent::ConflictingCopy {
                conversation_id,
                message,
            } => SyncEvent::Conflict {
                conversation_id: hex(conversation_id.as_bytes()),
                id: hex(message.id.as_bytes()),
            },
            MessagingEvent::DirectRequested { transfer_id, .. } => {
                SyncEvent::HistoryChannelRequested {
                    transfer_id: hex(transfer_id.as_bytes()),
                }
            }
            MessagingEvent::DirectAccepted { transfer_id, .. } => {
                SyncEvent::HistoryChannelAccepted {
                    transfer_id: hex(transfer_id.as_bytes()),
                }
            }
            MessagingEvent::Gap {
                conversation_id,
                missing,
                ..
            } => SyncEvent::Gap {
                conversation_id: hex(conversation_id.as_bytes()),
                missing: missing.clone(),
            },
        })
    }
}
