//! History over a direct WebRTC channel, beside the mailbox: the channels the device's
//! sync asks for (see [`crate::device`]). The new device's channel is made, fed and let go
//! as the round's requests say; the source serves each want from its vault. The mailbox
//! carries the history whenever no channel does, and always when direct history is
//! switched off.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::{rng, DeviceStore, FacadeError, SyncManager};
use crate::drivers::data_channel::{ChannelState, DirectChannel};
use crate::history::direct::{end_of_answer, DirectServer, FrameIndex, WantFrame, CHANNEL_LABEL};
use crate::history::direct_link::ChannelStatus;
use crate::persona::ConversationId;
use crate::vault::Vault;

/// This device's direct history channels, both ways.
pub(super) struct DirectLinks {
    enabled: bool,
    /// The conversation whose history the new device wants before the rest.
    first: Option<ConversationId>,
    /// The new device's channel to the source.
    incoming: Option<Rc<DirectChannel>>,
    /// Channels this device serves history on, until they close.
    outgoing: Vec<Rc<DirectChannel>>,
    serving: Serving,
}

impl DirectLinks {
    /// How this device's history may come over a direct channel, for a sync's start.
    pub(super) fn start(&self) -> (bool, Option<ConversationId>, Option<ChannelStatus>) {
        (self.enabled, self.first, self.incoming_status())
    }

    pub(super) fn incoming_status(&self) -> Option<ChannelStatus> {
        self.incoming.as_ref().map(|channel| match channel.state() {
            ChannelState::Connecting => ChannelStatus::Connecting,
            ChannelState::Open => ChannelStatus::Open,
            ChannelState::Closed => ChannelStatus::Closed {
                undelivered: channel.pending(),
            },
        })
    }
}

/// What the serving tasks share with the facade.
#[derive(Clone, Default)]
pub(super) struct Serving {
    frames_sent: Rc<Cell<u32>>,
    /// Served blocks still to damage on the way (a fault for tests).
    #[cfg(feature = "fixtures")]
    corrupt: Rc<Cell<u32>>,
    /// Wants go unanswered on channels that stay open (a fault for tests: a source that
    /// froze), and how many were.
    #[cfg(feature = "fixtures")]
    mute: Rc<Cell<bool>>,
    #[cfg(feature = "fixtures")]
    unanswered: Rc<Cell<u32>>,
}

impl Serving {
    #[cfg(feature = "fixtures")]
    fn on_the_way<'a>(&self, index: FrameIndex, frame: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let left = self.corrupt.get();
        if left == 0 || index == 0 {
            return frame.into();
        }
        self.corrupt.set(left - 1);
        let mut damaged = frame.to_vec();
        if let Some(last) = damaged.last_mut() {
            *last ^= 0x55;
        }
        damaged.into()
    }

    #[cfg(not(feature = "fixtures"))]
    fn on_the_way<'a>(&self, _: FrameIndex, frame: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        frame.into()
    }

    #[cfg(feature = "fixtures")]
    fn muted(&self) -> bool {
        let mute = self.mute.get();
        if mute {
            self.unanswered.set(self.unanswered.get() + 1);
        }
        mute
    }

    #[cfg(not(feature = "fixtures"))]
    fn muted(&self) -> bool {
        false
    }
}

impl Default for DirectLinks {
    fn default() -> Self {
        Self {
            enabled: true,
            first: None,
            incoming: None,
            outgoing: Vec::new(),
            serving: Serving::default(),
        }
    }
}

#[wasm_bindgen]
impl SyncManager {
    /// Whether history may travel over a direct WebRTC channel between this device and
    /// the other (on by default); off, it comes through the mailbox network only.
    #[wasm_bindgen(js_name = setDirectHistory)]
    pub fn set_direct_history(&self, enabled: bool) {
        let mut links = self.direct.borrow_mut();
        links.enabled = enabled;
        if !enabled {
            links.incoming = None;
            links.outgoing.clear();
        }
    }

    /// Asks for conversation `conversationId`'s history (hex) before the rest of a catch-up
    /// under way — the conversation the user opened; `undefined` asks for the usual order
    /// again. It takes effect at the next answer on the direct channel (at most 32 blocks).
    #[wasm_bindgen(js_name = prioritizeHistory)]
    pub fn prioritize_history(&self, conversation_id: Option<String>) -> Result<(), JsValue> {
        let first = conversation_id
            .map(|id| super::messaging::conversation_from_hex(&id))
            .transpose()?;
        self.direct.borrow_mut().first = first;
        Ok(())
    }

    /// How many history envelopes this device has sent over direct channels.
    #[wasm_bindgen(getter, js_name = historyFramesSent)]
    pub fn history_frames_sent(&self) -> u32 {
        self.direct.borrow().serving.frames_sent.get()
    }
}

impl SyncManager {
    /// Damages the next `count` blocks this device serves on direct channels (a fault for
    /// tests).
    #[cfg(feature = "fixtures")]
    pub fn corrupt_served_history(&self, count: u32) {
        self.direct.borrow().serving.corrupt.set(count);
    }

    /// Closes the direct history channel this device receives on (a fault for tests: a
    /// path that broke); the next sync asks for a new one, which carries only what is still
    /// missing.
    #[cfg(feature = "fixtures")]
    pub fn close_history_channel(&self) {
        if let Some(channel) = self.direct.borrow().incoming.as_ref() {
            channel.close();
        }
    }

    /// Leaves every want on this device's direct channels unanswered while the channels
    /// stay open (a fault for tests: a source that froze).
    #[cfg(feature = "fixtures")]
    pub fn mute_served_history(&self, mute: bool) {
        self.direct.borrow().serving.mute.set(mute);
    }

    /// How many wants went unanswered ([`Self::mute_served_history`]).
    #[cfg(feature = "fixtures")]
    pub fn unanswered_history_wants(&self) -> u32 {
        self.direct.borrow().serving.unanswered.get()
    }

    /// The frames the source sent on this device's channel, up to `max`.
    pub(super) fn take_direct(&self, max: usize) -> Vec<Vec<u8>> {
        let current = self.direct.borrow().incoming.clone();
        current
            .map(|channel| channel.take_received(max))
            .unwrap_or_default()
    }

    /// A channel to the source, and its offer.
    pub(super) async fn open_direct(&self) -> Result<String, FacadeError> {
        let (channel, offer) = DirectChannel::offer(CHANNEL_LABEL).await?;
        self.direct.borrow_mut().incoming = Some(Rc::new(channel));
        Ok(offer)
    }

    pub(super) fn close_direct(&self) {
        self.direct.borrow_mut().incoming = None;
    }

    /// A want, on this device's channel.
    pub(super) async fn send_direct(&self, bytes: &[u8]) -> Result<(), FacadeError> {
        let current = self.direct.borrow().incoming.clone();
        match current {
            Some(channel) => Ok(channel.send(bytes).await?),
            None => Err(FacadeError::new(
                "channel_closed",
                "no direct channel is open",
            )),
        }
    }

    /// The source answered this device's request: the channel can open.
    pub(super) async fn direct_accepted(&self, answer: &str) -> Result<(), FacadeError> {
        let channel = self.direct.borrow().incoming.clone();
        if let Some(channel) = channel {
            channel.accept_answer(answer).await?;
        }
        Ok(())
    }

    /// The source's side: answers the new device's request and serves the transfer on the
    /// channel in the background, as fast as the channel drains.
    pub(super) async fn direct_requested(
        &self,
        transfer_id: &crate::history::TransferId,
        offer: &str,
    ) -> Result<(), FacadeError> {
        let Some(server) = self.with_messenger(|m| Ok(m.direct_server(transfer_id)))? else {
            return Ok(());
        };
        let (channel, answer) = DirectChannel::answer(offer).await?;
        self.with_messenger(|m| m.accept_direct(transfer_id, answer, &mut rng()))?;
        let channel = Rc::new(channel);
        let serving = self.direct.borrow().serving.clone();
        let vault = self.unlocked_vault()?;
        wasm_bindgen_futures::spawn_local(serve(Rc::clone(&channel), server, vault, serving));
        let mut links = self.direct.borrow_mut();
        links
            .outgoing
            .retain(|channel| channel.state() != ChannelState::Closed);
        links.outgoing.push(channel);
        Ok(())
    }
}

/// Answers each want of the new device with what it lacks (the blocks read from the vault
/// one at a time) and an end of answer, until the new device closes the channel.
async fn serve(
    channel: Rc<DirectChannel>,
    server: Arc<DirectServer>,
    vault: Rc<Vault<DeviceStore>>,
    serving: Serving,
) {
    while let Some(want) = channel.next_message().await {
        if serving.muted() {
            continue;
        }
        let frames = WantFrame::decode(&want)
            .map_err(crate::history::HistoryError::from)
            .and_then(|want| server.frames_for(&want));
        for index in frames.unwrap_or_default() {
            let frame = match index.checked_sub(1).map(u32::try_from) {
                None => Some(server.manifest().to_vec()),
                Some(Ok(block)) => vault
                    .history_block(&server.transfer_id(), block)
                    .await
                    .ok()
                    .flatten(),
                Some(Err(_)) => None,
            };
            // A block the vault no longer holds (a newer offer replaced this one) ends it.
            let Some(frame) = frame else {
                return;
            };
            if channel
                .send(&serving.on_the_way(index, &frame))
                .await
                .is_err()
            {
                return;
            }
            serving
                .frames_sent
                .set(serving.frames_sent.get().saturating_add(1));
        }
        if channel
            .send(&end_of_answer(&server.transfer_id()))
            .await
            .is_err()
        {
            return;
        }
    }
}
