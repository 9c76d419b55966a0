//! One conversation as a device sees it: its latest messages in order, how many are
//! unread, and which messages from each sending device are still missing.
//!
//! Only the latest [`RECENT_MESSAGES`] stay in memory; every message is in the vault, so a
//! conversation of any length costs the same memory. Unread messages are counted by their
//! places after the read mark, up to [`TRACKED_UNREAD`] of them; beyond that by number
//! alone (exact unless a read mark from another device lands among those).
//!
//! ```
//! use phantom_core::messaging::conversation_log::SequenceTracker;
//!
//! let mut stream = SequenceTracker::default();
//! assert!(stream.record(1));
//! assert!(stream.record(3));
//! assert_eq!(stream.missing(), vec![2]);
//! assert!(!stream.record(3), "seen before");
//! assert!(stream.record(2));
//! assert!(stream.missing().is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::persona::{Message, MessageId, Sender};
use crate::wire::{Reader, WireError, Writer};

/// Sending devices remembered per conversation.
const MAX_STREAMS: usize = 256;

/// At most this many missing numbers are reported at once; a sender claiming a huge jump
/// cannot make a reader list them all.
pub const MAX_REPORTED_GAP: usize = 64;
/// Numbers above a hole remembered per stream; beyond it the oldest hole is given up.
const MAX_OUT_OF_ORDER: usize = 1024;

/// Which sequence numbers of one sending device's stream have arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequenceTracker {
    /// Every number up to this one has arrived.
    contiguous: u64,
    above: BTreeSet<u64>,
}

impl SequenceTracker {
    /// Records `sequence`; false if it had arrived before.
    pub fn record(&mut self, sequence: u64) -> bool {
        if sequence <= self.contiguous || !self.above.insert(sequence) {
            return false;
        }
        if self.above.len() > MAX_OUT_OF_ORDER {
            if let Some(lowest) = self.above.first().copied() {
                self.contiguous = lowest;
            }
        }
        while let Some(next) = self.contiguous.checked_add(1) {
            if !self.above.remove(&next) {
                break;
            }
            self.contiguous = next;
        }
        self.above.retain(|n| *n > self.contiguous);
        true
    }

    /// Numbers below the highest seen that have not arrived (the first few).
    pub fn missing(&self) -> Vec<u64> {
        let Some(highest) = self.above.last().copied() else {
            return Vec::new();
        };
        (self.contiguous.saturating_add(1)..highest)
            .filter(|n| !self.above.contains(n))
            .take(MAX_REPORTED_GAP)
            .collect()
    }
}

/// A point in a conversation's order: (sender time in ms, message id).
pub type Position = (u64, MessageId);

/// The position before every message: marks start there.
pub const BEFORE_ALL: Position = (0, MessageId::from_bytes([0; 16]));

/// Messages of a conversation kept in memory: the latest.
pub const RECENT_MESSAGES: usize = 100;
/// Unread messages whose places are remembered; more are counted by number alone.
pub const TRACKED_UNREAD: usize = 1000;

/// The contact's messages after the read mark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct UnreadCount {
    /// The latest of them, at most [`TRACKED_UNREAD`].
    tracked: BTreeSet<(u64, MessageId)>,
    /// How many more there are, all before the first tracked one.
    untracked: u64,
    /// How many of those are after the dismissed mark too.
    untracked_notifying: u64,
}

impl UnreadCount {
    fn add(&mut self, at: (u64, MessageId), dismissed_up_to: (u64, MessageId)) {
        let full = self.tracked.len() >= TRACKED_UNREAD;
        let dropped = if full && self.tracked.first().is_some_and(|first| at < *first) {
            Some(at)
        } else {
            self.tracked.insert(at);
            if self.tracked.len() > TRACKED_UNREAD {
                self.tracked.pop_first()
            } else {
                None
            }
        };
        if let Some(dropped) = dropped {
            self.untracked += 1;
            if dropped > dismissed_up_to {
                self.untracked_notifying += 1;
            }
        }
    }

    /// Forgets what a new read mark covers, and the dismissed mark's share.
    fn advance(&mut self, read_up_to: (u64, MessageId), dismissed_up_to: (u64, MessageId)) {
        let first = self.tracked.first().copied();
        if first.is_some_and(|first| read_up_to >= first) {
            self.untracked = 0;
        }
        if first.is_some_and(|first| dismissed_up_to >= first) {
            self.untracked_notifying = 0;
        }
        self.tracked = self.tracked.split_off(&just_after(read_up_to));
        self.untracked_notifying = self.untracked_notifying.min(self.untracked);
    }

    fn unread(&self) -> usize {
        self.tracked.len().saturating_add(self.untracked as usize)
    }

    fn notifying(&self, dismissed_up_to: (u64, MessageId)) -> usize {
        let tracked = self
            .tracked
            .range((
                std::ops::Bound::Excluded(dismissed_up_to),
                std::ops::Bound::Unbounded,
            ))
            .count();
        tracked.saturating_add(self.untracked_notifying as usize)
    }
}

/// The first place after `at`, so a split keeps only the places after a mark.
fn just_after(at: (u64, MessageId)) -> (u64, MessageId) {
    match u128::from_be_bytes(*at.1.as_bytes()).checked_add(1) {
        Some(id) => (at.0, MessageId::from_bytes(id.to_be_bytes())),
        None => (at.0.saturating_add(1), MessageId::from_bytes([0; 16])),
    }
}

/// One conversation with another persona: its latest messages in order, the read and
/// dismissed marks shared by the persona's devices, and each sending device's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationLog {
    /// The other persona's identity key.
    pub peer: [u8; 32],
    /// The latest messages, at most [`RECENT_MESSAGES`], in conversation order (a contact's
    /// message and one of this persona's may share a time and an id).
    recent: BTreeMap<(Position, bool), Message>,
    /// Where each of them is in `recent`, by [`Message::identity`].
    recent_ids: HashMap<(bool, MessageId), (u64, MessageId)>,
    unread: UnreadCount,
    read_up_to: Position,
    dismissed_up_to: Position,
    /// This device's count of texts sent here.
    sent: u64,
    streams: HashMap<[u8; 32], SequenceTracker>,
}

impl ConversationLog {
    /// An empty conversation with the persona whose identity key is `peer`: nothing read,
    /// nothing sent.
    pub fn new(peer: [u8; 32]) -> Self {
        Self {
            peer,
            recent: BTreeMap::new(),
            recent_ids: HashMap::new(),
            unread: UnreadCount::default(),
            read_up_to: BEFORE_ALL,
            dismissed_up_to: BEFORE_ALL,
            sent: 0,
            streams: HashMap::new(),
        }
    }

    /// The next sequence number of this device's texts here.
    pub fn next_sequence(&mut self) -> u64 {
        self.sent += 1;
        self.sent
    }

    /// Counts a message in and keeps it if it is among the latest; false if it is one of
    /// the latest already. (A copy of an older message is the vault's to turn away.)
    pub fn insert(&mut self, message: Message) -> bool {
        if self.recent_ids.contains_key(&message.identity()) {
            return false;
        }
        let at = message.order_key();
        if matches!(message.sender, Sender::Contact(_)) && at > self.read_up_to {
            self.unread.add(at, self.dismissed_up_to);
        }
        let older_than_kept = self.recent.len() >= RECENT_MESSAGES
            && self
                .recent
                .first_key_value()
                .is_some_and(|((first, _), _)| at < *first);
        if older_than_kept {
            return true;
        }
        let identity = message.identity();
        self.recent_ids.insert(identity, at);
        self.recent.insert((at, identity.0), message);
        if self.recent.len() > RECENT_MESSAGES {
            if let Some((_, dropped)) = self.recent.pop_first() {
                self.recent_ids.remove(&dropped.identity());
            }
        }
        true
    }

    /// The copy kept here of a message with `message`'s identity, if it is among the latest.
    pub fn held(&self, message: &Message) -> Option<&Message> {
        let identity = message.identity();
        let at = self.recent_ids.get(&identity)?;
        self.recent.get(&(*at, identity.0))
    }

    /// A message from the persona's own history (what its device recorded): it takes the
    /// place of a different copy kept here — a contact may have sent a copy under the same
    /// id first, hoping the history would be dropped as a duplicate (the vault keeps that
    /// copy apart).
    pub fn prefer(&mut self, message: Message) {
        match self.held(&message).cloned() {
            Some(held) if held != message => {
                let identity = held.identity();
                self.recent.remove(&(held.order_key(), identity.0));
                self.recent_ids.insert(identity, message.order_key());
                self.recent
                    .insert((message.order_key(), identity.0), message);
            }
            Some(_) => {}
            None => {
                self.insert(message);
            }
        }
    }

    /// Records a text's place in its sending device's stream; false if it came before.
    pub fn record_sequence(&mut self, device: [u8; 32], sequence: u64) -> bool {
        if !self.streams.contains_key(&device) && self.streams.len() >= MAX_STREAMS {
            return true;
        }
        self.streams.entry(device).or_default().record(sequence)
    }

    /// Per sending device, the sequence numbers that have not arrived.
    pub fn gaps(&self) -> Vec<([u8; 32], Vec<u64>)> {
        self.streams
            .iter()
            .map(|(device, stream)| (*device, stream.missing()))
            .filter(|(_, missing)| !missing.is_empty())
            .collect()
    }

    /// The latest messages (at most [`RECENT_MESSAGES`]) in conversation order: sender
    /// time, then id.
    pub fn recent_messages(&self) -> impl DoubleEndedIterator<Item = &Message> {
        self.recent.values()
    }

    /// Where the latest message kept here is; [`BEFORE_ALL`] if there is none.
    pub fn last_position(&self) -> Position {
        self.recent
            .keys()
            .next_back()
            .map_or(BEFORE_ALL, |&(position, _)| position)
    }

    /// The read mark: every message at or before it counts as read.
    pub fn read_up_to(&self) -> Position {
        self.read_up_to
    }

    /// The dismissed mark: no message at or before it notifies; never behind the read mark.
    pub fn dismissed_up_to(&self) -> Position {
        self.dismissed_up_to
    }

    /// Moves the read and dismissed marks forward, never back; true if either moved.
    pub fn merge_marks(&mut self, read_up_to: Position, dismissed_up_to: Position) -> bool {
        let before = (self.read_up_to, self.dismissed_up_to);
        self.read_up_to = self.read_up_to.max(read_up_to);
        self.dismissed_up_to = self
            .dismissed_up_to
            .max(dismissed_up_to)
            .max(self.read_up_to);
        self.unread.advance(self.read_up_to, self.dismissed_up_to);
        before != (self.read_up_to, self.dismissed_up_to)
    }

    /// Messages from the other persona after the read mark.
    pub fn unread(&self) -> usize {
        self.unread.unread()
    }

    /// Unread messages whose notification has not been dismissed either.
    pub fn notifying(&self) -> usize {
        self.unread.notifying(self.dismissed_up_to)
    }
}

impl SequenceTracker {
    fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_u64(self.contiguous);
        w.put_count("out_of_order", self.above.len(), MAX_OUT_OF_ORDER)?;
        self.above.iter().for_each(|n| w.put_u64(*n));
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let contiguous = r.u64("contiguous")?;
        let count = r.count("out_of_order", MAX_OUT_OF_ORDER, 8)?;
        let mut above = BTreeSet::new();
        for _ in 0..count {
            let n = r.u64("out_of_order")?;
            if n > contiguous {
                above.insert(n);
            }
        }
        Ok(Self { contiguous, above })
    }
}

impl ConversationLog {
    /// Everything but the messages, which the vault keeps as records of their own.
    pub fn write_state(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_bytes(&self.peer);
        for (at, id) in [self.read_up_to, self.dismissed_up_to] {
            w.put_u64(at);
            w.put_bytes(id.as_bytes());
        }
        w.put_u64(self.sent);
        w.put_count("streams", self.streams.len(), MAX_STREAMS)?;
        for (device, stream) in &self.streams {
            w.put_bytes(device);
            stream.write(w)?;
        }
        Ok(())
    }

    /// A conversation from what [`ConversationLog::write_state`] wrote, without messages:
    /// the caller counts them back in from the vault.
    pub fn read_state(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut log = ConversationLog::new(r.array("peer")?);
        log.read_up_to = (
            r.u64("read_up_to_ms")?,
            MessageId::from_bytes(r.array("read_up_to_id")?),
        );
        log.dismissed_up_to = (
            r.u64("dismissed_up_to_ms")?,
            MessageId::from_bytes(r.array("dismissed_up_to_id")?),
        );
        log.sent = r.u64("sent")?;
        let count = r.count("streams", MAX_STREAMS, 32 + 8 + 4)?;
        for _ in 0..count {
            let device = r.array("stream_device")?;
            log.streams.insert(device, SequenceTracker::read(r)?);
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persona::ContactId;

    fn message(at: u64, id: u8, sender: Sender) -> Message {
        Message {
            id: MessageId::from_bytes([id; 16]),
            conversation_id: crate::persona::ConversationId::from_bytes([0; 16]),
            sender,
            sent_at_ms: at,
            body: format!("message {id}"),
        }
    }

    #[test]
    fn messages_keep_sender_time_order_and_come_once() {
        let mut log = ConversationLog::new([1; 32]);
        assert!(log.insert(message(
            20,
            2,
            Sender::Contact(ContactId::from_bytes([1; 16]))
        )));
        assert!(log.insert(message(
            10,
            9,
            Sender::OwnDevice(crate::persona::DeviceId::from_bytes([2; 16]))
        )));
        assert!(log.insert(message(
            20,
            1,
            Sender::Contact(ContactId::from_bytes([1; 16]))
        )));
        assert!(!log.insert(message(
            20,
            2,
            Sender::Contact(ContactId::from_bytes([1; 16]))
        )));
        let order: Vec<u8> = log.recent_messages().map(|m| m.id.as_bytes()[0]).collect();
        assert_eq!(order, vec![9, 1, 2], "time, then id");
        assert_eq!(log.unread(), 2, "own messages are never unread");
    }

    #[test]
    fn marks_only_move_forward_and_reading_dismisses() {
        let mut log = ConversationLog::new([1; 32]);
        log.insert(message(
            10,
            1,
            Sender::Contact(ContactId::from_bytes([1; 16])),
        ));
        log.insert(message(
            20,
            2,
            Sender::Contact(ContactId::from_bytes([1; 16])),
        ));
        assert!(log.merge_marks(BEFORE_ALL, (20, MessageId::from_bytes([2; 16]))));
        assert_eq!((log.unread(), log.notifying()), (2, 0));
        assert!(log.merge_marks((10, MessageId::from_bytes([1; 16])), BEFORE_ALL));
        assert!(
            !log.merge_marks((10, MessageId::from_bytes([1; 16])), BEFORE_ALL),
            "idempotent"
        );
        assert!(
            !log.merge_marks(
                (5, MessageId::from_bytes([0; 16])),
                (5, MessageId::from_bytes([0; 16]))
            ),
            "never backwards"
        );
        assert_eq!(log.unread(), 1);
    }

    #[test]
    fn only_the_latest_messages_stay_and_every_unread_one_counts() {
        let mut log = ConversationLog::new([1; 32]);
        let total = RECENT_MESSAGES as u64 * 3;
        // In no particular order, as a vault hands them back.
        for n in (0..total).map(|n| (n * 7919) % total + 1) {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&n.to_be_bytes());
            assert!(log.insert(Message {
                id: MessageId::from_bytes(id),
                ..message(n, 0, Sender::Contact(ContactId::from_bytes([1; 16])))
            }));
        }
        let kept: Vec<u64> = log.recent_messages().map(|m| m.sent_at_ms).collect();
        let latest = (total - RECENT_MESSAGES as u64 + 1)..=total;
        assert_eq!(kept, latest.collect::<Vec<_>>());
        assert_eq!(log.unread(), total as usize);
        assert_eq!(log.last_position().0, total);
        let mut middle = [0u8; 16];
        middle[..8].copy_from_slice(&(total / 2).to_be_bytes());
        log.merge_marks((total / 2, MessageId::from_bytes(middle)), BEFORE_ALL);
        assert_eq!(log.unread(), (total - total / 2) as usize);
        assert_eq!(log.notifying(), log.unread());
    }

    #[test]
    fn unread_beyond_the_tracked_places_is_counted_by_number() {
        let mut log = ConversationLog::new([1; 32]);
        let total = TRACKED_UNREAD as u64 + 500;
        for n in 1..=total {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&n.to_be_bytes());
            log.insert(Message {
                id: MessageId::from_bytes(id),
                ..message(n, 0, Sender::Contact(ContactId::from_bytes([1; 16])))
            });
        }
        assert_eq!(
            (log.unread(), log.notifying()),
            (total as usize, total as usize)
        );
        log.merge_marks(BEFORE_ALL, (total - 10, MessageId::from_bytes([0xff; 16])));
        assert_eq!((log.unread(), log.notifying()), (total as usize, 10));
        log.merge_marks(log.last_position(), BEFORE_ALL);
        assert_eq!((log.unread(), log.notifying()), (0, 0));
    }

    #[test]
    fn a_stream_reports_a_bounded_gap() {
        let mut stream = SequenceTracker::default();
        assert!(stream.record(u64::MAX));
        assert_eq!(stream.missing().len(), MAX_REPORTED_GAP);
        assert!(!stream.record(0), "zero is never a sequence number");
    }
}
