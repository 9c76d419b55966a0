//! A round's direct-channel steps on the new device: the frames the channel brought, when
//! to ask the source for a channel, when to send a want, and whether the mailbox must
//! carry the history meanwhile (the rules are [`DirectLink`]'s). The driver holds the
//! WebRTC channel and reports its [`ChannelStatus`]; the serving side, on the source,
//! is the driver's too, fed by [`SyncRequest::DirectSignal`].

use rand_core::CryptoRng;

use super::{
    DeviceError, DeviceEvent, HistoryPath, PersonaSync, Stage, SyncRequest, HISTORY_BATCH,
};
use crate::history::direct::{is_end_of_answer, WantFrame};
use crate::history::direct_link::{ChannelStatus, DirectStep};

impl PersonaSync {
    /// After the inbox: the direct channel's frames are taken when a transfer is under way
    /// and direct history is on; otherwise the channel goes and the mailbox carries it.
    pub(super) fn drive_direct(&mut self) -> Result<(), DeviceError> {
        match self.wanted() {
            Some(want) => {
                self.stage = Stage::Direct {
                    transfer_id: want.transfer_id,
                };
                self.requests.push_back(SyncRequest::TakeDirect {
                    max: HISTORY_BATCH + 1,
                });
                Ok(())
            }
            None => {
                self.let_channel_go();
                self.after_direct(None, self.now_ms)
            }
        }
    }

    /// A [`SyncRequest::TakeDirect`] answered at `now_ms`: the frames taken, and the
    /// channel's status after taking them.
    pub fn handle_direct(
        &mut self,
        channel: Option<ChannelStatus>,
        mut arrived: Vec<Vec<u8>>,
        now_ms: u64,
    ) -> Result<(), DeviceError> {
        let Stage::Direct { transfer_id } = self.stage else {
            return Err(DeviceError::NoSuchRequest);
        };
        self.channel = channel;
        let taken = arrived.len();
        if taken > 0 {
            self.direct.frames_arrived(now_ms);
        }
        arrived.retain(|frame| !is_end_of_answer(frame, &transfer_id));
        if arrived.len() < taken {
            self.direct.answer_ended();
        }
        self.direct.observe(channel, now_ms);
        let step = self.direct.next_step(channel, !arrived.is_empty(), now_ms);
        for bytes in &arrived {
            self.import_history(bytes, HistoryPath::Direct);
        }
        match step {
            DirectStep::AskForChannel => {
                self.stage = Stage::OpeningDirect;
                self.requests.push_back(SyncRequest::OpenDirect);
                Ok(())
            }
            DirectStep::UseMailbox => {
                self.close_channel();
                self.after_direct(None, now_ms)
            }
            DirectStep::SendWant | DirectStep::Wait => self.after_direct(channel, now_ms),
        }
    }

    /// A [`SyncRequest::OpenDirect`] answered at `now_ms`: the channel's WebRTC offer,
    /// which goes to the source, or `None` when no channel could be made (the driver
    /// reports why).
    pub fn handle_direct_opened(
        &mut self,
        offer: Option<String>,
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), DeviceError> {
        if !matches!(self.stage, Stage::OpeningDirect) {
            return Err(DeviceError::NoSuchRequest);
        }
        let requested = offer.map(|sdp| self.messenger.request_direct(sdp, rng));
        let channel = match requested {
            Some(Ok(())) => {
                self.direct.channel_requested(now_ms);
                self.channel = Some(ChannelStatus::Connecting);
                self.channel
            }
            Some(Err(error)) => {
                self.events
                    .push_back(DeviceEvent::DirectFailed(error.into()));
                self.direct.channel_failed();
                self.close_channel();
                None
            }
            None => {
                self.direct.channel_failed();
                None
            }
        };
        self.after_direct(channel, now_ms)
    }

    /// A [`SyncRequest::CheckDirect`] answered at `now_ms`: a want goes out now if the
    /// channel is open and waits for one.
    pub fn handle_direct_status(
        &mut self,
        channel: Option<ChannelStatus>,
        now_ms: u64,
    ) -> Result<(), DeviceError> {
        if !matches!(self.stage, Stage::CheckingDirect) {
            return Err(DeviceError::NoSuchRequest);
        }
        self.stage = Stage::Idle;
        self.channel = channel;
        let step = self.direct.next_step(channel, false, now_ms);
        if let (Some(want), DirectStep::SendWant) = (self.wanted(), step) {
            match want.encode() {
                Ok(bytes) => {
                    self.stage = Stage::SendingWant;
                    self.requests.push_back(SyncRequest::SendDirect(bytes));
                }
                Err(error) => self
                    .events
                    .push_back(DeviceEvent::DirectFailed(error.into())),
            }
        }
        self.requests.push_back(SyncRequest::Flush);
        Ok(())
    }

    /// A [`SyncRequest::SendDirect`] answered: the want left at `now_ms`, and the channel
    /// must answer it in time.
    pub fn handle_direct_sent(&mut self, now_ms: u64) -> Result<(), DeviceError> {
        if !matches!(self.stage, Stage::SendingWant) {
            return Err(DeviceError::NoSuchRequest);
        }
        self.stage = Stage::Idle;
        self.direct.want_sent(now_ms);
        Ok(())
    }

    /// What this device still wants of its history over a direct channel; `None` when
    /// direct history is off or nothing is missing.
    pub(super) fn wanted(&self) -> Option<WantFrame> {
        if !self.direct_history {
            return None;
        }
        self.messenger.direct_want(self.first_conversation)
    }

    /// No channel is needed: the one held, if any, goes.
    pub(super) fn let_channel_go(&mut self) {
        self.direct.forget_channel();
        if self.channel.is_some() {
            self.close_channel();
        }
    }

    /// A new transfer was offered: its channels are asked for afresh.
    pub(super) fn restart_direct(&mut self) {
        self.direct.restart();
        self.close_channel();
    }

    fn close_channel(&mut self) {
        self.channel = None;
        self.requests.push_back(SyncRequest::CloseDirect);
    }

    /// The direct step is over: the history mailbox is read unless a channel carries (or
    /// may soon carry) the history.
    fn after_direct(
        &mut self,
        channel: Option<ChannelStatus>,
        now_ms: u64,
    ) -> Result<(), DeviceError> {
        let carrying = self.direct_history && self.direct.carrying(channel, now_ms);
        match self.messenger.history_mailbox() {
            Some(history) if !carrying => {
                self.stage = Stage::History {
                    mailbox: history.address(),
                    manifest_known: self.messenger.history_manifest_known(),
                };
                let fetch = self.fetch(&history, std::time::Duration::ZERO, HISTORY_BATCH);
                self.requests.push_back(SyncRequest::Fetch(fetch));
                Ok(())
            }
            _ => self.save(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::device::SyncStart;
    use crate::history::direct::end_of_answer;
    use crate::history::direct_link::{DIRECT_GRACE_MS, MAX_DIRECT_ATTEMPTS};
    use crate::mailbox::envelope::Envelope;
    use crate::mailbox::Transmit;
    use crate::messaging::{MessagingEvent, Messenger};
    use crate::persona::{DeviceKeys, Persona};
    use crate::testing::SeededRng;

    /// What the driver holds: the network's envelopes, the WebRTC channel, and what was
    /// sent on it.
    #[derive(Default)]
    struct Driver {
        network: Vec<Transmit>,
        channel: Option<ChannelStatus>,
        frames: Vec<Vec<u8>>,
        sent: Vec<Vec<u8>>,
        now_ms: u64,
        /// This browser cannot make a WebRTC channel.
        webrtc_broken: bool,
        /// The history mailbox has not got the manifest yet.
        history_held: bool,
    }

    impl Driver {
        /// One sync round; the requests it made, by name.
        fn round(&mut self, device: &mut PersonaSync, rng: &mut SeededRng) -> Vec<&'static str> {
            device
                .start_sync(SyncStart {
                    now_ms: self.now_ms,
                    wait: Duration::from_secs(1),
                    direct_history: true,
                    first_conversation: None,
                    channel: self.channel,
                })
                .expect("started");
            let mut asked = Vec::new();
            while let Some(request) = device.poll_request() {
                let now = self.now_ms;
                let answered = match request {
                    SyncRequest::Flush => {
                        asked.push("flush");
                        Ok(())
                    }
                    SyncRequest::Fetch(fetch) => {
                        let history = fetch.enough == HISTORY_BATCH;
                        asked.push(if history { "history" } else { "fetch" });
                        if history && self.history_held {
                            device
                                .handle_fetched(fetch.cursor, Vec::new(), rng)
                                .expect("asked");
                            continue;
                        }
                        let (mine, rest) = self
                            .network
                            .drain(..)
                            .partition(|t| t.mailbox == fetch.mailbox);
                        self.network = rest;
                        let envelopes = mine
                            .into_iter()
                            .map(|t: Transmit| Envelope::new(t.bytes).expect("fits"))
                            .collect();
                        device.handle_fetched(fetch.cursor, envelopes, rng)
                    }
                    SyncRequest::DirectSignal(_) => {
                        asked.push("signal");
                        Ok(())
                    }
                    SyncRequest::TakeDirect { max } => {
                        asked.push("take");
                        let taken = self.frames.len().min(max);
                        let frames = self.frames.drain(..taken).collect();
                        device.handle_direct(self.channel, frames, now)
                    }
                    SyncRequest::OpenDirect if self.webrtc_broken => {
                        asked.push("open");
                        device.handle_direct_opened(None, now, rng)
                    }
                    SyncRequest::OpenDirect => {
                        asked.push("open");
                        self.channel = Some(ChannelStatus::Connecting);
                        device.handle_direct_opened(Some("v=0 offer".into()), now, rng)
                    }
                    SyncRequest::CloseDirect => {
                        asked.push("close");
                        self.channel = None;
                        Ok(())
                    }
                    SyncRequest::CheckDirect => {
                        asked.push("check");
                        device.handle_direct_status(self.channel, now)
                    }
                    SyncRequest::SendDirect(bytes) => {
                        asked.push("send");
                        self.sent.push(bytes);
                        device.handle_direct_sent(now)
                    }
                    SyncRequest::Save(save) => {
                        asked.push("save");
                        let count = save.live.len() + save.history.len();
                        device.handle_saved(save.mark, &vec![true; count], now)
                    }
                };
                answered.expect("a request asked for");
            }
            asked
        }
    }

    /// A source device `a` that offered its history to the new device `b`, the offer on
    /// the network.
    fn offered(rng: &mut SeededRng) -> (Messenger, PersonaSync, Driver) {
        let persona = Persona::create("Ada", 0, rng).expect("a persona");
        let keys = |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 0, rng);
        let mut a =
            Messenger::create(&persona, &keys("Phone", rng).expect("keys"), 0, rng).expect("a");
        a.outbox_mut().take_envelopes();
        let b = Messenger::join(
            &persona.for_linked_device(),
            &keys("Laptop", rng).expect("keys"),
            a.signed_roster(),
        )
        .expect("joined");
        a.add_device(b.roster_entry(5), rng).expect("added");
        let plan = a.begin_history_offer(&b.device_id(), rng).expect("planned");
        a.finish_history_offer(&plan.device_id, plan.transfer, rng)
            .expect("offered");
        let driver = Driver {
            network: a.outbox_mut().take_envelopes(),
            now_ms: 10_000,
            ..Driver::default()
        };
        (a, PersonaSync::new(b), driver)
    }

    #[test]
    fn history_comes_over_the_channel_the_device_asks_for_and_wants_from() {
        let mut rng = SeededRng::new(1);
        let (mut a, mut b, mut driver) = offered(&mut rng);

        // The offer arrives: a channel is asked for, and while it connects the mailbox
        // waits for it.
        assert_eq!(
            driver.round(&mut b, &mut rng),
            ["flush", "fetch", "fetch", "close", "take", "open", "save", "check", "flush"]
        );
        let request = b.messenger_mut().outbox_mut().take_envelopes();
        let inbox = a.roster().inbox.keys();
        let mut heard = Vec::new();
        for transmit in request.into_iter().filter(|t| t.mailbox == inbox) {
            let envelope = Envelope::new(transmit.bytes).expect("fits");
            heard.extend(
                a.receive(inbox.address(), &envelope, &mut rng)
                    .expect("read"),
            );
        }
        let Some(MessagingEvent::DirectRequested { transfer_id, .. }) = heard.first() else {
            panic!("the source hears the request: {heard:?}");
        };
        let transfer_id = *transfer_id;

        // Open: the inbox no longer waits, and the want goes out once the round is stored.
        driver.channel = Some(ChannelStatus::Open);
        driver.now_ms += 1_000;
        b.start_sync(SyncStart {
            now_ms: driver.now_ms,
            wait: Duration::from_secs(1),
            direct_history: true,
            first_conversation: None,
            channel: driver.channel,
        })
        .expect("started");
        b.poll_request();
        let Some(SyncRequest::Fetch(first)) = b.poll_request() else {
            panic!("the inbox first");
        };
        assert_eq!(first.wait, Duration::ZERO, "history is flowing");
        assert_eq!(
            driver.round(&mut b, &mut rng),
            ["flush", "fetch", "fetch", "take", "save", "check", "send", "flush"]
        );
        let want = WantFrame::decode(&driver.sent[0]).expect("a want");
        assert_eq!(want.transfer_id, transfer_id);
        assert!(!want.manifest_known);

        // The source answers; the manifest (of no blocks) completes the transfer and the
        // channel goes.
        let server = a.direct_server(&transfer_id).expect("served");
        assert_eq!(server.frames_for(&want).expect("frames"), [0]);
        driver.frames = vec![server.manifest().to_vec(), end_of_answer(&transfer_id)];
        driver.now_ms += 1_000;
        assert_eq!(
            driver.round(&mut b, &mut rng),
            ["flush", "fetch", "fetch", "take", "save", "close", "flush"]
        );
        assert!(b.messenger().direct_want(None).is_none(), "all in");
        assert_eq!(driver.channel, None);
    }

    #[test]
    fn a_channel_that_does_not_open_in_time_leaves_the_history_to_the_mailbox() {
        let mut rng = SeededRng::new(2);
        let (_, mut b, mut driver) = offered(&mut rng);
        driver.round(&mut b, &mut rng);
        assert_eq!(driver.channel, Some(ChannelStatus::Connecting));

        driver.now_ms += DIRECT_GRACE_MS - 1;
        let asked = driver.round(&mut b, &mut rng);
        assert!(!asked.contains(&"history"), "still in its grace: {asked:?}");
        driver.now_ms += 1;
        let asked = driver.round(&mut b, &mut rng);
        assert!(asked.contains(&"history"), "{asked:?}");
        // The manifest (of no blocks) was in the mailbox: all is in, and the channel goes.
        assert!(b.messenger().direct_want(None).is_none());
        assert_eq!(driver.channel, None);
    }

    /// The accident: a browser that cannot make a WebRTC channel at all. Each failed
    /// channel counts as an attempt, so the device stops asking and the mailbox carries
    /// the history, instead of trying again at every sync.
    #[test]
    fn a_channel_that_cannot_be_made_counts_against_the_attempts() {
        let mut rng = SeededRng::new(4);
        let (_, mut b, mut driver) = offered(&mut rng);
        driver.webrtc_broken = true;
        driver.history_held = true;
        let mut opened = 0;
        let mut mailbox_reads = 0;
        for _ in 0..2 * MAX_DIRECT_ATTEMPTS {
            let asked = driver.round(&mut b, &mut rng);
            opened += asked.iter().filter(|step| **step == "open").count();
            mailbox_reads += asked.iter().filter(|step| **step == "history").count();
            driver.now_ms += 1_000;
        }
        assert_eq!(opened, MAX_DIRECT_ATTEMPTS as usize);
        assert_eq!(
            mailbox_reads,
            2 * MAX_DIRECT_ATTEMPTS as usize,
            "the mailbox carries the history at every sync"
        );
    }

    #[test]
    fn with_direct_history_off_no_channel_is_asked_for() {
        let mut rng = SeededRng::new(3);
        let (_, mut b, mut driver) = offered(&mut rng);
        b.start_sync(SyncStart {
            now_ms: driver.now_ms,
            wait: Duration::ZERO,
            direct_history: false,
            first_conversation: None,
            channel: None,
        })
        .expect("started");
        let mut asked = Vec::new();
        while let Some(request) = b.poll_request() {
            match request {
                SyncRequest::Fetch(fetch) => {
                    asked.push(fetch.enough);
                    let envelopes = driver
                        .network
                        .drain(..)
                        .filter(|t| t.mailbox == fetch.mailbox)
                        .map(|t| Envelope::new(t.bytes).expect("fits"))
                        .collect();
                    b.handle_fetched(fetch.cursor, envelopes, &mut rng)
                        .expect("asked");
                }
                SyncRequest::Save(save) => b.handle_saved(save.mark, &[], 0).expect("asked"),
                SyncRequest::Flush | SyncRequest::CloseDirect => {}
                other => panic!("no direct step when it is off: {other:?}"),
            }
        }
        assert_eq!(asked.last(), Some(&HISTORY_BATCH), "the mailbox carries it");
    }
}
