//! The target device ("Phone B"): scans, asks, shows the words, imports the persona.

use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::pairing::channel::{ChannelMessage, MessageKind, PairingChannel};
use crate::pairing::invitation::PairingInvitation;
use crate::pairing::messages::{Abort, AbortReason, ImportAck, PersonaPayload, SyncRequest};
use crate::pairing::source::STEP_TIMEOUT_SECS;
use crate::pairing::state::{FailureReason, IllegalTransition, Role, SyncState, SyncViewModel};
use crate::pairing::words::AuthWords;
use crate::pairing::{PairingError, PairingEvent, Transmit};
use crate::persona::Fingerprint;
use crate::roster::RosterDevice;

struct OpenChannel {
    invitation: PairingInvitation,
    channel: PairingChannel,
    /// The persona received and not yet confirmed as stored.
    received: Option<Fingerprint>,
    /// When waiting for the source's answer stops.
    deadline: u64,
}

/// The target side of one pairing.
pub struct TargetPairing {
    view: SyncViewModel,
    open: Option<OpenChannel>,
    outbox: VecDeque<Transmit>,
}

impl Default for TargetPairing {
    fn default() -> Self {
        Self::new()
    }
}

impl TargetPairing {
    pub fn new() -> Self {
        Self {
            view: SyncViewModel::new(Role::Target),
            open: None,
            outbox: VecDeque::new(),
        }
    }

    pub fn state(&self) -> SyncState {
        self.view.state()
    }

    /// Step 2: the invitation was scanned; seal a `SyncRequest` to the source and return
    /// the words to show on this device.
    pub fn accept_invitation(
        &mut self,
        invitation: &PairingInvitation,
        device_name: &str,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<AuthWords, PairingError> {
        self.view
            .require(&[SyncState::Idle], "scan an invitation")?;
        if invitation.is_expired(now) {
            return Err(PairingError::InvitationExpired);
        }
        let request = SyncRequest {
            device_name: device_name.trim().to_owned(),
            requested_at: now,
        }
        .encode()?;
        let mut channel = PairingChannel::initiate(invitation, rng)?;
        let message = channel.seal(MessageKind::SyncRequest, &request)?;
        self.view
            .transition(SyncState::Negotiating, "scan an invitation")?;
        self.outbox.push_back(Transmit {
            mailbox: invitation.mailbox,
            bytes: message.encode()?,
        });
        let words = channel.words();
        // The source may take until its invitation expires to see the request, and then
        // as long as a user is given to pick the words.
        let deadline = invitation
            .expires_at
            .max(now)
            .saturating_add(STEP_TIMEOUT_SECS);
        self.open = Some(OpenChannel {
            invitation: invitation.clone(),
            channel,
            received: None,
            deadline,
        });
        self.view
            .transition(SyncState::AwaitingApproval, "send the request")?;
        Ok(words)
    }

    /// The words this device shows, once it has scanned.
    pub fn words(&self) -> Option<AuthWords> {
        self.open.as_ref().map(|open| open.channel.words())
    }

    /// The invitation this device answered.
    pub fn invitation(&self) -> Option<&PairingInvitation> {
        self.open.as_ref().map(|open| &open.invitation)
    }

    /// Where the source's answer arrives: the driver listens here.
    pub fn reply_mailbox(&self) -> Option<crate::mailbox::MailboxAddress> {
        self.open.as_ref().map(|open| open.channel.reply_mailbox())
    }

    /// A message from the source: the persona payload or an abort.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<PairingEvent, PairingError> {
        let message = ChannelMessage::decode(bytes)?;
        match message.kind {
            MessageKind::PersonaPayload => self.handle_persona_payload(&message),
            MessageKind::Abort => self.handle_abort(&message),
            kind => Err(PairingError::UnexpectedMessage { kind }),
        }
    }

    fn handle_persona_payload(
        &mut self,
        message: &ChannelMessage,
    ) -> Result<PairingEvent, PairingError> {
        self.view
            .require(&[SyncState::AwaitingApproval], "receive the persona")?;
        let open = self
            .open
            .as_mut()
            .ok_or(PairingError::UnexpectedMessage { kind: message.kind })?;
        let plaintext = open.channel.open(message)?;
        let payload = match PersonaPayload::decode(&plaintext) {
            Ok(payload) => payload,
            Err(error) => {
                // Authentic but unreadable: waiting for another copy would wait forever.
                self.view
                    .transition(SyncState::Transferring, "receive the persona")?;
                self.fail_import()?;
                return Err(error.into());
            }
        };
        open.received = Some(payload.persona.fingerprint());
        self.view
            .transition(SyncState::Transferring, "receive the persona")?;
        Ok(PairingEvent::PersonaReceived(Box::new(payload)))
    }

    fn handle_abort(&mut self, message: &ChannelMessage) -> Result<PairingEvent, PairingError> {
        let open = self
            .open
            .as_mut()
            .ok_or(PairingError::UnexpectedMessage { kind: message.kind })?;
        let abort = Abort::decode(&open.channel.open(message)?)?;
        self.view.transition(
            SyncState::Failed(FailureReason::from_peer(abort.reason)),
            "stop at the peer's request",
        )?;
        Ok(PairingEvent::Aborted(abort.reason))
    }

    /// The driver stored the received persona: tell the source, asking to join the roster
    /// as `device`, and finish.
    pub fn confirm_import(&mut self, device: RosterDevice) -> Result<(), PairingError> {
        self.view
            .require(&[SyncState::Transferring], "confirm the import")?;
        let fingerprint = self.open.as_ref().and_then(|open| open.received).ok_or(
            PairingError::IllegalTransition(IllegalTransition {
                from: self.view.state(),
                action: "confirm the import",
            }),
        )?;
        let ack = ImportAck {
            fingerprint,
            device,
        };
        self.send(MessageKind::ImportAck, &ack.encode()?)?;
        self.view
            .transition(SyncState::Completed, "confirm the import")?;
        Ok(())
    }

    /// The driver could not store the persona: tell the source and fail.
    pub fn fail_import(&mut self) -> Result<(), PairingError> {
        self.view
            .require(&[SyncState::Transferring], "report a failed import")?;
        self.send(
            MessageKind::Abort,
            &Abort {
                reason: AbortReason::ImportFailed,
            }
            .encode(),
        )?;
        self.view.transition(
            SyncState::Failed(FailureReason::ImportFailed),
            "report a failed import",
        )?;
        Ok(())
    }

    /// Stops the pairing and tells the source, if a request was sent.
    pub fn cancel(&mut self) -> Result<(), PairingError> {
        self.view.transition(SyncState::Cancelled, "cancel")?;
        if self.open.is_some() {
            self.send(
                MessageKind::Abort,
                &Abort {
                    reason: AbortReason::Cancelled,
                }
                .encode(),
            )?;
        }
        Ok(())
    }

    /// The time the driver should call [`TargetPairing::handle_timeout`] at, if any.
    pub fn deadline(&self) -> Option<u64> {
        match self.view.state() {
            SyncState::AwaitingApproval => self.open.as_ref().map(|open| open.deadline),
            _ => None,
        }
    }

    /// The source never answered: it, or the network between, is gone (`network_lost`).
    /// Returns whether the pairing ended.
    pub fn handle_timeout(&mut self, now: u64) -> Result<bool, PairingError> {
        match self.deadline() {
            Some(deadline) if now >= deadline => {
                self.view.transition(
                    SyncState::Failed(FailureReason::NetworkLost),
                    "wait for the source",
                )?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The next message to deliver.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    fn send(&mut self, kind: MessageKind, plaintext: &[u8]) -> Result<(), PairingError> {
        let open = self
            .open
            .as_mut()
            .ok_or(PairingError::UnexpectedMessage { kind })?;
        let message = open.channel.seal(kind, plaintext)?;
        self.outbox.push_back(Transmit {
            mailbox: open.invitation.mailbox,
            bytes: message.encode()?,
        });
        Ok(())
    }
}
