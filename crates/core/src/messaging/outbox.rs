//! The durable outbox: everything a device must still put on the network, kept in the
//! [`Messenger`](super::Messenger)'s snapshot so that it is stored in the same vault write
//! as the state change that produced it (the message, the Olm session's advance, the read
//! mark), and leaves only once a write quorum has acknowledged it.
//!
//! Two queues: envelopes, in the order they were made, and the blocks of history transfers
//! offered to other devices, put only once every envelope before them is out (a transfer's
//! manifest and offer go first). An entry is handed out only once the snapshot holding it
//! was stored ([`Outbox::persisted`]): an envelope sealed with a session advance that never
//! reached the vault would fork the session if it left.
//!
//! ```
//! use phantom_core::mailbox::{keys::MailboxKeys, Transmit};
//! use phantom_core::messaging::outbox::Outbox;
//!
//! let mut outbox = Outbox::default();
//! outbox.push(Transmit { mailbox: MailboxKeys::shared(&[7; 32]), bytes: b"hello".to_vec() });
//! assert!(outbox.next_envelope().is_none(), "not stored yet");
//! let mark = outbox.mark();
//! // ... the snapshot holding it is stored ...
//! outbox.persisted(mark);
//! let pending = outbox.next_envelope().cloned().expect("ready");
//! // ... put on the network, acknowledged by a write quorum ...
//! outbox.envelope_sent(pending.id);
//! assert!(outbox.is_empty());
//! ```

use std::collections::VecDeque;

use crate::history::TransferId;
use crate::mailbox::envelope::MAX_ENVELOPE_LEN;
use crate::mailbox::keys::{MailboxKeys, MailboxSeed};
use crate::mailbox::Transmit;
use crate::messaging::MessagingError;
use crate::persona::DeviceId;
use crate::wire::{Reader, WireError, Writer};

/// Envelopes waiting past which a person's new sends are refused until the network takes
/// some: the outbox is part of every snapshot the vault writes.
pub const MAX_WAITING_SENDS: usize = 2_000;
/// Envelopes a stored outbox holds at most (a new device's introduction to thousands of
/// contacts queues one each).
pub const MAX_OUTBOX_ENVELOPES: usize = 65_536;
/// History transfers whose blocks wait to be put, at most: one per device offered to, so
/// a roster's worth.
pub const MAX_OUTBOX_PUBLICATIONS: usize = 256;

/// How a stored outbox names the mailbox of each envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutboxFormat {
    /// Its [`MailboxKeys`].
    Keys,
    /// 32 bytes, as snapshots did before mailboxes had keys: every mailbox a messenger
    /// wrote to was then named by what is now its seed. (A roster put into the profile
    /// mailbox of that time goes to an unused mailbox; the next roster is published anew.)
    Seeds,
}

/// A history transfer's blocks to put in its mailbox: block 0, 1, … of `blocks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPublication {
    /// The transfer's id, under which the offering device stores its blocks.
    pub transfer_id: TransferId,
    /// The transfer's own mailbox, named in the offer: the new device reads it.
    pub mailbox: MailboxSeed,
    /// How many blocks the transfer has.
    pub blocks: u32,
}

/// An envelope waiting for its write quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEnvelope {
    /// Its place in the outbox, to acknowledge it by.
    pub id: u64,
    /// The envelope's bytes and the mailbox to put them in.
    pub transmit: Transmit,
}

/// A transfer being published, with the device it is for and the next block to put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Publishing {
    id: u64,
    device_id: DeviceId,
    publication: HistoryPublication,
    next_block: u32,
}

/// What is still to send; see the [module](self).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outbox {
    next_id: u64,
    /// Entries below this id are in a stored snapshot and may leave.
    persisted_below: u64,
    envelopes: VecDeque<PendingEnvelope>,
    publications: VecDeque<Publishing>,
}

impl Outbox {
    /// Queues an envelope behind everything already waiting.
    pub fn push(&mut self, transmit: Transmit) {
        let id = self.take_id();
        self.envelopes.push_back(PendingEnvelope { id, transmit });
    }

    /// Whether a person's new send may queue: refused once [`MAX_WAITING_SENDS`] wait.
    pub fn check_room(&self) -> Result<(), MessagingError> {
        if self.envelopes.len() >= MAX_WAITING_SENDS {
            return Err(MessagingError::OutboxFull {
                max: MAX_WAITING_SENDS,
            });
        }
        Ok(())
    }

    /// Queues a transfer's blocks (a transfer of none needs nothing put); a transfer
    /// queued before for the same device is dropped (the new one replaces it) and returned.
    pub fn publish(
        &mut self,
        device_id: DeviceId,
        publication: HistoryPublication,
    ) -> Option<HistoryPublication> {
        let replaced = self
            .publications
            .iter()
            .position(|p| p.device_id == device_id)
            .and_then(|at| self.publications.remove(at))
            .map(|p| p.publication);
        if publication.blocks == 0 {
            return replaced;
        }
        let id = self.take_id();
        self.publications.push_back(Publishing {
            id,
            device_id,
            publication,
            next_block: 0,
        });
        replaced
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    /// Where the outbox stands now: pass it to [`Outbox::persisted`] once a snapshot taken
    /// at this point is stored.
    pub fn mark(&self) -> u64 {
        self.next_id
    }

    /// Everything queued before `mark` is stored and may leave.
    pub fn persisted(&mut self, mark: u64) {
        self.persisted_below = self.persisted_below.max(mark);
    }

    /// The oldest envelope that may leave now.
    pub fn next_envelope(&self) -> Option<&PendingEnvelope> {
        self.envelopes
            .front()
            .filter(|pending| pending.id < self.persisted_below)
    }

    /// A write quorum stored envelope `id`: it leaves the outbox.
    pub fn envelope_sent(&mut self, id: u64) {
        self.envelopes.retain(|pending| pending.id != id);
    }

    /// The next history block to put: its transfer and index. Only once no envelope made
    /// before that transfer waits, so its manifest and offer are out first.
    pub fn next_block(&self) -> Option<(HistoryPublication, u32)> {
        let publishing = self
            .publications
            .front()
            .filter(|p| p.id < self.persisted_below)?;
        let earlier_waits = self
            .envelopes
            .front()
            .is_some_and(|pending| pending.id < publishing.id);
        (!earlier_waits).then_some((publishing.publication, publishing.next_block))
    }

    /// Block `index` of `transfer_id` is stored by a write quorum.
    pub fn block_sent(&mut self, transfer_id: &TransferId, index: u32) {
        let Some(publishing) = self
            .publications
            .iter_mut()
            .find(|p| &p.publication.transfer_id == transfer_id)
        else {
            return;
        };
        publishing.next_block = publishing.next_block.max(index.saturating_add(1));
        self.publications
            .retain(|p| p.next_block < p.publication.blocks);
    }

    /// Envelopes waiting, stored or not.
    pub fn envelopes(&self) -> usize {
        self.envelopes.len()
    }

    /// History blocks still to put.
    pub fn blocks(&self) -> u64 {
        self.publications
            .iter()
            .map(|p| u64::from(p.publication.blocks.saturating_sub(p.next_block)))
            .sum()
    }

    /// Whether nothing is left to send: no envelope and no history block.
    pub fn is_empty(&self) -> bool {
        self.envelopes.is_empty() && self.publications.is_empty()
    }

    /// Every waiting envelope, taken out at once: for a driver that delivers directly and
    /// keeps nothing (tests, or two devices in one process).
    pub fn take_envelopes(&mut self) -> Vec<Transmit> {
        self.envelopes
            .drain(..)
            .map(|pending| pending.transmit)
            .collect()
    }

    pub(crate) fn write(&self, w: &mut Writer) -> Result<(), WireError> {
        w.put_u64(self.next_id);
        w.put_count("outbox", self.envelopes.len(), MAX_OUTBOX_ENVELOPES)?;
        for pending in &self.envelopes {
            w.put_u64(pending.id);
            pending.transmit.mailbox.write(w);
            w.put_var_bytes("outbox_envelope", &pending.transmit.bytes, MAX_ENVELOPE_LEN)?;
        }
        w.put_count(
            "outbox_publications",
            self.publications.len(),
            MAX_OUTBOX_PUBLICATIONS,
        )?;
        for publishing in &self.publications {
            w.put_u64(publishing.id);
            w.put_bytes(publishing.device_id.as_bytes());
            w.put_bytes(publishing.publication.transfer_id.as_bytes());
            w.put_bytes(publishing.publication.mailbox.as_bytes());
            w.put_u32(publishing.publication.blocks);
            w.put_u32(publishing.next_block);
        }
        Ok(())
    }

    /// The outbox of a stored snapshot: everything in it was stored, so all of it may leave.
    /// `format` says how it names each envelope's mailbox.
    pub(crate) fn read(r: &mut Reader<'_>, format: OutboxFormat) -> Result<Self, WireError> {
        let next_id = r.u64("outbox_next_id")?;
        let count = r.count("outbox", MAX_OUTBOX_ENVELOPES, 8 + 32 + 4)?;
        let mut envelopes = VecDeque::with_capacity(count);
        for _ in 0..count {
            let id = r.u64("outbox_id")?;
            let mailbox = match format {
                OutboxFormat::Keys => MailboxKeys::read(r)?,
                OutboxFormat::Seeds => MailboxSeed::from_bytes(r.array("outbox_mailbox")?).keys(),
            };
            let bytes = r.var_bytes("outbox_envelope", MAX_ENVELOPE_LEN)?.to_vec();
            envelopes.push_back(PendingEnvelope {
                id,
                transmit: Transmit { mailbox, bytes },
            });
        }
        let count = r.count(
            "outbox_publications",
            MAX_OUTBOX_PUBLICATIONS,
            8 + 16 + 16 + 32 + 4 + 4,
        )?;
        let mut publications = VecDeque::with_capacity(count);
        for _ in 0..count {
            publications.push_back(Publishing {
                id: r.u64("publication_id")?,
                device_id: DeviceId::from_bytes(r.array("publication_device")?),
                publication: HistoryPublication {
                    transfer_id: TransferId::from_bytes(r.array("publication_transfer")?),
                    mailbox: MailboxSeed::from_bytes(r.array("publication_mailbox")?),
                    blocks: r.u32("publication_blocks")?,
                },
                next_block: r.u32("publication_next_block")?,
            });
        }
        let ids_in_order = envelopes
            .iter()
            .map(|p| p.id)
            .chain(publications.iter().map(|p| p.id))
            .all(|id| id < next_id);
        if !ids_in_order {
            return Err(WireError::InvalidValue {
                field: "outbox_id",
                value: next_id,
            });
        }
        Ok(Self {
            next_id,
            persisted_below: next_id,
            envelopes,
            publications,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmit(byte: u8) -> Transmit {
        Transmit {
            mailbox: MailboxSeed::from_bytes([byte; 32]).keys(),
            bytes: vec![byte; 3],
        }
    }

    fn publication(byte: u8, blocks: u32) -> HistoryPublication {
        HistoryPublication {
            transfer_id: TransferId::from_bytes([byte; 16]),
            mailbox: MailboxSeed::from_bytes([byte; 32]),
            blocks,
        }
    }

    #[test]
    fn nothing_leaves_before_it_is_stored() {
        let mut outbox = Outbox::default();
        outbox.push(transmit(1));
        let mark = outbox.mark();
        outbox.push(transmit(2));
        outbox.persisted(mark);
        let first = outbox.next_envelope().cloned().expect("the stored one");
        assert_eq!(first.transmit, transmit(1));
        outbox.envelope_sent(first.id);
        assert!(outbox.next_envelope().is_none(), "the second is not stored");
        assert_eq!(outbox.envelopes(), 1);
    }

    #[test]
    fn blocks_wait_for_the_envelopes_made_before_them() {
        let mut outbox = Outbox::default();
        outbox.push(transmit(1));
        outbox.publish(DeviceId::from_bytes([9; 16]), publication(3, 2));
        outbox.push(transmit(2));
        outbox.persisted(outbox.mark());
        assert!(outbox.next_block().is_none(), "the manifest goes first");
        let first = outbox.next_envelope().cloned().expect("ready");
        outbox.envelope_sent(first.id);
        assert_eq!(outbox.next_block(), Some((publication(3, 2), 0)));
        outbox.block_sent(&TransferId::from_bytes([3; 16]), 0);
        outbox.block_sent(&TransferId::from_bytes([3; 16]), 1);
        assert!(outbox.next_block().is_none());
        assert_eq!(outbox.blocks(), 0);
        assert_eq!(outbox.envelopes(), 1);
    }

    #[test]
    fn a_new_offer_to_a_device_replaces_the_old_one() {
        let mut outbox = Outbox::default();
        assert_eq!(
            outbox.publish(DeviceId::from_bytes([9; 16]), publication(3, 5)),
            None
        );
        assert_eq!(
            outbox.publish(DeviceId::from_bytes([9; 16]), publication(4, 5)),
            Some(publication(3, 5))
        );
        assert_eq!(outbox.blocks(), 5);
    }

    #[test]
    fn an_outbox_stored_before_mailbox_keys_names_each_mailbox_by_its_seed() {
        let mut w = Writer::new();
        w.put_u64(2);
        w.put_count("outbox", 1, MAX_OUTBOX_ENVELOPES)
            .expect("room");
        w.put_u64(1);
        w.put_bytes(&[7; 32]);
        w.put_var_bytes("outbox_envelope", &[7; 3], MAX_ENVELOPE_LEN)
            .expect("fits");
        w.put_count("outbox_publications", 0, MAX_OUTBOX_PUBLICATIONS)
            .expect("room");
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let back = Outbox::read(&mut r, OutboxFormat::Seeds).expect("read");
        r.finish().expect("all read");
        assert_eq!(back.envelopes[0].transmit, transmit(7));
    }

    #[test]
    fn a_stored_outbox_comes_back_whole_and_ready() {
        let mut outbox = Outbox::default();
        outbox.push(transmit(1));
        outbox.publish(DeviceId::from_bytes([9; 16]), publication(3, 4));
        outbox.block_sent(&TransferId::from_bytes([3; 16]), 0);
        let mut w = Writer::new();
        outbox.write(&mut w).expect("written");
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let back = Outbox::read(&mut r, OutboxFormat::Keys).expect("read");
        r.finish().expect("all read");
        assert_eq!(back.envelopes, outbox.envelopes);
        assert_eq!(back.publications, outbox.publications);
        assert_eq!(
            back.next_envelope().map(|p| &p.transmit),
            Some(&transmit(1))
        );
    }

    #[test]
    fn a_full_outbox_refuses_more() {
        let mut outbox = Outbox::default();
        for _ in 0..MAX_WAITING_SENDS {
            assert_eq!(outbox.check_room(), Ok(()));
            outbox.push(transmit(1));
        }
        assert_eq!(
            outbox.check_room(),
            Err(MessagingError::OutboxFull {
                max: MAX_WAITING_SENDS
            })
        );
    }
}
