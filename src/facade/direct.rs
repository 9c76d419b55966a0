//! History over a direct WebRTC channel, beside the mailbox: the driver of the core's
//! [`DirectLink`] rules. The new device asks the source for a channel, sends it what it
//! lacks once the channel opens, and takes the blocks that arrive at each sync; the source
//! serves each want from its vault. The mailbox carries the history whenever no channel
//! does, and always when direct history is switched off.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;

use super::{now_ms, rng, DeviceStore, FacadeError, SyncManager};
use crate::device::HISTORY_BATCH;
use crate::drivers::data_channel::{ChannelState, DirectChannel};
use crate::history::direct::{
    end_of_answer, is_end_of_answer, DirectServer, FrameIndex, WantFrame, CHANNEL_LABEL,
};
use crate::history::direct_link::{ChannelStatus, DirectLink, DirectStep};
use crate::vault::Vault;

/// This device's direct history channels, both ways.
pub(super) struct DirectLinks {
    enabled: bool,
    /// The conversation whose history the new device wants before the rest.
    first: Option<[u8; 16]>,
    /// The new device's channel to the source, and the rules it follows.
    incoming: Option<Rc<DirectChannel>>,
    link: DirectLink,
    /// Channels this device serves history on, until they close.
    outgoing: Vec<Rc<DirectChannel>>,
    serving: Serving,
}

impl DirectLinks {
    fn incoming_status(&self) -> Option<ChannelStatus> {
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
            link: DirectLink::default(),
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
            .map(|id| super::messaging::id_from_hex::<16>(&id, "conversation id"))
            .transpose()?;
        self.direct.borrow_mut().first = first;
        Ok(())
    }

    /// Closes the direct history channel this device receives on; the next sync asks for
    /// a new one, which carries only what is still missing.
    #[wasm_bindgen(js_name = closeHistoryChannel)]
    pub fn close_history_channel(&self) {
        if let Some(channel) = self.direct.borrow().incoming.as_ref() {
            channel.close();
        }
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

    /// A history transfer was offered to this device: it may ask for channels again.
    pub(super) fn direct_history_offered(&self) {
        let mut links = self.direct.borrow_mut();
        links.link.restart();
        links.incoming = None;
    }

    /// Whether history is arriving on an open channel (or waits in a closed one), so a sync
    /// should not sit waiting on the inbox.
    pub(super) fn direct_flowing(&self) -> bool {
        let links = self.direct.borrow();
        links.enabled && links.link.flowing(links.incoming_status())
    }

    /// Whether a direct channel carries (or may soon carry) this device's history, so the
    /// mailbox need not.
    pub(super) fn direct_carrying(&self) -> bool {
        let links = self.direct.borrow();
        links.enabled && links.link.carrying(links.incoming_status(), now_ms())
    }

    /// The new device's side, once a sync: takes the envelopes that came, and asks for a
    /// channel or leaves the history to the mailbox when the rules say so. The want goes
    /// out once what came is stored ([`SyncManager::want_more_direct`]).
    pub(super) async fn drive_direct(&self) -> Result<Vec<Vec<u8>>, FacadeError> {
        let Some(want) = self.direct_want()? else {
            return Ok(Vec::new());
        };
        let current = self.direct.borrow().incoming.clone();
        // A batch, and the end of answer that may follow it.
        let mut arrived = current
            .as_ref()
            .map(|channel| channel.take_received(HISTORY_BATCH + 1))
            .unwrap_or_default();
        let taken = arrived.len();
        if taken > 0 {
            self.direct.borrow_mut().link.frames_arrived(now_ms());
        }
        arrived.retain(|frame| !is_end_of_answer(frame, &want.transfer_id));
        if arrived.len() < taken {
            self.direct.borrow_mut().link.answer_ended();
        }
        let step = {
            let mut links = self.direct.borrow_mut();
            let status = links.incoming_status();
            links.link.observe(status, now_ms());
            links.link.next_step(status, !arrived.is_empty(), now_ms())
        };
        match step {
            DirectStep::AskForChannel => {
                let (channel, offer) = DirectChannel::offer(CHANNEL_LABEL).await?;
                self.with_messenger(|m| m.request_direct(offer, &mut rng()))?;
                let mut links = self.direct.borrow_mut();
                links.incoming = Some(Rc::new(channel));
                links.link.channel_requested(now_ms());
            }
            DirectStep::UseMailbox => self.direct.borrow_mut().incoming = None,
            DirectStep::SendWant | DirectStep::Wait => {}
        }
        Ok(arrived)
    }

    /// Once a sync's history is stored: the want the source waits for, if one is due, so it
    /// goes on at once.
    pub(super) async fn want_more_direct(&self) -> Result<(), FacadeError> {
        let Some(want) = self.direct_want()? else {
            return Ok(());
        };
        let (step, current) = {
            let links = self.direct.borrow();
            let step = links
                .link
                .next_step(links.incoming_status(), false, now_ms());
            (step, links.incoming.clone())
        };
        let (DirectStep::SendWant, Some(channel)) = (step, current) else {
            return Ok(());
        };
        let bytes = want
            .encode()
            .map_err(|e| FacadeError::new(e.code(), e.to_string()))?;
        channel.send(&bytes).await?;
        self.direct.borrow_mut().link.want_sent(now_ms());
        Ok(())
    }

    /// What this device still wants of its history over a direct channel; `None` when
    /// direct history is off or nothing is missing (the channel is then let go).
    fn direct_want(&self) -> Result<Option<WantFrame>, FacadeError> {
        if !self.direct.borrow().enabled {
            return Ok(None);
        }
        let first = self.direct.borrow().first;
        let want = self.with_messenger(|m| Ok(m.direct_want(first)))?;
        if want.is_none() {
            let mut links = self.direct.borrow_mut();
            links.incoming = None;
            links.link.forget_channel();
        }
        Ok(want)
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
        transfer_id: &[u8; 16],
        offer: &str,
    ) -> Result<(), FacadeError> {
        if !self.direct.borrow().enabled {
            return Ok(());
        }
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
