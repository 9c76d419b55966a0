//! This device's pairing, in whichever role it plays: none yet, the source (showing a code
//! or scanning the new device's), or the new device (scanning the source's code or
//! showing its own). A driver holds one [`Pairing`] and asks it, never
//! the role, what to send, where to listen and when to wake; only the steps a person takes
//! in one role (approving, typing words) reach the role's own machine.
//!
//! ```
//! use phantom_core::mailbox::keys::MailboxSeed;
//! use phantom_core::pairing::invitation::Capabilities;
//! use phantom_core::pairing::state::SyncState;
//! use phantom_core::pairing::Pairing;
//! # let mut rng = phantom_core::testing::SeededRng::new(9);
//! let now = 1_700_000_000;
//! let mut phone = Pairing::default();
//! let invitation = phone.show_invitation(Capabilities::default(), now, &mut rng)?;
//! assert_eq!(phone.state(), SyncState::Inviting);
//! assert_eq!(phone.poll_timeout(), Some(invitation.expires_at));
//!
//! let mut laptop = Pairing::default();
//! let words = laptop.accept_invitation(&invitation, "Laptop", now, &mut rng)?;
//! let request = laptop.poll_transmit().expect("the request");
//! assert_eq!(laptop.words(), Some(words));
//!
//! phone.receive(&request.bytes, now, &mut rng)?;
//! assert_eq!(phone.state(), SyncState::AwaitingApproval);
//! assert!(phone.word_choice().is_some());
//! # Ok::<(), phantom_core::pairing::PairingError>(())
//! ```

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::mailbox::keys::MailboxKeys;
use crate::pairing::invitation::{Capabilities, PairingInvitation};
use crate::pairing::messages::SyncRequest;
use crate::pairing::state::{FailureReason, IllegalTransition, SyncState};
use crate::pairing::words::{AuthWords, WordChoice};
use crate::pairing::{PairingError, PairingEvent, SourcePairing, TargetPairing, Transmit};
use crate::roster::RosterDevice;

/// This device's pairing.
#[derive(Default)]
pub enum Pairing {
    /// No link has been started since this device opened.
    #[default]
    Idle,
    /// This device holds the persona: it shows invitations, or scanned a new device's code.
    Source(SourcePairing),
    /// This device is to become a mirror: it scanned an invitation, or shows codes.
    Target(TargetPairing),
}

impl Pairing {
    /// A new device's pairing picked up where a reload stopped it (see
    /// [`TargetPairing::snapshot`]).
    pub fn resume(snapshot: &[u8]) -> Result<Self, PairingError> {
        TargetPairing::resume(snapshot).map(Pairing::Target)
    }

    /// Where the link stands.
    pub fn state(&self) -> SyncState {
        match self {
            Pairing::Idle => SyncState::Idle,
            Pairing::Source(source) => source.state(),
            Pairing::Target(target) => target.state(),
        }
    }

    /// Why the link failed, once it has.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        match self.state() {
            SyncState::Failed(reason) => Some(reason),
            _ => None,
        }
    }

    /// Whether a link is under way, so that its mailboxes are still to be read. A new
    /// device that confirmed its import keeps listening until `in_roster` (the roster names
    /// it): the source may still refuse its keys.
    pub fn is_under_way(&self, in_roster: bool) -> bool {
        let state = self.state();
        match self {
            Pairing::Target(_) if state == SyncState::Completed => !in_roster,
            _ => self.is_in_progress(),
        }
    }

    /// Whether a link is in progress: neither idle nor over, in either role.
    pub fn is_in_progress(&self) -> bool {
        let state = self.state();
        state != SyncState::Idle && !state.is_terminal()
    }

    /// Whether this device is the new one of a link, in progress or ended: the person
    /// follows the link, not the welcome.
    pub fn is_joining(&self) -> bool {
        matches!(self, Pairing::Target(_))
    }

    /// Source, step 1: an invitation to show. A source still inviting keeps its earlier
    /// invitations listening (a code shown a moment ago still works); any other pairing is
    /// replaced by a fresh source offering `capabilities`.
    pub fn show_invitation(
        &mut self,
        capabilities: Capabilities,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingInvitation, PairingError> {
        if !matches!(self, Pairing::Source(source) if !source.state().is_terminal()) {
            *self = Pairing::Source(SourcePairing::with_capabilities(capabilities));
        }
        self.source_mut("show an invitation")?
            .generate_invitation(now, rng)
    }

    /// Source, step 2 the other way round: answers the new device's code `invitation` as
    /// a device named `device_name`. A pairing this replaces is dropped only once the
    /// answer is ready.
    pub fn scan_code(
        &mut self,
        invitation: &PairingInvitation,
        device_name: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), PairingError> {
        let mut source = SourcePairing::new();
        source.scan_code(invitation, device_name, now, rng)?;
        *self = Pairing::Source(source);
        Ok(())
    }

    /// Target, step 1 the other way round: a code asking a source to link this device,
    /// named `device_name`. A target still showing codes keeps its earlier ones
    /// listening; any other pairing is replaced.
    pub fn show_code(
        &mut self,
        device_name: &str,
        capabilities: Capabilities,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingInvitation, PairingError> {
        if !matches!(self, Pairing::Target(target) if target.state() == SyncState::Inviting) {
            *self = Pairing::Target(TargetPairing::new());
        }
        match self {
            Pairing::Target(target) => target.show_code(device_name, capabilities, now, rng),
            _ => Err(IllegalTransition {
                from: self.state(),
                action: "show a code",
            }
            .into()),
        }
    }

    /// Target, step 2: answers `invitation` as a device named `device_name`; returns the
    /// words to show. A pairing this replaces is dropped only once the answer is ready.
    pub fn accept_invitation(
        &mut self,
        invitation: &PairingInvitation,
        device_name: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<AuthWords, PairingError> {
        let mut target = TargetPairing::new();
        let words = target.accept_invitation(invitation, device_name, now, rng)?;
        *self = Pairing::Target(target);
        Ok(words)
    }

    /// A message from the other device, in either role.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingEvent, PairingError> {
        match self {
            Pairing::Source(source) => source.receive(bytes, now, rng),
            Pairing::Target(target) => target.receive(bytes, now),
            Pairing::Idle => Err(IllegalTransition {
                from: SyncState::Idle,
                action: "read a pairing message",
            }
            .into()),
        }
    }

    /// The next message to put in a mailbox.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Pairing::Source(source) => source.poll_transmit(),
            Pairing::Target(target) => target.poll_transmit(),
            Pairing::Idle => None,
        }
    }

    /// A message from [`Pairing::poll_transmit`] whose put failed: sent again first, at
    /// the next flush. A pairing replaced since has no use for it.
    pub fn transmit_failed(&mut self, transmit: Transmit) {
        match self {
            Pairing::Source(source) => source.transmit_failed(transmit),
            Pairing::Target(target) => target.transmit_failed(transmit),
            Pairing::Idle => {}
        }
    }

    /// Whether a new device has messages waiting to be sent: they are stored (see
    /// [`Pairing::snapshot`]) before they leave, so a reload while they travel resumes
    /// with them.
    pub fn has_resumable_transmits(&self) -> bool {
        matches!(self, Pairing::Target(target) if target.has_transmits())
    }

    /// The mailboxes the other device writes to, to read now.
    pub fn listening_mailboxes(&self, now: u64) -> Vec<MailboxKeys> {
        match self {
            Pairing::Source(source) => source.listening_mailboxes(now),
            Pairing::Target(target) => target.listening_mailboxes(now),
            Pairing::Idle => Vec::new(),
        }
    }

    /// The time (Unix seconds) at which [`Pairing::handle_timeout`] ends a step that
    /// waited too long, if one is waiting.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self {
            Pairing::Source(source) => source.deadline(),
            Pairing::Target(target) => target.deadline(),
            Pairing::Idle => None,
        }
    }

    /// Ends a step past its deadline in its typed state; returns whether it ended one.
    pub fn handle_timeout(&mut self, now: u64) -> Result<bool, PairingError> {
        match self {
            Pairing::Source(source) => source.handle_timeout(now),
            Pairing::Target(target) => target.handle_timeout(now),
            Pairing::Idle => Ok(false),
        }
    }

    /// Either side stops the link (the other device is told at the next transmit). A new
    /// device whose codes nobody scanned goes back to idle: nothing was linked, so it is
    /// not a joining device any more.
    pub fn cancel(&mut self) -> Result<(), PairingError> {
        match self {
            Pairing::Target(target) if target.state() == SyncState::Inviting => {
                *self = Pairing::Idle;
                Ok(())
            }
            Pairing::Source(source) => source.cancel(),
            Pairing::Target(target) => target.cancel(),
            Pairing::Idle => Ok(()),
        }
    }

    /// Target: the words this device shows, once a channel is open.
    pub fn words(&self) -> Option<AuthWords> {
        match self {
            Pairing::Target(target) => target.words(),
            _ => None,
        }
    }

    /// Source: who asks to link and the word triples to pick from, once a request arrived.
    pub fn word_choice(&self) -> Option<(&SyncRequest, &WordChoice)> {
        match self {
            Pairing::Source(source) => source.request().zip(source.word_choice()),
            _ => None,
        }
    }

    /// Target: the source that scanned the code this device shows, by its name.
    pub fn scanned_by(&self) -> Option<&str> {
        match self {
            Pairing::Target(target) => target.scanned_by(),
            _ => None,
        }
    }

    /// The devices that answered this device's code after the first one.
    pub fn turned_away(&self) -> &[String] {
        match self {
            Pairing::Source(source) => source.turned_away(),
            Pairing::Target(target) => target.turned_away(),
            Pairing::Idle => &[],
        }
    }

    /// Source: the machine a person's approval or rejection goes to; `action` names the
    /// step refused on any other device.
    pub fn source_mut(&mut self, action: &'static str) -> Result<&mut SourcePairing, PairingError> {
        let from = self.state();
        match self {
            Pairing::Source(source) => Ok(source),
            _ => Err(IllegalTransition { from, action }.into()),
        }
    }

    /// Target: the received persona is stored and this device is on its way into the
    /// roster as `device`; tells the source. Any other pairing has nothing to confirm.
    pub fn confirm_import(&mut self, device: RosterDevice) -> Result<(), PairingError> {
        match self {
            Pairing::Target(target) => target.confirm_import(device),
            _ => Ok(()),
        }
    }

    /// Target: the received persona could not be stored; tells the source.
    pub fn fail_import(&mut self) -> Result<(), PairingError> {
        match self {
            Pairing::Target(target) => target.fail_import(),
            _ => Ok(()),
        }
    }

    /// What a reload must find to resume this pairing.
    pub fn snapshot(&self) -> Result<Resumable, PairingError> {
        match self {
            Pairing::Target(target) => Ok(match target.snapshot()? {
                Some(bytes) => Resumable::Keep(bytes),
                None => Resumable::Forget,
            }),
            _ => Ok(Resumable::Untouched),
        }
    }
}

impl core::fmt::Debug for Pairing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let role = match self {
            Pairing::Idle => "Idle",
            Pairing::Source(_) => "Source",
            Pairing::Target(_) => "Target",
        };
        write!(f, "Pairing::{role}({})", self.state())
    }
}

/// What a device keeps of its pairing across a reload.
pub enum Resumable {
    /// Nothing to keep or forget: a source's pairing lasts as long as its page.
    Untouched,
    /// A new device's pairing that a reload could interrupt, to store as it is now.
    Keep(Zeroizing<Vec<u8>>),
    /// A new device's pairing that is over: a stored one is to be deleted.
    Forget,
}

impl core::fmt::Debug for Resumable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Resumable::Untouched => "Untouched",
            Resumable::Keep(_) => "Keep(<redacted>)",
            Resumable::Forget => "Forget",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn an_idle_device_refuses_pairing_messages_and_keeps_nothing() {
        let mut pairing = Pairing::default();
        let refused = pairing.receive(b"anything", NOW, &mut SeededRng::new(1));
        assert_eq!(refused.map_err(|e| e.code()), Err("illegal_transition"));
        assert!(matches!(pairing.snapshot(), Ok(Resumable::Untouched)));
        assert!(!pairing.is_under_way(false));
        assert_eq!(pairing.poll_timeout(), None);
    }

    #[test]
    fn a_new_device_that_withdraws_its_unscanned_codes_is_idle_again() {
        let mut rng = SeededRng::new(4);
        let mut laptop = Pairing::default();
        let code = laptop
            .show_code("Laptop", Capabilities::default(), NOW, &mut rng)
            .unwrap();
        assert!(laptop.is_joining());
        assert_eq!(laptop.listening_mailboxes(NOW), vec![code.mailbox.keys()]);
        laptop.cancel().unwrap();
        assert_eq!(laptop.state(), SyncState::Idle);
        assert!(
            !laptop.is_joining(),
            "nothing was linked: the welcome is offered again"
        );
        assert!(laptop.listening_mailboxes(NOW).is_empty());
        assert_eq!(laptop.poll_transmit(), None, "nobody to tell");
    }

    #[test]
    fn an_invitation_left_unanswered_ends_at_the_time_poll_timeout_names() {
        let mut rng = SeededRng::new(2);
        let mut pairing = Pairing::default();
        pairing
            .show_invitation(Capabilities::default(), NOW, &mut rng)
            .unwrap();
        let due = pairing.poll_timeout().unwrap();
        assert!(!pairing.handle_timeout(due - 1).unwrap());
        assert!(pairing.is_in_progress());
        assert!(pairing.handle_timeout(due).unwrap());
        assert_eq!(
            pairing.failure_reason(),
            Some(FailureReason::InvitationExpired)
        );
        assert!(!pairing.is_under_way(false));
    }

    #[test]
    fn a_new_device_is_kept_across_reloads_until_its_link_is_over() {
        let mut rng = SeededRng::new(3);
        let mut source = Pairing::default();
        let invitation = source
            .show_invitation(Capabilities::default(), NOW, &mut rng)
            .unwrap();
        let mut target = Pairing::default();
        target
            .accept_invitation(&invitation, "Laptop", NOW, &mut rng)
            .unwrap();
        assert!(target.is_joining() && target.has_resumable_transmits());
        let Ok(Resumable::Keep(snapshot)) = target.snapshot() else {
            panic!("a pairing in progress is kept");
        };
        // A put that failed: the request is sent again, and kept across a reload meanwhile.
        let request = target.poll_transmit().unwrap();
        assert!(!target.has_resumable_transmits());
        target.transmit_failed(request.clone());
        assert!(target.has_resumable_transmits());
        assert_eq!(target.poll_transmit(), Some(request));
        let mut resumed = Pairing::resume(&snapshot).unwrap();
        assert_eq!(resumed.words(), target.words());
        resumed.cancel().unwrap();
        assert!(matches!(resumed.snapshot(), Ok(Resumable::Forget)));
        assert!(source.source_mut("approve").is_ok());
        assert_eq!(
            resumed
                .source_mut("approve")
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("illegal_transition")
        );
    }
}
