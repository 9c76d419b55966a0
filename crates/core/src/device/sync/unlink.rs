//! Unlinking this device: it leaves the persona's roster, the other devices are told, and
//! only then may its data go.
//!
//! [`PersonaSync::start_unlink`] decides what unlinking needs. A device on a roster with
//! other devices leaves it ([`Messenger::leave`](crate::messaging::Messenger::leave)); the
//! persona's last device, or one already off the roster, has nobody to tell. The driver
//! then takes each [`UnlinkRequest`] from [`PersonaSync::poll_unlink`]:
//! 1. [`UnlinkRequest::Save`]: the leave is stored, so a reload still sends it;
//! 2. [`UnlinkRequest::Flush`]: what waits is sent, the leave above all;
//! 3. [`UnlinkRequest::Delete`]: asked for only once the outbox is empty. A flush that
//!    leaves anything unsent ends the unlink with nothing deleted; unlinking again sends
//!    the rest.
//!
//! ```
//! use phantom_core::device::{FlushRequest, PersonaSync, UnlinkRequest};
//! use phantom_core::messaging::Messenger;
//! use phantom_core::persona::{DeviceKeys, Persona};
//! use phantom_core::testing::SeededRng;
//!
//! let mut rng = SeededRng::new(1);
//! let persona = Persona::create("Ada", 1, &mut rng)?;
//! let keys = DeviceKeys::generate("Phone", 1, &mut rng)?;
//! let mut device = PersonaSync::new(Messenger::create(&persona, &keys, 1, &mut rng)?);
//! let stored = device.messenger().outbox().mark();
//! device.messenger_mut().outbox_mut().persisted(stored);
//!
//! // The persona's only device tells nobody, but what waits leaves first.
//! device.start_unlink(true, &mut rng)?;
//! assert!(matches!(device.poll_unlink(), Some(UnlinkRequest::Flush)));
//! assert!(device.start_flush());
//! while let Some(request) = device.poll_transmit() {
//!     match request {
//!         FlushRequest::Save(save) => device.handle_flush_saved(save.mark)?,
//!         _put => device.handle_transmitted()?,
//!     }
//! }
//! device.handle_unlink_flushed()?;
//! assert!(matches!(device.poll_unlink(), Some(UnlinkRequest::Delete)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use rand_core::CryptoRng;

use super::{DeviceError, PersonaSync, Save};

/// What unlinking asks its driver to do next.
#[derive(Debug)]
pub enum UnlinkRequest {
    /// Store the messenger's state, the leave in its outbox; answer with
    /// [`PersonaSync::handle_unlink_saved`].
    Save(Save),
    /// Send what waits in the outbox: a whole flush that starts after this request (one
    /// under way must end first); answer with [`PersonaSync::handle_unlink_flushed`], or
    /// [`PersonaSync::abandon_unlink`] if it failed.
    Flush,
    /// Everything is told: delete this device's data.
    Delete,
}

/// Where an unlink is.
#[derive(Debug, Default)]
pub(super) enum Unlinking {
    #[default]
    Idle,
    /// The leave's write, until asked for; then its answer.
    Saving(Option<Save>),
    /// What waits is to be sent; `asked` once the flush was asked for.
    Flushing { asked: bool },
    /// Everything is told.
    Deleting,
}

impl PersonaSync {
    /// Begins unlinking this device. `connected`: whether the driver reaches the network,
    /// which an unlink that must tell the other devices (or still send anything) needs.
    pub fn start_unlink(
        &mut self,
        connected: bool,
        rng: &mut impl CryptoRng,
    ) -> Result<(), DeviceError> {
        let leaves = self.messenger.can_leave();
        if !connected && (leaves || !self.messenger.outbox().is_empty()) {
            return Err(DeviceError::NotConnected);
        }
        self.unlinking = if leaves {
            self.messenger.leave(rng)?;
            let state = self.messenger.snapshot()?;
            Unlinking::Saving(Some(Save::state_only(
                state,
                self.messenger.outbox().mark(),
            )))
        } else {
            Unlinking::Flushing { asked: false }
        };
        Ok(())
    }

    /// The unlink's next step; `None` while one awaits its answer, or when none is under
    /// way. Only [`UnlinkRequest::Delete`] lets the driver delete anything.
    pub fn poll_unlink(&mut self) -> Option<UnlinkRequest> {
        match &mut self.unlinking {
            Unlinking::Idle | Unlinking::Flushing { asked: true } => None,
            Unlinking::Saving(save) => save.take().map(UnlinkRequest::Save),
            Unlinking::Flushing { asked } if !self.messenger.outbox().is_empty() => {
                *asked = true;
                Some(UnlinkRequest::Flush)
            }
            Unlinking::Flushing { .. } | Unlinking::Deleting => {
                self.unlinking = Unlinking::Idle;
                Some(UnlinkRequest::Delete)
            }
        }
    }

    /// The unlink's [`UnlinkRequest::Save`] is stored: the leave may be sent.
    pub fn handle_unlink_saved(&mut self, mark: u64) -> Result<(), DeviceError> {
        if !matches!(self.unlinking, Unlinking::Saving(None)) {
            return Err(DeviceError::NoSuchRequest);
        }
        self.messenger.outbox_mut().persisted(mark);
        self.unlinking = Unlinking::Flushing { asked: false };
        Ok(())
    }

    /// The unlink's [`UnlinkRequest::Flush`] ended. Anything still waiting ends the
    /// unlink with nothing deleted ([`DeviceError::Unsent`]).
    pub fn handle_unlink_flushed(&mut self) -> Result<(), DeviceError> {
        if !matches!(self.unlinking, Unlinking::Flushing { asked: true }) {
            return Err(DeviceError::NoSuchRequest);
        }
        if self.messenger.outbox().is_empty() {
            self.unlinking = Unlinking::Deleting;
            Ok(())
        } else {
            self.unlinking = Unlinking::Idle;
            Err(DeviceError::Unsent)
        }
    }

    /// The driver could not finish the unlink (a write or a put failed): it ends, and
    /// nothing is deleted.
    pub fn abandon_unlink(&mut self) {
        self.unlinking = Unlinking::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::FlushRequest;
    use crate::mailbox::envelope::Envelope;
    use crate::mailbox::keys::MailboxKeys;
    use crate::mailbox::Transmit;
    use crate::messaging::{MessagingError, Messenger};
    use crate::persona::{DeviceKeys, Persona};
    use crate::testing::SeededRng;

    /// The phone, and the laptop it added, which learnt of the roster listing it; what
    /// both had to send is sent.
    fn phone_and_laptop(rng: &mut SeededRng) -> (PersonaSync, PersonaSync) {
        let persona = Persona::create("Ada", 1, rng).expect("a persona");
        let keys = |name: &str, rng: &mut SeededRng| DeviceKeys::generate(name, 1, rng);
        let mut phone = Messenger::create(&persona, &keys("Phone", rng).expect("keys"), 1, rng)
            .expect("a messenger");
        phone.outbox_mut().take_envelopes();
        let mut laptop = Messenger::join(
            &persona.for_linked_device(),
            &keys("Laptop", rng).expect("keys"),
            phone.signed_roster(),
        )
        .expect("joined");
        phone
            .add_device(laptop.roster_entry(2), rng)
            .expect("added");
        for transmit in phone.outbox_mut().take_envelopes() {
            let envelope = Envelope::new(transmit.bytes).expect("fits");
            laptop
                .receive(transmit.mailbox.address(), &envelope, rng)
                .expect("received");
        }
        laptop.outbox_mut().take_envelopes();
        assert!(laptop.can_leave(), "on a roster of two");
        (PersonaSync::new(phone), PersonaSync::new(laptop))
    }

    /// Answers a flush whose puts fail after the first `succeed` of them.
    fn flush(device: &mut PersonaSync, succeed: usize) {
        assert!(device.start_flush());
        let mut puts = 0;
        while let Some(request) = device.poll_transmit() {
            match request {
                FlushRequest::Save(save) => device.handle_flush_saved(save.mark),
                _put if puts < succeed => {
                    puts += 1;
                    device.handle_transmitted()
                }
                _put => device.handle_transmit_failed(),
            }
            .expect("answered");
        }
    }

    #[test]
    fn a_device_that_leaves_stores_and_sends_the_leave_before_it_is_deleted() {
        let mut rng = SeededRng::new(1);
        let (_, mut laptop) = phone_and_laptop(&mut rng);
        assert!(matches!(
            laptop.start_unlink(false, &mut rng),
            Err(DeviceError::NotConnected)
        ));
        assert!(laptop.messenger().can_leave(), "nothing changed offline");

        laptop.start_unlink(true, &mut rng).expect("started");
        let Some(UnlinkRequest::Save(save)) = laptop.poll_unlink() else {
            panic!("the leave is stored first");
        };
        assert!(laptop.poll_unlink().is_none(), "it awaits the write");
        laptop.handle_unlink_saved(save.mark).expect("saved");
        assert!(matches!(laptop.poll_unlink(), Some(UnlinkRequest::Flush)));
        flush(&mut laptop, usize::MAX);
        laptop.handle_unlink_flushed().expect("sent");
        assert!(matches!(laptop.poll_unlink(), Some(UnlinkRequest::Delete)));
        assert!(laptop.poll_unlink().is_none());
    }

    /// The accident: the network takes the leave's put and refuses the rest. Nothing is
    /// deleted, and unlinking again sends what is left, without leaving twice.
    #[test]
    fn a_flush_that_leaves_anything_unsent_deletes_nothing() {
        let mut rng = SeededRng::new(2);
        let (_, mut laptop) = phone_and_laptop(&mut rng);
        laptop.messenger_mut().outbox_mut().push(Transmit {
            mailbox: MailboxKeys::shared(&[7; 32]),
            bytes: b"a text written before".to_vec(),
        });
        laptop.start_unlink(true, &mut rng).expect("started");
        let Some(UnlinkRequest::Save(save)) = laptop.poll_unlink() else {
            panic!("the leave is stored first");
        };
        laptop.handle_unlink_saved(save.mark).expect("saved");
        assert!(matches!(laptop.poll_unlink(), Some(UnlinkRequest::Flush)));
        flush(&mut laptop, 1);
        assert!(matches!(
            laptop.handle_unlink_flushed(),
            Err(DeviceError::Unsent)
        ));
        assert!(laptop.poll_unlink().is_none(), "no delete");

        laptop.start_unlink(true, &mut rng).expect("again");
        assert!(
            matches!(laptop.poll_unlink(), Some(UnlinkRequest::Flush)),
            "off the roster already: the rest is sent, no second leave"
        );
        flush(&mut laptop, usize::MAX);
        laptop.handle_unlink_flushed().expect("sent");
        assert!(matches!(laptop.poll_unlink(), Some(UnlinkRequest::Delete)));
        assert!(matches!(
            laptop.messenger_mut().leave(&mut rng),
            Err(MessagingError::Revoked)
        ));
    }

    #[test]
    fn the_last_device_with_nothing_waiting_is_deleted_at_once_even_offline() {
        let mut rng = SeededRng::new(3);
        let persona = Persona::create("Bob", 1, &mut rng).expect("a persona");
        let keys = DeviceKeys::generate("Phone", 1, &mut rng).expect("keys");
        let mut alone =
            PersonaSync::new(Messenger::create(&persona, &keys, 1, &mut rng).expect("created"));
        alone.messenger_mut().outbox_mut().take_envelopes();
        alone.start_unlink(false, &mut rng).expect("nobody to tell");
        assert!(matches!(alone.poll_unlink(), Some(UnlinkRequest::Delete)));
        assert!(matches!(
            alone.handle_unlink_flushed(),
            Err(DeviceError::NoSuchRequest)
        ));
    }
}
