//! A device as one sans-IO machine: its pairing ([`Pairing`]), when its loops try again
//! ([`Backoff`]), and, once it holds a persona, that persona's sync ([`PersonaSync`]: the
//! messenger, its cursors, its outbox flush and the direct history channel, driven in
//! rounds of requests — see [`sync`]).
//!
//! A link is the pairing's, and what comes of it is the device's: the new device joins the
//! roster it was sent before anything is stored, and confirms only once its driver stored
//! the persona; the source adds the new device to its roster as the link completes. The
//! device also says when to call again ([`Device::poll_timeout`]) and which pairing
//! mailboxes to read ([`Device::pairing_fetches`]).
//!
//! ```
//! use std::time::Duration;
//! use phantom_core::device::{Approval, Device, PersonaSync, PinCheck};
//! use phantom_core::messaging::Messenger;
//! use phantom_core::pairing::invitation::Capabilities;
//! use phantom_core::pairing::PairingEvent;
//! use phantom_core::persona::{DeviceKeys, Persona};
//! # let mut rng = phantom_core::testing::SeededRng::new(7);
//! let now = 1_700_000_000;
//! let persona = Persona::create("Ada", now, &mut rng)?;
//! let keys = DeviceKeys::generate("Phone", now, &mut rng)?;
//! let mut phone = Device::default();
//! phone.hold(PersonaSync::new(Messenger::create(&persona, &keys, now, &mut rng)?));
//! let mut laptop = Device::default();
//!
//! let invitation = phone.show_invitation(Capabilities::default(), now, &mut rng)?;
//! let words = laptop.pairing_mut().accept_invitation(&invitation, "Laptop", now, &mut rng)?;
//! let request = laptop.pairing_mut().poll_transmit().expect("the request");
//! phone.receive_pairing(&request.bytes, now, &mut rng)?;
//! let typed = words.words().join(" ");
//! assert!(
//!     phone.approve(Approval::Typed(&typed), PinCheck::Missing, &persona, now).is_err(),
//!     "a PIN is set and was not entered"
//! );
//! phone.approve(Approval::Typed(&typed), PinCheck::Entered, &persona, now)?;
//!
//! let payload = phone.pairing_mut().poll_transmit().expect("the sealed persona");
//! let PairingEvent::PersonaReceived(payload) = laptop.receive_pairing(&payload.bytes, now, &mut rng)?
//! else { unreachable!() };
//! let laptop_keys = DeviceKeys::generate("Laptop", now, &mut rng)?;
//! let entry = laptop.join(&payload, &laptop_keys, now)?;
//! // … the driver stores the persona, then:
//! laptop.confirm_join(entry)?;
//!
//! let ack = laptop.pairing_mut().poll_transmit().expect("the acknowledgement");
//! phone.receive_pairing(&ack.bytes, now, &mut rng)?;
//! let roster = phone.sync().expect("a persona").messenger().roster();
//! assert_eq!(roster.devices.len(), 2, "the laptop is on the roster");
//! assert!(laptop.is_pairing_active(), "until the new roster reaches it");
//! let fetches = laptop.pairing_fetches(now, Duration::from_secs(5));
//! assert_eq!(fetches.len(), 1, "the source's replies");
//! assert_eq!(fetches[0].wait, Duration::from_secs(5));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod sync;

pub use sync::flush::FlushRequest;
pub use sync::offer::OfferRequest;
pub use sync::unlink::UnlinkRequest;
pub use sync::{
    DeviceEvent, Fetch, HistoryBlockStored, HistoryPath, PersonaSync, Save, SyncRequest, SyncStart,
    HISTORY_BATCH,
};

use std::time::Duration;

use rand_core::CryptoRng;
use thiserror::Error;

use crate::mailbox::transport::MailboxCursor;
use crate::mailbox::MailboxAddress;
use crate::messaging::reading::Reading;
use crate::messaging::{MessagingError, Messenger};
use crate::pairing::invitation::{Capabilities, PairingInvitation};
use crate::pairing::messages::PersonaPayload;
use crate::pairing::{Pairing, PairingError, PairingEvent};
use crate::persona::{DeviceKeys, Persona};
use crate::roster::{RosterDevice, SignedRoster};
use crate::wire::WireError;

/// Why a device refused a step.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// A `handle_*` call that answers no request of the round in progress.
    #[error("no such request is waiting for an answer in this sync")]
    NoSuchRequest,
    /// A step that needs the persona, on a device that holds none (or keeps it locked).
    #[error("create, unlock or link a persona first")]
    NoPersona,
    /// The pairing refused a step.
    #[error(transparent)]
    Pairing(#[from] PairingError),
    /// The messenger refused a step (a snapshot it could not write, say).
    #[error(transparent)]
    Messaging(#[from] MessagingError),
    /// A frame for the direct channel could not be written.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A history offer is being prepared; one goes at a time.
    #[error("a history offer is being prepared; try again once it is done")]
    OfferUnderWay,
    /// A step must reach the network (unlinking tells the other devices) and the driver
    /// is not connected.
    #[error("connect to the network, then try again")]
    NotConnected,
    /// The vault has a PIN, and approving a link asks for it again.
    #[error("enter this device's PIN to approve the link")]
    PinRequired,
    /// Unlinking could not send everything: nothing was deleted.
    #[error("not every device was told yet, so nothing was deleted; try again")]
    Unsent,
}

impl DeviceError {
    /// A stable code for machines.
    pub fn code(&self) -> &'static str {
        match self {
            DeviceError::NoSuchRequest => "no_such_request",
            DeviceError::NoPersona => "no_persona",
            DeviceError::Pairing(inner) => inner.code(),
            DeviceError::Messaging(inner) => inner.code(),
            DeviceError::Wire(inner) => inner.code(),
            DeviceError::OfferUnderWay => "offer_under_way",
            DeviceError::NotConnected => "not_connected",
            DeviceError::PinRequired => "pin_required",
            DeviceError::Unsent => "unlink_unsent",
        }
    }
}

/// When a driver's loop tries again after a step failed (the network was down, a node
/// refused): soon after the first failure, then less and less often while failures go on,
/// so that a device offline for an hour does not spin. A step that succeeds starts over.
///
/// ```
/// use phantom_core::device::Backoff;
///
/// let mut backoff = Backoff::default();
/// assert_eq!(backoff.poll_timeout(0), None);
/// backoff.handle_failure(10_000);
/// assert_eq!(backoff.poll_timeout(10_000), Some(11_000));
/// backoff.handle_failure(11_000);
/// assert_eq!(backoff.poll_timeout(11_000), Some(13_000));
/// assert_eq!(backoff.poll_timeout(13_000), None, "the time has come");
/// backoff.handle_success();
/// assert_eq!(backoff.poll_timeout(13_000), None);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    failures: u32,
    retry_at_ms: u64,
}

impl Backoff {
    /// The wait after the first failure, in milliseconds.
    pub const FIRST_MS: u64 = 1_000;
    /// The longest wait, in milliseconds, however long failures go on.
    pub const MAX_MS: u64 = 16_000;

    /// A step failed at `now_ms`: the next try waits twice as long as the last one did.
    pub fn handle_failure(&mut self, now_ms: u64) {
        let wait = (Self::FIRST_MS << self.failures.min(4)).min(Self::MAX_MS);
        self.failures = self.failures.saturating_add(1);
        self.retry_at_ms = now_ms.saturating_add(wait);
    }

    /// A step succeeded: the next failure waits the shortest time again.
    pub fn handle_success(&mut self) {
        *self = Self::default();
    }

    /// When the next try is due (milliseconds since the Unix epoch), while it is still
    /// ahead of `now_ms`.
    pub fn poll_timeout(&self, now_ms: u64) -> Option<u64> {
        (self.retry_at_ms > now_ms).then_some(self.retry_at_ms)
    }
}

/// The words a person confirmed on the source: the candidate they picked, or the words
/// they typed.
#[derive(Debug, Clone, Copy)]
pub enum Approval<'a> {
    /// The index of the candidate triple picked.
    Candidate(usize),
    /// The three words typed, separated by spaces.
    Typed(&'a str),
}

/// What the driver knows of this device's PIN as the person approves a link: with a PIN
/// set, approving asks for it again, so that whoever holds the unlocked device cannot
/// link a device of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// The vault has no PIN.
    NotSet,
    /// The vault has a PIN, and the person entered it: the driver opened the vault with it
    /// (counting a wrong one as unlocking does).
    Entered,
    /// The vault has a PIN, and none was entered.
    Missing,
}

/// One device: see the [module](self).
#[derive(Debug, Default)]
pub struct Device {
    pairing: Pairing,
    /// How far each pairing mailbox has been read.
    pairing_reading: Reading,
    backoff: Backoff,
    sync: Option<PersonaSync>,
}

impl Device {
    /// This device now holds a persona (created, unlocked, or restored): its sync.
    pub fn hold(&mut self, sync: PersonaSync) {
        self.sync = Some(sync);
    }

    /// The persona's sync, while this device holds one.
    pub fn sync(&self) -> Option<&PersonaSync> {
        self.sync.as_ref()
    }

    /// The persona's sync, for its rounds and a person's actions.
    pub fn sync_mut(&mut self) -> Option<&mut PersonaSync> {
        self.sync.as_mut()
    }

    /// Forgets the persona (until it is unlocked again) and any link in progress.
    pub fn lock(&mut self) {
        self.sync = None;
        self.pairing = Pairing::Idle;
    }

    /// The pairing, to read.
    pub fn pairing(&self) -> &Pairing {
        &self.pairing
    }

    /// The pairing, for the steps that need nothing else of the device.
    pub fn pairing_mut(&mut self) -> &mut Pairing {
        &mut self.pairing
    }

    /// Source: a fresh invitation, on the device that adds devices to the roster only.
    pub fn show_invitation(
        &mut self,
        capabilities: Capabilities,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingInvitation, DeviceError> {
        self.authority_roster()?;
        Ok(self.pairing.show_invitation(capabilities, now, rng)?)
    }

    /// Source: answers a new device's code, on the device that adds devices to the roster
    /// only.
    pub fn scan_code(
        &mut self,
        invitation: &PairingInvitation,
        device_name: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), DeviceError> {
        self.authority_roster()?;
        Ok(self.pairing.scan_code(invitation, device_name, now, rng)?)
    }

    /// Source: the person confirmed the new device's words; the persona is sealed for it
    /// only if they are right, and only after the PIN where one is set.
    pub fn approve(
        &mut self,
        approval: Approval<'_>,
        pin: PinCheck,
        persona: &Persona,
        now: u64,
    ) -> Result<(), DeviceError> {
        if pin == PinCheck::Missing {
            return Err(DeviceError::PinRequired);
        }
        let roster = self.authority_roster()?;
        let source = self.pairing.source_mut("approve")?;
        match approval {
            Approval::Candidate(index) => source.approve(index, persona, &roster, now)?,
            Approval::Typed(words) => source.approve_typed(words, persona, &roster, now)?,
        }
        Ok(())
    }

    /// A message from the other device of the link. On the source, a completed link puts
    /// the new device on the roster (the driver then stores it and offers the history).
    pub fn receive_pairing(
        &mut self,
        bytes: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingEvent, DeviceError> {
        let event = self.pairing.receive(bytes, now, rng)?;
        if let PairingEvent::LinkCompleted(entry) = &event {
            let sync = self.sync.as_mut().ok_or(DeviceError::NoPersona)?;
            sync.messenger_mut().add_device(entry.clone(), rng)?;
        }
        Ok(event)
    }

    /// New device: joins the roster the persona came with, under this device's fresh
    /// `keys`, before anything is stored (a roster the persona did not sign is refused
    /// here). Returns this device's roster entry, for [`Device::confirm_join`] once the
    /// driver stored the persona; [`Device::fail_join`] if it could not.
    pub fn join(
        &mut self,
        payload: &PersonaPayload,
        keys: &DeviceKeys,
        now: u64,
    ) -> Result<RosterDevice, DeviceError> {
        let messenger = Messenger::join(&payload.persona, keys, &payload.roster)?;
        let entry = messenger.roster_entry(now);
        self.sync = Some(PersonaSync::new(messenger));
        Ok(entry)
    }

    /// New device: the persona is stored; the source hears it, with this device's entry.
    pub fn confirm_join(&mut self, entry: RosterDevice) -> Result<(), DeviceError> {
        Ok(self.pairing.confirm_import(entry)?)
    }

    /// New device: the persona could not be joined or stored; the link fails, and the
    /// source hears it.
    pub fn fail_join(&mut self) -> Result<(), DeviceError> {
        self.sync = None;
        Ok(self.pairing.fail_import()?)
    }

    /// Whether the pairing's messages are still to be read: while a link is under way
    /// and, on a new device that confirmed, until the roster naming it arrives, since the
    /// source may still refuse its keys.
    pub fn is_pairing_active(&self) -> bool {
        let in_roster = self.sync.as_ref().is_some_and(|sync| {
            let messenger = sync.messenger();
            messenger.roster().device(&messenger.device_id()).is_some()
        });
        self.pairing.is_under_way(in_roster)
    }

    /// The pairing mailboxes to read at `now` (Unix seconds): only the first may wait
    /// `wait` for news; the rest are read as they are. Answer each with
    /// [`Device::handle_pairing_fetched`].
    pub fn pairing_fetches(&self, now: u64, wait: Duration) -> Vec<Fetch> {
        let mut wait = wait;
        let mut fetches = Vec::new();
        for mailbox in self.pairing.listening_mailboxes(now) {
            fetches.push(Fetch {
                cursor: self.pairing_reading.cursor(mailbox.address()),
                mailbox,
                wait: core::mem::replace(&mut wait, Duration::ZERO),
                enough: usize::MAX,
            });
        }
        fetches
    }

    /// A pairing mailbox was read up to `cursor`. Only a read that succeeded is answered:
    /// after a failed one the device keeps its own cursor and reads the same again.
    pub fn handle_pairing_fetched(&mut self, mailbox: MailboxAddress, cursor: MailboxCursor) {
        self.pairing_reading.put_back(mailbox, cursor);
    }

    /// A network step (a pairing read, a sync round) ended at `now_ms`; failures make the
    /// next try wait ([`Backoff`]).
    pub fn handle_step_ended(&mut self, succeeded: bool, now_ms: u64) {
        if succeeded {
            self.backoff.handle_success();
        } else {
            self.backoff.handle_failure(now_ms);
        }
    }

    /// When (milliseconds since the Unix epoch) this device has something to do that no
    /// call brings: a failed network step to try again, or a pairing step's deadline.
    /// Only times still ahead of `now_ms`: a deadline already past is the next pairing
    /// read's to act on.
    pub fn poll_timeout(&self, now_ms: u64) -> Option<u64> {
        let deadline = self
            .pairing
            .poll_timeout()
            .map(|secs| secs.saturating_mul(1000))
            .filter(|&at| at > now_ms);
        deadline
            .into_iter()
            .chain(self.backoff.poll_timeout(now_ms))
            .min()
    }

    /// The signed roster, on the device that may add one to it: any other is no source.
    fn authority_roster(&self) -> Result<SignedRoster, DeviceError> {
        let sync = self.sync.as_ref().ok_or(DeviceError::NoPersona)?;
        let messenger = sync.messenger();
        if messenger.holds_authority() {
            Ok(messenger.signed_roster().clone())
        } else {
            Err(MessagingError::NotAuthority.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::Messenger;
    use crate::pairing::invitation::Capabilities;
    use crate::pairing::state::SyncState;
    use crate::persona::DeviceKeys;
    use crate::testing::SeededRng;

    /// The adversary: someone holding the phone, unlocked, who does not know its PIN,
    /// approves a link to a device of their own with the right words. Nothing is sealed
    /// for it; the person who knows the PIN can still approve.
    #[test]
    fn approving_without_the_pin_seals_nothing() {
        let mut rng = SeededRng::new(9);
        let now = 1_700_000_000;
        let persona = Persona::create("Ada", now, &mut rng).expect("a persona");
        let keys = DeviceKeys::generate("Phone", now, &mut rng).expect("keys");
        let mut phone = Device::default();
        phone.hold(PersonaSync::new(
            Messenger::create(&persona, &keys, now, &mut rng).expect("a messenger"),
        ));
        let mut intruder = Device::default();
        let invitation = phone
            .show_invitation(Capabilities::default(), now, &mut rng)
            .expect("shown");
        let words = intruder
            .pairing_mut()
            .accept_invitation(&invitation, "Laptop", now, &mut rng)
            .expect("accepted");
        let request = intruder.pairing_mut().poll_transmit().expect("the request");
        phone
            .receive_pairing(&request.bytes, now, &mut rng)
            .expect("received");
        let typed = words.words().join(" ");

        let refused = phone.approve(Approval::Typed(&typed), PinCheck::Missing, &persona, now);
        assert!(
            matches!(refused, Err(DeviceError::PinRequired)),
            "{refused:?}"
        );
        assert_eq!(phone.pairing().state(), SyncState::AwaitingApproval);
        assert!(
            phone.pairing_mut().poll_transmit().is_none(),
            "nothing sealed"
        );

        phone
            .approve(Approval::Typed(&typed), PinCheck::Entered, &persona, now)
            .expect("approved with the PIN");
        assert!(
            phone.pairing_mut().poll_transmit().is_some(),
            "the sealed persona"
        );
    }
}
