//! Where a device is in each mailbox it reads, and when it reads one again from the start:
//! the rules of a sync, the same for every driver.
//!
//! - A hole in a sender's stream ([`MessagingEvent::Gap`]) is a message some node dropped
//!   and others may hold: every mailbox listened on is read again from every node.
//! - A history batch that arrived while the transfer's manifest was unknown had its blocks
//!   passed over (a block is checked against the manifest): the history mailbox is read
//!   again from the start. Nodes' answers merge in the order they come, so a block may
//!   precede its manifest even in a batch that imported other blocks.
//!
//! ```
//! use phantom_core::mailbox::keys::MailboxSeed;
//! use phantom_core::messaging::reading::Reading;
//!
//! let history = MailboxSeed::from_bytes([1; 32]).address();
//! let mut reading = Reading::default();
//! let mut cursor = reading.take(history);
//! cursor.advance(b"node", 16);
//! reading.put_back(history, cursor);
//!
//! reading.after_history_batch(history, 16, true);
//! let cursor = reading.take(history);
//! assert_eq!(cursor.position(b"node"), 16, "the manifest was known: read on");
//! reading.put_back(history, cursor);
//!
//! reading.after_history_batch(history, 16, false);
//! assert_eq!(reading.take(history).position(b"node"), 0, "read again from the start");
//! ```

use std::collections::HashMap;

use crate::mailbox::keys::MailboxKeys;
use crate::mailbox::transport::MailboxCursor;
use crate::mailbox::MailboxAddress;
use crate::messaging::MessagingEvent;

/// A device's cursors, one per mailbox it reads.
#[derive(Debug, Default)]
pub struct Reading {
    cursors: HashMap<MailboxAddress, MailboxCursor>,
}

impl Reading {
    /// The cursor to read `mailbox` with, taken out while the read awaits the network;
    /// [`Reading::put_back`] returns it.
    pub fn take(&mut self, mailbox: MailboxAddress) -> MailboxCursor {
        self.cursors.remove(&mailbox).unwrap_or_default()
    }

    /// A copy of the cursor to read `mailbox` with, for a read that may fail: the device's
    /// own moves only with [`Reading::put_back`].
    pub fn cursor(&self, mailbox: MailboxAddress) -> MailboxCursor {
        self.cursors.get(&mailbox).cloned().unwrap_or_default()
    }

    /// Keeps `cursor` as where `mailbox` is read from next, after a read that succeeded.
    pub fn put_back(&mut self, mailbox: MailboxAddress, cursor: MailboxCursor) {
        self.cursors.insert(mailbox, cursor);
    }

    /// What receiving an inbox envelope reported: after a hole in a sender's stream, every
    /// mailbox in `listening` is read again from the start.
    pub fn after_event(&mut self, event: &MessagingEvent, listening: &[MailboxKeys]) {
        if matches!(event, MessagingEvent::Gap { .. }) {
            for mailbox in listening {
                self.cursors.remove(&mailbox.address());
            }
        }
    }

    /// A batch of `arrived` envelopes was read from the history mailbox `history`, and
    /// the transfer's manifest was known before it or not: if not, the mailbox is read
    /// again from the start. (A batch that only repeats blocks already in is no reason to.)
    pub fn after_history_batch(
        &mut self,
        history: MailboxAddress,
        arrived: usize,
        manifest_was_known: bool,
    ) {
        if arrived > 0 && !manifest_was_known {
            self.cursors.remove(&history);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::keys::MailboxSeed;

    fn read_to(reading: &mut Reading, mailbox: MailboxAddress, position: u64) {
        let mut cursor = reading.take(mailbox);
        cursor.advance(b"node", position);
        reading.put_back(mailbox, cursor);
    }

    fn position(reading: &mut Reading, mailbox: MailboxAddress) -> u64 {
        let cursor = reading.take(mailbox);
        let position = cursor.position(b"node");
        reading.put_back(mailbox, cursor);
        position
    }

    #[test]
    fn a_gap_reads_every_listened_mailbox_again_and_nothing_else() {
        let inbox = MailboxSeed::from_bytes([1; 32]).keys();
        let profile = MailboxSeed::from_bytes([2; 32]).keys();
        let history = MailboxSeed::from_bytes([3; 32]).address();
        let mut reading = Reading::default();
        for mailbox in [inbox.address(), profile.address(), history] {
            read_to(&mut reading, mailbox, 9);
        }
        let listening = [inbox.clone(), profile.clone()];
        reading.after_event(
            &MessagingEvent::RosterChanged {
                persona_key: [0; 32],
                epoch: 2,
            },
            &listening,
        );
        assert_eq!(position(&mut reading, inbox.address()), 9);
        reading.after_event(
            &MessagingEvent::Gap {
                conversation_id: crate::persona::ConversationId::from_bytes([0; 16]),
                sender_device: [0; 32],
                missing: vec![2],
            },
            &listening,
        );
        assert_eq!(position(&mut reading, inbox.address()), 0);
        assert_eq!(position(&mut reading, profile.address()), 0);
        assert_eq!(position(&mut reading, history), 9);
    }

    #[test]
    fn history_is_read_again_only_after_a_batch_that_came_before_its_manifest() {
        let history = MailboxSeed::from_bytes([3; 32]).address();
        let mut reading = Reading::default();
        read_to(&mut reading, history, 16);
        reading.after_history_batch(history, 0, false);
        assert_eq!(position(&mut reading, history), 16, "nothing arrived");
        reading.after_history_batch(history, 16, true);
        assert_eq!(
            position(&mut reading, history),
            16,
            "the manifest was known"
        );
        reading.after_history_batch(history, 16, false);
        assert_eq!(position(&mut reading, history), 0);
    }
}
