//! The outbox flush: what leaves the device, in order, and when the outbox is stored again.
//!
//! A flush runs beside a sync round, since the page may send while a sync waits for news,
//! and one at a time: [`PersonaSync::start_flush`] refuses a second while one is under way, so
//! no envelope is put twice at once. The driver takes each [`FlushRequest`] from
//! [`PersonaSync::poll_transmit`] and answers it; the flush ends when that gives `None`.
//!
//! The order is the outbox's: envelopes stored in a snapshot, the oldest first, then
//! history blocks once the manifest and offer naming them are out. After the puts, the
//! outbox is stored as they left it, so a reload sends nothing again that a write quorum
//! already took (a receiver drops the rare copy that still goes twice). A put that fails
//! ends the flush: what waits stays for the next one.
//!
//! ```
//! use phantom_core::device::{PersonaSync, FlushRequest};
//! use phantom_core::messaging::Messenger;
//! use phantom_core::persona::{DeviceKeys, Persona};
//! use phantom_core::testing::SeededRng;
//!
//! let mut rng = SeededRng::new(1);
//! let persona = Persona::create("Ada", 1, &mut rng).unwrap();
//! let keys = DeviceKeys::generate("Laptop", 1, &mut rng).unwrap();
//! let mut device = PersonaSync::new(Messenger::create(&persona, &keys, 1, &mut rng).unwrap());
//! // A new persona publishes its roster; nothing leaves before a snapshot holds it.
//! let stored = device.messenger().outbox().mark();
//! device.messenger_mut().outbox_mut().persisted(stored);
//!
//! assert!(device.start_flush());
//! assert!(!device.start_flush(), "one flush at a time");
//! let mut puts = 0;
//! while let Some(request) = device.poll_transmit() {
//!     match request {
//!         FlushRequest::Envelope(_) | FlushRequest::HistoryBlock { .. } => {
//!             puts += 1;
//!             device.handle_transmitted().unwrap();
//!         }
//!         FlushRequest::Save(save) => device.handle_flush_saved(save.mark).unwrap(),
//!     }
//! }
//! assert!(puts > 0);
//! assert!(device.messenger().outbox().is_empty());
//! assert!(!device.is_flushing());
//! ```

use zeroize::Zeroizing;

use super::{DeviceError, PersonaSync, Save};
use crate::history::TransferId;
use crate::messaging::outbox::{HistoryPublication, PendingEnvelope};

/// What a flush asks its driver to do next.
#[derive(Debug)]
pub enum FlushRequest {
    /// Put this envelope in its mailbox; answer with [`PersonaSync::handle_transmitted`] once a
    /// write quorum stored it, or [`PersonaSync::handle_transmit_failed`].
    Envelope(PendingEnvelope),
    /// Put block `index` of this transfer, read from the vault, in the transfer's mailbox;
    /// answer as for an envelope.
    HistoryBlock {
        /// The transfer, with its mailbox.
        publication: HistoryPublication,
        /// Which block.
        index: u32,
    },
    /// Store the messenger's state as the puts left its outbox (no messages); answer with
    /// [`PersonaSync::handle_flush_saved`].
    Save(Save),
}

/// A put in flight, to take out of the outbox once it is acknowledged.
#[derive(Debug, Clone, Copy)]
pub(super) enum InFlight {
    Envelope(u64),
    Block(TransferId, u32),
}

/// Where a flush is.
#[derive(Debug, Default)]
pub(super) enum Flush {
    #[default]
    Idle,
    Putting {
        sent: u32,
        in_flight: Option<InFlight>,
        failed: bool,
    },
    Saving,
}

impl PersonaSync {
    /// Begins a flush; `false` (and nothing to do) while another is under way.
    pub fn start_flush(&mut self) -> bool {
        if !matches!(self.flush, Flush::Idle) {
            return false;
        }
        self.flush = Flush::Putting {
            sent: 0,
            in_flight: None,
            failed: false,
        };
        true
    }

    /// Whether a flush is under way.
    pub fn is_flushing(&self) -> bool {
        !matches!(self.flush, Flush::Idle)
    }

    /// The flush's next step; `None` once it is over (or while a put awaits its answer).
    pub fn poll_transmit(&mut self) -> Option<FlushRequest> {
        let Flush::Putting {
            sent,
            in_flight: None,
            failed,
        } = self.flush
        else {
            return None;
        };
        let outbox = self.messenger.outbox();
        if !failed {
            if let Some(pending) = outbox.next_envelope() {
                self.flush = Flush::Putting {
                    sent,
                    in_flight: Some(InFlight::Envelope(pending.id)),
                    failed,
                };
                return Some(FlushRequest::Envelope(pending.clone()));
            }
            if let Some((publication, index)) = outbox.next_block() {
                self.flush = Flush::Putting {
                    sent,
                    in_flight: Some(InFlight::Block(publication.transfer_id, index)),
                    failed,
                };
                return Some(FlushRequest::HistoryBlock { publication, index });
            }
        }
        if sent == 0 {
            self.flush = Flush::Idle;
            return None;
        }
        match self.messenger.snapshot() {
            Ok(state) => {
                self.flush = Flush::Saving;
                let mark = self.messenger.outbox().mark();
                Some(FlushRequest::Save(Save::state_only(state, mark)))
            }
            // The puts stay done in memory; the next save records them.
            Err(_) => {
                self.flush = Flush::Idle;
                None
            }
        }
    }

    /// The put asked for was stored by a write quorum: it leaves the outbox.
    pub fn handle_transmitted(&mut self) -> Result<(), DeviceError> {
        let Flush::Putting {
            sent,
            in_flight: Some(put),
            failed,
        } = self.flush
        else {
            return Err(DeviceError::NoSuchRequest);
        };
        let outbox = self.messenger.outbox_mut();
        match put {
            InFlight::Envelope(id) => outbox.envelope_sent(id),
            InFlight::Block(transfer_id, index) => outbox.block_sent(&transfer_id, index),
        }
        self.flush = Flush::Putting {
            sent: sent.saturating_add(1),
            in_flight: None,
            failed,
        };
        Ok(())
    }

    /// The put asked for failed: it stays in the outbox, and the flush ends once what was
    /// already sent is stored.
    pub fn handle_transmit_failed(&mut self) -> Result<(), DeviceError> {
        let Flush::Putting {
            sent,
            in_flight: Some(_),
            ..
        } = self.flush
        else {
            return Err(DeviceError::NoSuchRequest);
        };
        self.flush = Flush::Putting {
            sent,
            in_flight: None,
            failed: true,
        };
        Ok(())
    }

    /// The flush's [`FlushRequest::Save`] is stored: the outbox as it was then may leave.
    pub fn handle_flush_saved(&mut self, mark: u64) -> Result<(), DeviceError> {
        if !matches!(self.flush, Flush::Saving) {
            return Err(DeviceError::NoSuchRequest);
        }
        self.messenger.outbox_mut().persisted(mark);
        self.flush = Flush::Idle;
        Ok(())
    }

    /// The driver could not finish the flush (the vault refused its write, say): it ends,
    /// and what it did not send waits for the next one. A put left unanswered goes again.
    pub fn abandon_flush(&mut self) {
        self.flush = Flush::Idle;
    }
}

impl Save {
    /// The state alone: a flush's or an offer's write stores no message.
    pub(super) fn state_only(state: Zeroizing<Vec<u8>>, mark: u64) -> Self {
        Save {
            state,
            mark,
            live: Vec::new(),
            history: Vec::new(),
            conflicting: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::device;
    use super::*;
    use crate::mailbox::keys::MailboxKeys;
    use crate::mailbox::Transmit;
    use crate::testing::SeededRng;

    #[test]
    fn nothing_leaves_before_a_snapshot_holds_it() {
        let mut rng = SeededRng::new(1);
        let mut device = device(&mut rng);
        assert!(!device.messenger().outbox().is_empty());
        assert!(device.start_flush());
        assert!(device.poll_transmit().is_none(), "unstored: nothing to put");
        assert!(!device.is_flushing(), "and no write for nothing sent");
    }

    #[test]
    fn a_failed_put_ends_the_flush_and_stays_for_the_next() {
        let mut rng = SeededRng::new(2);
        let mut device = device(&mut rng);
        let outbox = device.messenger_mut().outbox_mut();
        outbox.push(Transmit {
            mailbox: MailboxKeys::shared(&[7; 32]),
            bytes: b"a text".to_vec(),
        });
        outbox.persisted(outbox.mark());
        let waiting = outbox.envelopes();
        assert_eq!(waiting, 2, "the roster, then the text");

        assert!(device.start_flush());
        assert!(matches!(
            device.poll_transmit(),
            Some(FlushRequest::Envelope(_))
        ));
        assert!(device.poll_transmit().is_none(), "one put at a time");
        device.handle_transmitted().expect("asked for");
        let Some(FlushRequest::Envelope(failing)) = device.poll_transmit() else {
            panic!("the next envelope");
        };
        device.handle_transmit_failed().expect("asked for");
        let Some(FlushRequest::Save(save)) = device.poll_transmit() else {
            panic!("what was sent is stored");
        };
        assert!(device.poll_transmit().is_none());
        device.handle_flush_saved(save.mark).expect("asked for");
        assert!(matches!(
            device.handle_transmitted(),
            Err(DeviceError::NoSuchRequest)
        ));

        assert_eq!(device.messenger().outbox().envelopes(), waiting - 1);
        assert!(device.start_flush());
        let Some(FlushRequest::Envelope(again)) = device.poll_transmit() else {
            panic!("the failed envelope first");
        };
        assert_eq!(again, failing);
    }

    #[test]
    fn an_abandoned_flush_puts_its_unanswered_envelope_again() {
        let mut rng = SeededRng::new(3);
        let mut device = device(&mut rng);
        let mark = device.messenger().outbox().mark();
        device.messenger_mut().outbox_mut().persisted(mark);
        assert!(device.start_flush());
        let Some(FlushRequest::Envelope(first)) = device.poll_transmit() else {
            panic!("an envelope");
        };
        device.abandon_flush();
        assert!(device.start_flush());
        let Some(FlushRequest::Envelope(again)) = device.poll_transmit() else {
            panic!("an envelope");
        };
        assert_eq!(again, first);
    }
}
