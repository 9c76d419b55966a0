//! A direct WebRTC data channel between two of a persona's browsers: one
//! `RTCPeerConnection` with one reliable, ordered channel, set up from session descriptions
//! that the caller carries (sealed) through the mailbox. No STUN or TURN: host candidates
//! only, so it opens between devices that reach each other directly (one machine, one
//! network), and the caller keeps another path for the rest.
//!
//! Sending waits while more than [`HIGH_WATER`] bytes are queued, until the queue drains to
//! [`LOW_WATER`] (`bufferedamountlow`); received messages wait in order until taken.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use js_sys::{ArrayBuffer, Promise, Uint8Array};
use thiserror::Error;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageEvent, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelInit, RtcDataChannelState,
    RtcDataChannelType, RtcIceGatheringState, RtcPeerConnection, RtcSdpType,
    RtcSessionDescriptionInit,
};

/// Above this many queued bytes a send waits.
pub const HIGH_WATER: u32 = 1024 * 1024;
/// A waiting send goes on once the queue is down to this.
pub const LOW_WATER: u32 = 256 * 1024;
/// The largest message Chromium's data channels carry.
pub const MAX_MESSAGE_LEN: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DataChannelError {
    #[error("the browser refused the WebRTC step: {0}")]
    Browser(String),
    #[error("the data channel is closed")]
    Closed,
    #[error("a {len}-byte message is over the data channel's {MAX_MESSAGE_LEN}-byte limit")]
    TooLarge { len: usize },
}

impl DataChannelError {
    pub fn code(&self) -> &'static str {
        match self {
            DataChannelError::Browser(_) => "webrtc_refused",
            DataChannelError::Closed => "channel_closed",
            DataChannelError::TooLarge { .. } => "channel_message_too_large",
        }
    }
}

fn refused(error: JsValue) -> DataChannelError {
    DataChannelError::Browser(
        error
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| error.as_string())
            .unwrap_or_else(|| "unknown error".into()),
    )
}

/// Where a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Connecting,
    Open,
    Closed,
}

/// What the channel's callbacks share with its owner.
#[derive(Default)]
struct Shared {
    channel: RefCell<Option<RtcDataChannel>>,
    state: Cell<Option<ChannelState>>,
    received: RefCell<VecDeque<Vec<u8>>>,
    /// Resolves a waiting [`DirectChannel::next_message`] or send.
    wake: RefCell<Option<js_sys::Function>>,
}

impl Shared {
    fn wake(&self) {
        if let Some(resolve) = self.wake.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    fn set_state(&self, state: ChannelState) {
        if self.state.get() != Some(ChannelState::Closed) {
            self.state.set(Some(state));
        }
        self.wake();
    }
}

type Callback = Closure<dyn FnMut(JsValue)>;

/// One peer connection and its history channel. One task at a time waits on it.
pub struct DirectChannel {
    peer: RtcPeerConnection,
    shared: Rc<Shared>,
    /// The browser calls these until the channel is dropped.
    callbacks: Rc<RefCell<Vec<Callback>>>,
}

impl DirectChannel {
    /// The side that asks: creates the channel and returns its offer, candidates included.
    pub async fn offer(label: &str) -> Result<(Self, String), DataChannelError> {
        let peer = RtcPeerConnection::new().map_err(refused)?;
        let init = RtcDataChannelInit::new();
        init.set_ordered(true);
        let channel = peer.create_data_channel_with_data_channel_dict(label, &init);
        let this = Self::new(peer);
        this.callbacks
            .borrow_mut()
            .extend(wire_channel(&this.shared, channel));
        let offer = JsFuture::from(this.peer.create_offer())
            .await
            .map_err(refused)?;
        let offer: RtcSessionDescriptionInit = offer.unchecked_into();
        JsFuture::from(this.peer.set_local_description(&offer))
            .await
            .map_err(refused)?;
        let sdp = this.gathered_description().await?;
        Ok((this, sdp))
    }

    /// The side that answers `offer`; the channel arrives from the other side.
    pub async fn answer(offer: &str) -> Result<(Self, String), DataChannelError> {
        let peer = RtcPeerConnection::new().map_err(refused)?;
        let this = Self::new(peer);
        let on_channel: Callback = Closure::new({
            let shared = Rc::clone(&this.shared);
            let callbacks = Rc::downgrade(&this.callbacks);
            move |event: JsValue| {
                let event: RtcDataChannelEvent = event.unchecked_into();
                let wired = wire_channel(&shared, event.channel());
                if let Some(callbacks) = callbacks.upgrade() {
                    callbacks.borrow_mut().extend(wired);
                }
            }
        });
        this.peer
            .set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        this.callbacks.borrow_mut().push(on_channel);
        let remote = RtcSessionDescriptionInit::new(RtcSdpType::Offer);
        remote.set_sdp(offer);
        JsFuture::from(this.peer.set_remote_description(&remote))
            .await
            .map_err(refused)?;
        let answer = JsFuture::from(this.peer.create_answer())
            .await
            .map_err(refused)?;
        let answer: RtcSessionDescriptionInit = answer.unchecked_into();
        JsFuture::from(this.peer.set_local_description(&answer))
            .await
            .map_err(refused)?;
        let sdp = this.gathered_description().await?;
        Ok((this, sdp))
    }

    /// The asking side takes the other's answer; the channel opens after it.
    pub async fn accept_answer(&self, answer: &str) -> Result<(), DataChannelError> {
        let remote = RtcSessionDescriptionInit::new(RtcSdpType::Answer);
        remote.set_sdp(answer);
        JsFuture::from(self.peer.set_remote_description(&remote))
            .await
            .map_err(refused)?;
        Ok(())
    }

    fn new(peer: RtcPeerConnection) -> Self {
        let shared = Rc::new(Shared::default());
        shared.state.set(Some(ChannelState::Connecting));
        Self {
            peer,
            shared,
            callbacks: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// The local description once every candidate is gathered (no trickle: one message).
    async fn gathered_description(&self) -> Result<String, DataChannelError> {
        while self.peer.ice_gathering_state() != RtcIceGatheringState::Complete {
            let peer = self.peer.clone();
            let changed = Promise::new(&mut |resolve, _| {
                peer.set_onicegatheringstatechange(Some(&resolve));
            });
            if self.peer.ice_gathering_state() == RtcIceGatheringState::Complete {
                break;
            }
            JsFuture::from(changed).await.map_err(refused)?;
        }
        self.peer.set_onicegatheringstatechange(None);
        self.peer
            .local_description()
            .map(|description| description.sdp())
            .ok_or_else(|| DataChannelError::Browser("no local description".into()))
    }

    pub fn state(&self) -> ChannelState {
        self.shared.state.get().unwrap_or(ChannelState::Closed)
    }

    /// How many received messages wait to be taken.
    pub fn pending(&self) -> usize {
        self.shared.received.borrow().len()
    }

    /// Up to `max` of the messages received so far, oldest first.
    pub fn take_received(&self, max: usize) -> Vec<Vec<u8>> {
        let mut received = self.shared.received.borrow_mut();
        let count = received.len().min(max);
        received.drain(..count).collect()
    }

    /// The next message, waiting for it; `None` once the channel closed.
    pub async fn next_message(&self) -> Option<Vec<u8>> {
        loop {
            if let Some(message) = self.shared.received.borrow_mut().pop_front() {
                return Some(message);
            }
            if self.state() == ChannelState::Closed {
                return None;
            }
            self.wait().await;
        }
    }

    /// Sends `bytes` as one message once the queue is below [`HIGH_WATER`].
    pub async fn send(&self, bytes: &[u8]) -> Result<(), DataChannelError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DataChannelError::TooLarge { len: bytes.len() });
        }
        loop {
            if self.state() == ChannelState::Closed {
                return Err(DataChannelError::Closed);
            }
            let channel = self.shared.channel.borrow().clone();
            match channel {
                Some(channel)
                    if self.state() == ChannelState::Open
                        && channel.buffered_amount() <= HIGH_WATER =>
                {
                    return channel.send_with_u8_array(bytes).map_err(refused);
                }
                _ => self.wait().await,
            }
        }
    }

    /// Until a callback wakes this side: a message, a state change, a drained queue.
    async fn wait(&self) {
        let shared = Rc::clone(&self.shared);
        let woken = Promise::new(&mut |resolve, _| {
            *shared.wake.borrow_mut() = Some(resolve);
        });
        let _ = JsFuture::from(woken).await;
    }

    /// Closes the channel; messages received and not yet taken are dropped with it.
    pub fn close(&self) {
        if let Some(channel) = self.shared.channel.borrow().as_ref() {
            channel.close();
        }
        self.peer.close();
        self.shared.received.borrow_mut().clear();
        self.shared.set_state(ChannelState::Closed);
    }
}

impl Drop for DirectChannel {
    /// Closes, and unhooks every callback before they go, so none is called after.
    fn drop(&mut self) {
        self.close();
        self.peer.set_ondatachannel(None);
        self.peer.set_onicegatheringstatechange(None);
        if let Some(channel) = self.shared.channel.borrow().as_ref() {
            channel.set_onmessage(None);
            channel.set_onopen(None);
            channel.set_onclose(None);
            channel.set_onerror(None);
            channel.set_onbufferedamountlow(None);
        }
        self.callbacks.borrow_mut().clear();
    }
}

/// Hooks `channel` up to `shared`: its messages, its state and its drained queue.
fn wire_channel(shared: &Rc<Shared>, channel: RtcDataChannel) -> Vec<Callback> {
    channel.set_binary_type(RtcDataChannelType::Arraybuffer);
    channel.set_buffered_amount_low_threshold(LOW_WATER);
    let on_message: Callback = Closure::new({
        let shared = Rc::clone(shared);
        move |event: JsValue| {
            let event: MessageEvent = event.unchecked_into();
            if let Ok(buffer) = event.data().dyn_into::<ArrayBuffer>() {
                shared
                    .received
                    .borrow_mut()
                    .push_back(Uint8Array::new(&buffer).to_vec());
                shared.wake();
            }
        }
    });
    let on_open: Callback = Closure::new({
        let shared = Rc::clone(shared);
        move |_| shared.set_state(ChannelState::Open)
    });
    let on_close: Callback = Closure::new({
        let shared = Rc::clone(shared);
        move |_| shared.set_state(ChannelState::Closed)
    });
    let on_low: Callback = Closure::new({
        let shared = Rc::clone(shared);
        move |_| shared.wake()
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    channel.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    channel.set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
    if channel.ready_state() == RtcDataChannelState::Open {
        shared.set_state(ChannelState::Open);
    }
    *shared.channel.borrow_mut() = Some(channel);
    vec![on_message, on_open, on_close, on_low]
}
