//! The source device ("Phone A"): invites — or scans the new device's code — checks the
//! words, hands over the persona.
//!
//! ```
//! use phantom_core::pairing::messages::AbortReason;
//! use phantom_core::pairing::state::{FailureReason, SyncState};
//! use phantom_core::pairing::{PairingEvent, SourcePairing, TargetPairing};
//! # let mut rng = phantom_core::testing::SeededRng::new(11);
//! let now = 1_700_000_000;
//! let mut source = SourcePairing::new();
//! let invitation = source.generate_invitation(now, &mut rng)?;
//!
//! let mut target = TargetPairing::new();
//! target.accept_invitation(&invitation, "Laptop", now, &mut rng)?;
//! let request = target.poll_transmit().expect("the request");
//! let event = source.receive(&request.bytes, now, &mut rng)?;
//! assert_eq!(event, PairingEvent::RequestReceived { device_name: "Laptop".into() });
//!
//! // The person finds none of the candidates on the laptop: nothing but an abort leaves.
//! source.reject()?;
//! assert_eq!(source.state(), SyncState::Failed(FailureReason::WordsRejected));
//! let abort = source.poll_transmit().expect("the target is told");
//! assert!(source.poll_transmit().is_none());
//! assert_eq!(target.receive(&abort.bytes, now)?, PairingEvent::Aborted(AbortReason::WordsRejected));
//! # Ok::<(), phantom_core::pairing::PairingError>(())
//! ```

use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::mailbox::keys::MailboxKeys;
use crate::pairing::channel::{ChannelMessage, InvitationKeyPair, MessageKind, PairingChannel};
use crate::pairing::invitation::{Capabilities, Intent, PairingInvitation};
use crate::pairing::messages::{Abort, AbortReason, ImportAck, PersonaPayload, SyncRequest};
use crate::pairing::shown::{self, ShownCodes};
use crate::pairing::state::{FailureReason, IllegalTransition, Role, SyncState, SyncViewModel};
use crate::pairing::words::{AuthWords, WordChoice};
use crate::pairing::{PairingError, PairingEvent, Transmit};
use crate::persona::{Fingerprint, Persona};
use crate::roster::SignedRoster;

/// How long an invitation accepts a request. The UI shows a new one about every minute;
/// earlier ones stay valid until they expire, so a slow scan still works.
pub const INVITATION_LIFETIME_SECS: u64 = 180;
/// How long the user has to pick the words once a device asked, and how long the target
/// has to confirm the import once the persona left.
pub const STEP_TIMEOUT_SECS: u64 = 120;

/// A new device's code this source scanned, whose request has not come yet.
struct ScannedCode {
    invitation: PairingInvitation,
    channel: PairingChannel,
    /// When waiting for the request stops.
    deadline: u64,
}

struct AcceptedRequest {
    /// The invitation answered (this device's or the one it scanned).
    invitation: PairingInvitation,
    /// The key of this device's invitation, kept to tell a second device it came too late.
    keys: Option<InvitationKeyPair>,
    channel: PairingChannel,
    request: SyncRequest,
    choice: WordChoice,
    sent_fingerprint: Option<Fingerprint>,
    /// When the current step stops waiting (for the user's pick, then for the import).
    deadline: u64,
}

/// The source side of one pairing.
pub struct SourcePairing {
    view: SyncViewModel,
    capabilities: Capabilities,
    issued: ShownCodes,
    /// Boxed: a channel is large, and a source that shows codes never scans one.
    scanned: Option<Box<ScannedCode>>,
    accepted: Option<AcceptedRequest>,
    outbox: VecDeque<Transmit>,
    /// The devices that answered the accepted invitation after the first one.
    turned_away: Vec<String>,
}

impl Default for SourcePairing {
    fn default() -> Self {
        Self::new()
    }
}

impl SourcePairing {
    /// An idle source whose invitations offer no optional features.
    pub fn new() -> Self {
        Self::with_capabilities(Capabilities::default())
    }

    /// An idle source whose invitations offer `capabilities`.
    pub fn with_capabilities(capabilities: Capabilities) -> Self {
        Self {
            view: SyncViewModel::new(Role::Source),
            capabilities,
            issued: ShownCodes::default(),
            scanned: None,
            accepted: None,
            outbox: VecDeque::new(),
            turned_away: Vec::new(),
        }
    }

    /// Where the pairing stands.
    pub fn state(&self) -> SyncState {
        self.view.state()
    }

    /// Step 1: a fresh invitation (new key, new mailbox). Call again to rotate the QR code.
    pub fn generate_invitation(
        &mut self,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingInvitation, PairingError> {
        self.view
            .transition(SyncState::Inviting, "show an invitation")?;
        Ok(self
            .issued
            .show(Intent::LinkDevice, self.capabilities, now, rng))
    }

    /// Where the driver listens: the mailboxes of the invitations still accepting requests
    /// or, once one was accepted, that invitation's mailbox alone, whatever its expiry.
    pub fn listening_mailboxes(&self, now: u64) -> Vec<MailboxKeys> {
        if let Some(accepted) = &self.accepted {
            return vec![accepted.channel.own_mailbox(&accepted.invitation).keys()];
        }
        if let Some(scanned) = &self.scanned {
            return vec![scanned.channel.own_mailbox(&scanned.invitation).keys()];
        }
        self.issued.listening_mailboxes(now)
    }

    /// Any message from a target: a `SyncRequest`, a `LinkRequest` (after this device
    /// scanned the target's code), an `ImportAck` or an `Abort`.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingEvent, PairingError> {
        let message = ChannelMessage::decode(bytes)?;
        match message.kind {
            MessageKind::SyncRequest => self.handle_sync_request(&message, now, rng),
            MessageKind::LinkRequest => self.handle_link_request(&message, now, rng),
            MessageKind::ImportAck => self.handle_import_ack(&message),
            MessageKind::Abort => self.handle_abort(&message),
            kind => Err(PairingError::UnexpectedMessage { kind }),
        }
    }

    /// Step 3 begins: open the request, then offer the words to pick from.
    fn handle_sync_request(
        &mut self,
        message: &ChannelMessage,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingEvent, PairingError> {
        if let Some(accepted) = &self.accepted {
            let (event, abort) = shown::answer_again(
                &accepted.channel,
                accepted.keys.as_ref(),
                &accepted.invitation,
                message,
                &mut self.turned_away,
            )?;
            self.outbox.push_back(abort);
            return Ok(event);
        }
        let issued = self.issued.answered(message, now)?;
        self.view
            .require(&[SyncState::Inviting], "accept a sync request")?;
        let (channel, request) = shown::open_first(&issued.keys, &issued.invitation, message)?;
        self.view
            .transition(SyncState::Negotiating, "accept a sync request")?;
        let choice = WordChoice::new(channel.words(), rng);
        let device_name = request.device_name.clone();
        // Single use: the other invitations and their keys are dropped; the answered one's
        // key stays until the end, only to turn other devices away.
        let answered = self.issued.take(message.invitation_id)?;
        self.accepted = Some(AcceptedRequest {
            invitation: answered.invitation,
            keys: Some(answered.keys),
            channel,
            request,
            choice,
            sent_fingerprint: None,
            deadline: now.saturating_add(STEP_TIMEOUT_SECS),
        });
        self.view
            .transition(SyncState::AwaitingApproval, "show the words")?;
        Ok(PairingEvent::RequestReceived { device_name })
    }

    /// Step 2, the other way round: this device, named `device_name`, scanned a new
    /// device's code; seal a `Hello` to it and wait for its request.
    pub fn scan_code(
        &mut self,
        invitation: &PairingInvitation,
        device_name: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(), PairingError> {
        self.view.require(&[SyncState::Idle], "scan a code")?;
        if invitation.intent.is_shown_by_source() {
            return Err(PairingError::CodeForOtherDevice);
        }
        if invitation.is_expired(now) {
            return Err(PairingError::InvitationExpired);
        }
        let hello = SyncRequest {
            device_name: device_name.trim().to_owned(),
            requested_at: now,
        }
        .encode()?;
        let mut channel = PairingChannel::initiate(invitation, rng)?;
        let message = channel.seal(MessageKind::Hello, &hello)?.encode()?;
        self.view
            .transition(SyncState::Negotiating, "scan a code")?;
        self.outbox.push_back(Transmit {
            mailbox: channel.peer_mailbox(invitation).keys(),
            bytes: message,
        });
        // The new device may see the hello only as its code expires, and then answers at
        // once; a step's time covers the network.
        self.scanned = Some(Box::new(ScannedCode {
            invitation: invitation.clone(),
            channel,
            deadline: invitation
                .expires_at
                .max(now)
                .saturating_add(STEP_TIMEOUT_SECS),
        }));
        Ok(())
    }

    /// The new device whose code this device scanned asks to link: offer the words to
    /// pick from, as after a `SyncRequest`.
    fn handle_link_request(
        &mut self,
        message: &ChannelMessage,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingEvent, PairingError> {
        self.view
            .require(&[SyncState::Negotiating], "accept a link request")?;
        let scanned = self
            .scanned
            .as_mut()
            .ok_or(PairingError::UnexpectedMessage { kind: message.kind })?;
        let request = SyncRequest::decode(&scanned.channel.open(message)?)?;
        let scanned = self
            .scanned
            .take()
            .ok_or(PairingError::UnexpectedMessage { kind: message.kind })?;
        let device_name = request.device_name.clone();
        self.accepted = Some(AcceptedRequest {
            choice: WordChoice::new(scanned.channel.words(), rng),
            invitation: scanned.invitation,
            keys: None,
            channel: scanned.channel,
            request,
            sent_fingerprint: None,
            deadline: now.saturating_add(STEP_TIMEOUT_SECS),
        });
        self.view
            .transition(SyncState::AwaitingApproval, "show the words")?;
        Ok(PairingEvent::RequestReceived { device_name })
    }

    /// The device asking to link, once a request was accepted.
    pub fn request(&self) -> Option<&SyncRequest> {
        self.accepted.as_ref().map(|accepted| &accepted.request)
    }

    /// The word triples to show, one of which the user must pick.
    pub fn word_choice(&self) -> Option<&WordChoice> {
        self.accepted.as_ref().map(|accepted| &accepted.choice)
    }

    /// Step 4: the user picked candidate `index`. The persona leaves only if it is right;
    /// a wrong pick ends the pairing and tells the target.
    pub fn approve(
        &mut self,
        index: usize,
        persona: &Persona,
        roster: &SignedRoster,
        now: u64,
    ) -> Result<(), PairingError> {
        self.view
            .require(&[SyncState::AwaitingApproval], "approve")?;
        let accepted = self.accepted("approve")?;
        if index >= accepted.choice.candidates().len() {
            return Err(PairingError::InvalidChoice { index });
        }
        if !accepted.choice.is_correct(index) {
            return self.refuse_words();
        }
        self.send_persona(persona, roster, now)
    }

    /// Step 4 with typed words instead of a pick.
    pub fn approve_typed(
        &mut self,
        typed: &str,
        persona: &Persona,
        roster: &SignedRoster,
        now: u64,
    ) -> Result<(), PairingError> {
        self.view
            .require(&[SyncState::AwaitingApproval], "approve")?;
        let typed = AuthWords::parse(typed)?;
        let accepted = self.accepted("approve")?;
        if !accepted.choice.matches_typed(&typed) {
            return self.refuse_words();
        }
        self.send_persona(persona, roster, now)
    }

    /// The user said none of the candidates is shown on the other device.
    pub fn reject(&mut self) -> Result<(), PairingError> {
        self.view
            .require(&[SyncState::AwaitingApproval], "reject")?;
        self.abort(AbortReason::WordsRejected)?;
        self.view
            .transition(SyncState::Failed(FailureReason::WordsRejected), "reject")?;
        Ok(())
    }

    /// Stops the pairing and tells the target, if one is connected.
    pub fn cancel(&mut self) -> Result<(), PairingError> {
        self.view.transition(SyncState::Cancelled, "cancel")?;
        self.abort(AbortReason::Cancelled)
    }

    /// The next message to deliver.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// A message from [`Self::poll_transmit`] that could not be delivered: first in line
    /// again, so that messages still reach the other device in order.
    pub fn transmit_failed(&mut self, transmit: Transmit) {
        self.outbox.push_front(transmit);
    }

    fn accepted(&self, action: &'static str) -> Result<&AcceptedRequest, PairingError> {
        self.accepted.as_ref().ok_or(
            IllegalTransition {
                from: self.view.state(),
                action,
            }
            .into(),
        )
    }

    fn refuse_words(&mut self) -> Result<(), PairingError> {
        self.abort(AbortReason::WordsRejected)?;
        self.view
            .transition(SyncState::Failed(FailureReason::WordsRejected), "approve")?;
        Err(PairingError::WordsMismatch)
    }

    fn send_persona(
        &mut self,
        persona: &Persona,
        roster: &SignedRoster,
        now: u64,
    ) -> Result<(), PairingError> {
        // Only the device that can sign the roster with the new device on it may hand the
        // persona over; the authority itself stays here, so the new one can never sign.
        if persona.authority.is_none() {
            return Err(PairingError::NotAuthority);
        }
        let payload = PersonaPayload {
            persona: persona.for_linked_device(),
            approved_at: now,
            roster: roster.clone(),
        }
        .encode()?;
        let state = self.view.state();
        let accepted = self.accepted.as_mut().ok_or(IllegalTransition {
            from: state,
            action: "approve",
        })?;
        let message = accepted
            .channel
            .seal(MessageKind::PersonaPayload, &payload)?;
        accepted.sent_fingerprint = Some(persona.fingerprint());
        accepted.deadline = now.saturating_add(STEP_TIMEOUT_SECS);
        self.outbox.push_back(Transmit {
            mailbox: accepted.channel.peer_mailbox(&accepted.invitation).keys(),
            bytes: message.encode()?,
        });
        self.view.transition(SyncState::Transferring, "approve")?;
        Ok(())
    }

    /// The names of devices that answered the accepted invitation after the first one.
    pub fn turned_away(&self) -> &[String] {
        &self.turned_away
    }

    /// The time the driver should call [`SourcePairing::handle_timeout`] at, if any.
    pub fn deadline(&self) -> Option<u64> {
        match self.view.state() {
            SyncState::Inviting => self.issued.last_expiry(),
            SyncState::Negotiating => self.scanned.as_ref().map(|scanned| scanned.deadline),
            SyncState::AwaitingApproval | SyncState::Transferring => {
                self.accepted.as_ref().map(|accepted| accepted.deadline)
            }
            _ => None,
        }
    }

    /// Ends a step that waited too long: every invitation expired unanswered, the user did
    /// not pick the words in time (the target is told), or the target never confirmed the
    /// import. Returns whether the pairing ended.
    pub fn handle_timeout(&mut self, now: u64) -> Result<bool, PairingError> {
        let Some(deadline) = self.deadline() else {
            return Ok(false);
        };
        if now < deadline {
            return Ok(false);
        }
        let (reason, action) = match self.view.state() {
            SyncState::Inviting => (
                FailureReason::InvitationExpired,
                "let the invitation expire",
            ),
            SyncState::AwaitingApproval => {
                self.abort(AbortReason::Expired)?;
                (FailureReason::InvitationExpired, "wait for approval")
            }
            SyncState::Negotiating => (FailureReason::NetworkLost, "wait for the request"),
            _ => (FailureReason::NetworkLost, "wait for the import"),
        };
        self.issued.clear();
        self.view.transition(SyncState::Failed(reason), action)?;
        Ok(true)
    }

    /// The open channel and the invitation it answers: the accepted request's, or the
    /// scanned code's while its request is awaited.
    fn open_channel(&mut self) -> Option<(&mut PairingChannel, &PairingInvitation)> {
        match (&mut self.accepted, &mut self.scanned) {
            (Some(accepted), _) => Some((&mut accepted.channel, &accepted.invitation)),
            (None, Some(scanned)) => Some((&mut scanned.channel, &scanned.invitation)),
            (None, None) => None,
        }
    }

    fn abort(&mut self, reason: AbortReason) -> Result<(), PairingError> {
        if let Some((channel, invitation)) = self.open_channel() {
            let message = channel.seal(MessageKind::Abort, &Abort { reason }.encode())?;
            let mailbox = channel.peer_mailbox(invitation).keys();
            self.outbox.push_back(Transmit {
                mailbox,
                bytes: message.encode()?,
            });
        }
        Ok(())
    }

    fn accepted_channel_open(
        &mut self,
        message: &ChannelMessage,
    ) -> Result<(&mut AcceptedRequest, zeroize::Zeroizing<Vec<u8>>), PairingError> {
        let accepted = self
            .accepted
            .as_mut()
            .ok_or(PairingError::UnexpectedMessage { kind: message.kind })?;
        let plaintext = accepted.channel.open(message)?;
        Ok((accepted, plaintext))
    }

    fn handle_import_ack(
        &mut self,
        message: &ChannelMessage,
    ) -> Result<PairingEvent, PairingError> {
        self.view
            .require(&[SyncState::Transferring], "finish the link")?;
        let (accepted, plaintext) = self.accepted_channel_open(message)?;
        let ack = ImportAck::decode(&plaintext)?;
        if accepted.sent_fingerprint != Some(ack.fingerprint) {
            return Err(PairingError::FingerprintMismatch);
        }
        if ack.device.check_keys().is_err() {
            self.abort(AbortReason::DeviceRejected)?;
            self.view.transition(
                SyncState::Failed(FailureReason::DeviceRejected),
                "finish the link",
            )?;
            return Err(PairingError::UnusableDeviceKeys);
        }
        self.view
            .transition(SyncState::Completed, "finish the link")?;
        Ok(PairingEvent::LinkCompleted(ack.device))
    }

    fn handle_abort(&mut self, message: &ChannelMessage) -> Result<PairingEvent, PairingError> {
        let (channel, _) = self
            .open_channel()
            .ok_or(PairingError::UnexpectedMessage { kind: message.kind })?;
        let abort = Abort::decode(&channel.open(message)?)?;
        self.view.transition(
            SyncState::Failed(FailureReason::from_peer(abort.reason)),
            "stop at the peer's request",
        )?;
        Ok(PairingEvent::Aborted(abort.reason))
    }
}
