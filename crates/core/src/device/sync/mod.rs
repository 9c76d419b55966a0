//! A persona's sync on this device, as one sans-IO machine: the [`Messenger`], the cursors
//! it reads its mailboxes with ([`Reading`]), its outbox flush, its history offers
//! ([`offer`]), unlinking ([`unlink`]), the direct history channel, and the rules of a
//! sync.
//!
//! A sync is a round. [`PersonaSync::start_sync`] begins it; the driver then takes each
//! [`SyncRequest`] from [`PersonaSync::poll_request`], carries it out (a fetch, a vault write,
//! a step of the direct history channel) and hands back what came with the matching
//! `handle_*` call; [`PersonaSync::poll_event`] gives what the person should see. The device is
//! borrowed only inside those calls, never while the driver awaits the network or the
//! vault, so the rest of the app may use it meanwhile. The browser facade and the native
//! test suites drive this same machine.
//!
//! The round, in order:
//! 0. What waits in the outbox leaves ([`SyncRequest::Flush`]: a [`flush`]).
//! 1. Every mailbox the messenger listens on is fetched (the first one may wait for news,
//!    unless history flows on a direct channel), then every envelope is received. A hole
//!    in a sender's stream reads every mailbox again next time ([`Reading`]).
//! 2. The direct channel's step ([`direct`]): what it brought is imported; a channel is
//!    asked for, or let go, by [`DirectLink`]'s rules.
//! 3. Unless a direct channel carries the history, a batch of the history mailbox.
//! 4. The messenger's state is saved with every message that came, in one write.
//! 5. The direct channel may want more (a want is sent on it); each history block's
//!    progress is reported with how many of its messages were new.
//! 6. What the round made (a request for a direct channel, an answer) leaves at once: a
//!    second flush.
//!
//! ```
//! use std::time::Duration;
//! use phantom_core::device::{FlushRequest, PersonaSync, SyncRequest, SyncStart};
//! use phantom_core::messaging::Messenger;
//! use phantom_core::persona::{DeviceKeys, Persona};
//! use phantom_core::testing::SeededRng;
//!
//! let mut rng = SeededRng::new(1);
//! let persona = Persona::create("Ada", 1, &mut rng).unwrap();
//! let keys = DeviceKeys::generate("Laptop", 1, &mut rng).unwrap();
//! let mut device = PersonaSync::new(Messenger::create(&persona, &keys, 1, &mut rng).unwrap());
//!
//! let start = SyncStart {
//!     now_ms: 0,
//!     wait: Duration::ZERO,
//!     direct_history: true,
//!     first_conversation: None,
//!     channel: None,
//! };
//! device.start_sync(start).unwrap();
//! let (mut fetched, mut sent) = (0, 0);
//! while let Some(request) = device.poll_request() {
//!     match request {
//!         // Nothing new on the network.
//!         SyncRequest::Fetch(fetch) => {
//!             fetched += 1;
//!             device.handle_fetched(fetch.cursor, Vec::new(), &mut rng).unwrap();
//!         }
//!         SyncRequest::Save(save) => device.handle_saved(save.mark, &[], 0).unwrap(),
//!         SyncRequest::Flush if device.start_flush() => {
//!             while let Some(step) = device.poll_transmit() {
//!                 match step {
//!                     FlushRequest::Save(save) => device.handle_flush_saved(save.mark).unwrap(),
//!                     _put => {
//!                         sent += 1;
//!                         device.handle_transmitted().unwrap();
//!                     }
//!                 }
//!             }
//!         }
//!         SyncRequest::Flush => {}
//!         // No history is under way: the direct channel is not asked for.
//!         other => panic!("{other:?}"),
//!     }
//! }
//! assert_eq!(fetched, 2, "its inbox and its profile");
//! assert_eq!(sent, 1, "its roster, once the round stored it");
//! assert!(device.poll_event().is_none());
//! ```

mod direct;
pub mod flush;
pub mod offer;
pub mod unlink;

use super::DeviceError;

pub use flush::FlushRequest;

use std::collections::VecDeque;
use std::time::Duration;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::history::direct_link::{ChannelStatus, DirectLink};
use crate::history::import::HistoryProgress;
use crate::history::TransferId;
use crate::mailbox::envelope::Envelope;
use crate::mailbox::keys::MailboxKeys;
use crate::mailbox::transport::MailboxCursor;
use crate::mailbox::MailboxAddress;
use crate::messaging::reading::Reading;
use crate::messaging::{MessagingError, MessagingEvent, Messenger};
use crate::persona::{ConversationId, Message};
use crate::vault::MessageWrites;

/// History envelopes taken in one sync, from the mailbox or the direct channel: the
/// history is never held whole.
pub const HISTORY_BATCH: usize = 16;

/// How a sync begins.
#[derive(Debug, Clone, Copy)]
pub struct SyncStart {
    /// The time, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// How long the first mailbox may wait for news.
    pub wait: Duration,
    /// Whether history may come over a direct channel from the source (off: through the
    /// mailbox only).
    pub direct_history: bool,
    /// The conversation whose history a direct channel should bring first (the one the
    /// person opened).
    pub first_conversation: Option<ConversationId>,
    /// The driver's direct channel for this device's history, if it holds one. History
    /// arriving on it (or waiting in it, closed) keeps the inbox from waiting.
    pub channel: Option<ChannelStatus>,
}

/// What a sync asks its driver to do next.
#[derive(Debug)]
pub enum SyncRequest {
    /// Read a mailbox; answer with [`PersonaSync::handle_fetched`].
    Fetch(Fetch),
    /// A direct channel asked for or answered by another device of the persona
    /// ([`MessagingEvent::DirectRequested`], [`MessagingEvent::DirectAccepted`]), for the
    /// driver's channels. Nothing to answer.
    DirectSignal(MessagingEvent),
    /// Take up to `max` frames the direct channel received (none without a channel);
    /// answer with [`PersonaSync::handle_direct`] and the channel's status after.
    TakeDirect {
        /// At most this many frames: a history batch and the end of answer behind it.
        max: usize,
    },
    /// Create a direct channel to the source and its WebRTC offer; answer with
    /// [`PersonaSync::handle_direct_opened`].
    OpenDirect,
    /// Let the direct channel go: the mailbox carries the history, or none is left.
    CloseDirect,
    /// How is the direct channel now? Answer with [`PersonaSync::handle_direct_status`].
    CheckDirect,
    /// Send these bytes (a want: what this device still lacks) on the open direct channel;
    /// answer with [`PersonaSync::handle_direct_sent`] once sent.
    SendDirect(Vec<u8>),
    /// Store the messenger's state and these messages in one write; answer with
    /// [`PersonaSync::handle_saved`].
    Save(Save),
    /// Send what waits in the outbox: a whole [`flush`], started with
    /// [`PersonaSync::start_flush`] (which leaves it to a flush already under way).
    Flush,
}

/// A mailbox to read from `cursor`: until there is no more, or at least `enough` came.
#[derive(Debug)]
pub struct Fetch {
    /// The mailbox, with the keys that authorise reading it.
    pub mailbox: MailboxKeys,
    /// A copy of the device's cursor: advanced by the read, it comes back with
    /// [`PersonaSync::handle_fetched`]. A read that fails keeps the device's own.
    pub cursor: MailboxCursor,
    /// How long the nodes may hold the read open for news when there is none.
    pub wait: Duration,
    /// How many envelopes make the read stop early (a history batch), where it may.
    pub enough: usize,
}

/// One write: the messenger's state (its outbox with it) and the messages that came.
pub struct Save {
    /// The messenger's snapshot: Olm ratchets, cursors, the outbox. Secret.
    pub state: Zeroizing<Vec<u8>>,
    /// What the outbox held when the state was taken; it may leave once stored.
    pub mark: u64,
    /// Messages that came live ([`MessageWrites::live`]).
    pub live: Vec<Message>,
    /// Messages from the persona's history ([`MessageWrites::history`]).
    pub history: Vec<Message>,
    /// Copies that conflicted with a message held ([`MessageWrites::conflicting`]).
    pub conflicting: Vec<Message>,
}

impl Save {
    /// The messages, as the vault takes them.
    pub fn writes(&self) -> MessageWrites<'_> {
        MessageWrites {
            live: &self.live,
            history: &self.history,
            conflicting: &self.conflicting,
        }
    }
}

impl core::fmt::Debug for Save {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Save")
            .field("state", &"<redacted>")
            .field("mark", &self.mark)
            .field("live", &self.live.len())
            .field("history", &self.history.len())
            .field("conflicting", &self.conflicting.len())
            .finish()
    }
}

/// How history arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPath {
    /// Over a WebRTC data channel from the source device.
    Direct,
    /// Through the DHT mailbox.
    Mailbox,
}

impl HistoryPath {
    /// `"direct"` or `"mailbox"`, as JS events name it.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryPath::Direct => "direct",
            HistoryPath::Mailbox => "mailbox",
        }
    }
}

/// A history block that was imported and stored, with the transfer's progress after it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryBlockStored {
    /// The path the block came by.
    pub via: HistoryPath,
    /// How many of its messages the vault did not hold yet.
    pub imported: usize,
    /// The transfer's blocks, messages and bytes done and in total.
    pub progress: HistoryProgress,
    /// The rate since the import started (after a reload: since its first block then).
    pub bytes_per_second: f64,
    /// The time the rest needs at that rate; `None` while no rate is known.
    pub seconds_remaining: Option<f64>,
    /// Every block of the transfer is stored.
    pub complete: bool,
}

/// What a sync brought.
#[derive(Debug)]
pub enum DeviceEvent {
    /// What receiving an envelope of the inbox or a profile reported.
    Messaging(MessagingEvent),
    /// An envelope refused with its typed error: nothing stored changed.
    Refused(MessagingError),
    /// A history block stored.
    HistoryBlock(HistoryBlockStored),
    /// The direct channel could not be asked for or given a want; the mailbox carries on.
    DirectFailed(DeviceError),
}

/// Where a round is: which answer it waits for.
#[derive(Debug)]
enum Stage {
    Idle,
    /// Listened mailboxes, fetched one after the other; what came waits to be received.
    Listening {
        mailboxes: Vec<MailboxKeys>,
        next: usize,
        arrived: Vec<(MailboxAddress, Envelope)>,
    },
    /// Frames asked of the direct channel, for this transfer.
    Direct {
        transfer_id: TransferId,
    },
    OpeningDirect,
    CheckingDirect,
    SendingWant,
    History {
        mailbox: MailboxAddress,
        manifest_known: bool,
    },
    /// The write asked for; `live` messages came before the blocks' in it.
    Saving {
        live: usize,
        blocks: Vec<TakenBlock>,
    },
}

/// A history block taken in the round, before it is stored.
#[derive(Debug)]
struct TakenBlock {
    messages: usize,
    progress: HistoryProgress,
    via: HistoryPath,
}

/// The round's messages, kept for the write and for counting what was new.
#[derive(Debug, Default)]
struct Taken {
    live: Vec<Message>,
    history: Vec<Message>,
    conflicting: Vec<Message>,
    blocks: Vec<TakenBlock>,
}

/// One linked device's messaging: see the [module](self).
#[derive(Debug)]
pub struct PersonaSync {
    messenger: Messenger,
    reading: Reading,
    stage: Stage,
    taken: Taken,
    requests: VecDeque<SyncRequest>,
    events: VecDeque<DeviceEvent>,
    /// When the history import started, and how many bytes it held then.
    history_clock: Option<(u64, u64)>,
    now_ms: u64,
    flush: flush::Flush,
    offer: offer::Offering,
    unlinking: unlink::Unlinking,
    direct: DirectLink,
    direct_history: bool,
    first_conversation: Option<ConversationId>,
    /// The driver's channel as last reported.
    channel: Option<ChannelStatus>,
}

impl PersonaSync {
    /// A device around its messenger, its cursors at the start of every mailbox.
    pub fn new(messenger: Messenger) -> Self {
        Self {
            messenger,
            reading: Reading::default(),
            stage: Stage::Idle,
            taken: Taken::default(),
            requests: VecDeque::new(),
            events: VecDeque::new(),
            history_clock: None,
            now_ms: 0,
            flush: flush::Flush::default(),
            offer: offer::Offering::default(),
            unlinking: unlink::Unlinking::default(),
            direct: DirectLink::default(),
            direct_history: true,
            first_conversation: None,
            channel: None,
        }
    }

    /// The messenger, to read: contacts, conversations, the roster.
    pub fn messenger(&self) -> &Messenger {
        &self.messenger
    }

    /// The messenger, for a person's actions between syncs (sending, reading, adding).
    pub fn messenger_mut(&mut self) -> &mut Messenger {
        &mut self.messenger
    }

    /// The cursors, for a driver that reads a mailbox outside a sync (an inbox the device
    /// no longer listens on, say).
    pub fn reading_mut(&mut self) -> &mut Reading {
        &mut self.reading
    }

    /// Begins a sync; a round left unfinished (its driver failed) is dropped, and the
    /// cursors stay where they were before its reads.
    pub fn start_sync(&mut self, start: SyncStart) -> Result<(), DeviceError> {
        self.requests.clear();
        self.requests.push_back(SyncRequest::Flush);
        self.taken = Taken::default();
        self.now_ms = start.now_ms;
        self.direct_history = start.direct_history;
        self.first_conversation = start.first_conversation;
        self.channel = start.channel;
        let mailboxes = self.messenger.listening();
        let wait = if start.direct_history && self.direct.flowing(start.channel) {
            Duration::ZERO
        } else {
            start.wait
        };
        match mailboxes.first() {
            Some(first) => {
                let fetch = self.fetch(first, wait, usize::MAX);
                self.requests.push_back(SyncRequest::Fetch(fetch));
                self.stage = Stage::Listening {
                    mailboxes,
                    next: 0,
                    arrived: Vec::new(),
                };
                Ok(())
            }
            None => self.drive_direct(),
        }
    }

    /// The next thing the driver must do, in order; `None` once the round is over.
    pub fn poll_request(&mut self) -> Option<SyncRequest> {
        self.requests.pop_front()
    }

    /// What the person should see, in the order it happened.
    pub fn poll_event(&mut self) -> Option<DeviceEvent> {
        self.events.pop_front()
    }

    /// A [`SyncRequest::Fetch`] answered: the cursor it advanced and what it read.
    pub fn handle_fetched(
        &mut self,
        cursor: MailboxCursor,
        envelopes: Vec<Envelope>,
        rng: &mut impl CryptoRng,
    ) -> Result<(), DeviceError> {
        match core::mem::replace(&mut self.stage, Stage::Idle) {
            Stage::Listening {
                mailboxes,
                next,
                mut arrived,
            } => {
                let Some(mailbox) = mailboxes.get(next) else {
                    return Err(DeviceError::NoSuchRequest);
                };
                let address = mailbox.address();
                self.reading.put_back(address, cursor);
                arrived.extend(envelopes.into_iter().map(|envelope| (address, envelope)));
                match mailboxes.get(next + 1) {
                    Some(following) => {
                        let fetch = self.fetch(following, Duration::ZERO, usize::MAX);
                        self.requests.push_back(SyncRequest::Fetch(fetch));
                        self.stage = Stage::Listening {
                            mailboxes,
                            next: next + 1,
                            arrived,
                        };
                    }
                    None => {
                        self.receive(&mailboxes, arrived, rng);
                        return self.drive_direct();
                    }
                }
                Ok(())
            }
            Stage::History {
                mailbox,
                manifest_known,
            } => {
                self.reading.put_back(mailbox, cursor);
                let count = envelopes.len();
                for envelope in envelopes {
                    self.import_history(envelope.as_bytes(), HistoryPath::Mailbox);
                }
                self.reading
                    .after_history_batch(mailbox, count, manifest_known);
                self.save()
            }
            other => {
                self.stage = other;
                Err(DeviceError::NoSuchRequest)
            }
        }
    }

    /// A [`SyncRequest::Save`] answered: stored at `now_ms`, with, for each message in the
    /// order of [`Save::writes`], whether the vault did not hold it yet.
    pub fn handle_saved(
        &mut self,
        mark: u64,
        new: &[bool],
        now_ms: u64,
    ) -> Result<(), DeviceError> {
        let Stage::Saving { live, blocks } = core::mem::replace(&mut self.stage, Stage::Idle)
        else {
            return Err(DeviceError::NoSuchRequest);
        };
        self.messenger.outbox_mut().persisted(mark);
        if self.wanted().is_some() {
            self.stage = Stage::CheckingDirect;
            self.requests.push_back(SyncRequest::CheckDirect);
        } else {
            self.let_channel_go();
            self.requests.push_back(SyncRequest::Flush);
        }
        let mut at = live;
        for block in blocks {
            let imported = new
                .get(at..at + block.messages)
                .map_or(0, |new| new.iter().filter(|new| **new).count());
            at += block.messages;
            let stored = self.block_stored(block, imported, now_ms);
            self.events.push_back(DeviceEvent::HistoryBlock(stored));
        }
        Ok(())
    }

    fn fetch(&self, mailbox: &MailboxKeys, wait: Duration, enough: usize) -> Fetch {
        Fetch {
            mailbox: mailbox.clone(),
            cursor: self.reading.cursor(mailbox.address()),
            wait,
            enough,
        }
    }

    fn receive(
        &mut self,
        listening: &[MailboxKeys],
        arrived: Vec<(MailboxAddress, Envelope)>,
        rng: &mut impl CryptoRng,
    ) {
        for (mailbox, envelope) in arrived {
            match self.messenger.receive(mailbox, &envelope, rng) {
                Ok(events) => {
                    for event in events {
                        self.reading.after_event(&event, listening);
                        match &event {
                            MessagingEvent::Message { message, .. } => {
                                self.taken.live.push(message.clone());
                            }
                            MessagingEvent::ConflictingCopy { message, .. } => {
                                self.taken.conflicting.push(message.clone());
                            }
                            MessagingEvent::HistoryOffered { .. } => {
                                // A new transfer: its rate is counted from now, and its
                                // channels are asked for afresh.
                                self.history_clock = Some((self.now_ms, 0));
                                self.restart_direct();
                            }
                            MessagingEvent::DirectRequested { .. } if !self.direct_history => {}
                            MessagingEvent::DirectRequested { .. }
                            | MessagingEvent::DirectAccepted { .. } => {
                                self.requests
                                    .push_back(SyncRequest::DirectSignal(event.clone()));
                            }
                            _ => {}
                        }
                        self.events.push_back(DeviceEvent::Messaging(event));
                    }
                }
                Err(error) => self.events.push_back(DeviceEvent::Refused(error)),
            }
        }
    }

    fn import_history(&mut self, bytes: &[u8], via: HistoryPath) {
        match self.messenger.receive_history(bytes) {
            Ok(events) => {
                for event in events {
                    if let MessagingEvent::HistoryImported { messages, progress } = event {
                        self.taken.blocks.push(TakenBlock {
                            messages: messages.len(),
                            progress,
                            via,
                        });
                        self.taken.history.extend(messages);
                    }
                }
            }
            Err(error) => self.events.push_back(DeviceEvent::Refused(error)),
        }
    }

    fn save(&mut self) -> Result<(), DeviceError> {
        let state = self.messenger.snapshot()?;
        let mark = self.messenger.outbox().mark();
        let taken = core::mem::take(&mut self.taken);
        self.stage = Stage::Saving {
            live: taken.live.len(),
            blocks: taken.blocks,
        };
        self.requests.push_back(SyncRequest::Save(Save {
            state,
            mark,
            live: taken.live,
            history: taken.history,
            conflicting: taken.conflicting,
        }));
        Ok(())
    }

    fn block_stored(
        &mut self,
        block: TakenBlock,
        imported: usize,
        now_ms: u64,
    ) -> HistoryBlockStored {
        let progress = block.progress;
        let (started_ms, bytes_at_start) = *self
            .history_clock
            .get_or_insert((now_ms, progress.bytes_done));
        let complete = progress.blocks_done == progress.blocks_total;
        if complete {
            self.history_clock = None;
        }
        let seconds = now_ms.saturating_sub(started_ms) as f64 / 1000.0;
        let bytes_per_second = if seconds > 0.0 {
            progress.bytes_done.saturating_sub(bytes_at_start) as f64 / seconds
        } else {
            0.0
        };
        let remaining = progress.bytes_total.saturating_sub(progress.bytes_done) as f64;
        let seconds_remaining = if complete {
            Some(0.0)
        } else if bytes_per_second > 0.0 {
            Some(remaining / bytes_per_second)
        } else {
            None
        };
        HistoryBlockStored {
            via: block.via,
            imported,
            progress,
            bytes_per_second,
            seconds_remaining,
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persona::{DeviceKeys, Persona};
    use crate::testing::SeededRng;

    /// A new persona's first device.
    pub(super) fn device(rng: &mut SeededRng) -> PersonaSync {
        let persona = Persona::create("Ada", 1, rng).expect("a persona");
        let keys = DeviceKeys::generate("Laptop", 1, rng).expect("keys");
        PersonaSync::new(Messenger::create(&persona, &keys, 1, rng).expect("a messenger"))
    }

    fn start(device: &mut PersonaSync) {
        device
            .start_sync(SyncStart {
                now_ms: 1_000,
                wait: Duration::from_secs(2),
                direct_history: true,
                first_conversation: None,
                channel: None,
            })
            .expect("started");
    }

    /// A round sends what waits before it reads.
    fn first_fetch(device: &mut PersonaSync) -> Fetch {
        assert!(matches!(device.poll_request(), Some(SyncRequest::Flush)));
        match device.poll_request() {
            Some(SyncRequest::Fetch(fetch)) => fetch,
            other => panic!("a fetch next, not {other:?}"),
        }
    }

    #[test]
    fn an_answer_to_no_request_is_refused_and_changes_nothing() {
        let mut rng = SeededRng::new(1);
        let mut device = device(&mut rng);
        assert!(matches!(
            device.handle_saved(0, &[], 0),
            Err(DeviceError::NoSuchRequest)
        ));
        start(&mut device);
        assert!(matches!(
            device.handle_direct(None, Vec::new(), 1_000),
            Err(DeviceError::NoSuchRequest)
        ));
        // The round goes on where it was: the first fetch is still the one asked for.
        let fetch = first_fetch(&mut device);
        assert_eq!(fetch.mailbox, device.messenger().listening()[0]);
        assert!(device
            .handle_fetched(fetch.cursor, Vec::new(), &mut rng)
            .is_ok());
    }

    #[test]
    fn only_the_first_mailbox_waits() {
        let mut rng = SeededRng::new(2);
        let mut device = device(&mut rng);
        start(&mut device);
        let mut waits = Vec::new();
        while let Some(request) = device.poll_request() {
            match request {
                SyncRequest::Fetch(fetch) => {
                    waits.push(fetch.wait);
                    device
                        .handle_fetched(fetch.cursor, Vec::new(), &mut rng)
                        .expect("asked for");
                }
                SyncRequest::Save(save) => {
                    device
                        .handle_saved(save.mark, &[], 1_000)
                        .expect("asked for");
                }
                SyncRequest::Flush => {}
                other => panic!("no history: {other:?}"),
            }
        }
        assert_eq!(waits, [Duration::from_secs(2), Duration::ZERO]);
    }

    #[test]
    fn a_round_its_driver_gave_up_leaves_the_cursors_as_they_were() {
        let mut rng = SeededRng::new(3);
        let mut device = device(&mut rng);
        start(&mut device);
        let fetch = first_fetch(&mut device);
        let mut advanced = fetch.cursor;
        advanced.advance(b"node", 5);
        // The read failed after a page: the driver drops the round and starts another.
        start(&mut device);
        let again = first_fetch(&mut device);
        assert_eq!(
            again.cursor.position(b"node"),
            0,
            "read again, nothing skipped"
        );
    }
}
