//! The target device ("Phone B"): scans the source's code and asks — or shows a code of its
//! own, which the source scans, and asks once it has — shows the words, imports the
//! persona.
//!
//! ```
//! use phantom_core::pairing::state::{FailureReason, SyncState};
//! use phantom_core::pairing::{SourcePairing, TargetPairing, STEP_TIMEOUT_SECS};
//! # let mut rng = phantom_core::testing::SeededRng::new(12);
//! let now = 1_700_000_000;
//! let invitation = SourcePairing::new().generate_invitation(now, &mut rng)?;
//! let mut target = TargetPairing::new();
//! let words = target.accept_invitation(&invitation, "Laptop", now, &mut rng)?;
//!
//! // A page reload: the snapshot brings back the channel and the request not yet sent.
//! let snapshot = target.snapshot()?.expect("a pairing under way");
//! let mut resumed = TargetPairing::resume(&snapshot)?;
//! assert_eq!(resumed.words(), Some(words));
//! assert_eq!(resumed.state(), SyncState::AwaitingApproval);
//! assert!(resumed.poll_transmit().is_some());
//!
//! // The source never answers.
//! let deadline = invitation.expires_at + STEP_TIMEOUT_SECS;
//! assert_eq!(resumed.deadline(), Some(deadline));
//! assert!(!resumed.handle_timeout(deadline - 1)?);
//! assert!(resumed.handle_timeout(deadline)?);
//! assert_eq!(resumed.state(), SyncState::Failed(FailureReason::NetworkLost));
//! # Ok::<(), phantom_core::pairing::PairingError>(())
//! ```

use std::collections::VecDeque;

use rand_core::CryptoRng;

use zeroize::Zeroizing;

use crate::mailbox::envelope::MAX_ENVELOPE_LEN;
use crate::mailbox::keys::MailboxKeys;
use crate::mailbox::keys::MailboxSeed;
use crate::pairing::channel::{ChannelMessage, InvitationKeyPair, MessageKind, PairingChannel};
use crate::pairing::invitation::{Capabilities, Intent, PairingInvitation, INVITATION_LEN};
use crate::pairing::messages::{Abort, AbortReason, ImportAck, PersonaPayload, SyncRequest};
use crate::pairing::shown::{self, ShownCodes};
use crate::pairing::source::STEP_TIMEOUT_SECS;
use crate::pairing::state::{FailureReason, IllegalTransition, Role, SyncState, SyncViewModel};
use crate::pairing::words::AuthWords;
use crate::pairing::{PairingError, PairingEvent, Transmit};
use crate::persona::Fingerprint;
use crate::roster::RosterDevice;
use crate::wire::{Reader, WireError, Writer};

const RESUME_MAGIC: &[u8; 2] = b"PT";
const RESUME_AWAITING: u8 = 1;
const RESUME_DELIVERING: u8 = 2;
const MAX_CHANNEL_STATE: usize = 512;
const MAX_RESUMED_TRANSMITS: usize = 8;

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
    /// The codes shown and not yet answered, oldest first, while no source has scanned.
    shown: ShownCodes,
    /// This device's name, for the `LinkRequest` that answers a source's `Hello`.
    name: String,
    /// The key of the code a source answered, kept to turn a second source away.
    answered: Option<InvitationKeyPair>,
    /// The name of the source that scanned this device's code, as its `Hello` gave it.
    scanned_by: Option<String>,
    /// The sources that answered after the first one.
    turned_away: Vec<String>,
}

impl Default for TargetPairing {
    fn default() -> Self {
        Self::new()
    }
}

impl TargetPairing {
    /// An idle target, ready to answer a scanned invitation.
    pub fn new() -> Self {
        Self {
            view: SyncViewModel::new(Role::Target),
            open: None,
            outbox: VecDeque::new(),
            shown: ShownCodes::default(),
            name: String::new(),
            answered: None,
            scanned_by: None,
            turned_away: Vec::new(),
        }
    }

    /// Step 1, the other way round: a fresh code asking a source to link this device,
    /// named `device_name`, with a new key and mailbox. Call again to rotate the QR code;
    /// the earlier codes keep listening until they expire.
    pub fn show_code(
        &mut self,
        device_name: &str,
        capabilities: Capabilities,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<PairingInvitation, PairingError> {
        self.view.transition(SyncState::Inviting, "show a code")?;
        // Checked now, so that a name the request could not carry fails here, not later.
        let name = device_name.trim().to_owned();
        SyncRequest {
            device_name: name.clone(),
            requested_at: now,
        }
        .encode()?;
        self.name = name;
        Ok(self.shown.show(Intent::AskToLink, capabilities, now, rng))
    }

    /// Where the pairing stands.
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
        if !invitation.intent.is_shown_by_source() {
            return Err(PairingError::CodeForOtherDevice);
        }
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
            mailbox: invitation.mailbox.keys(),
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

    /// Where the driver listens: the mailbox the source answers to once a channel is open
    /// (the reply mailbox of a scanned code, the answered code's own mailbox), or those
    /// of the codes shown and still valid.
    pub fn listening_mailboxes(&self, now: u64) -> Vec<MailboxKeys> {
        match &self.open {
            Some(open) => vec![open.channel.own_mailbox(&open.invitation).keys()],
            None => self.shown.listening_mailboxes(now),
        }
    }

    /// A message from the source at `now`: a `Hello` answering a code this device shows,
    /// the persona payload, or an abort.
    pub fn receive(&mut self, bytes: &[u8], now: u64) -> Result<PairingEvent, PairingError> {
        let message = ChannelMessage::decode(bytes)?;
        match message.kind {
            MessageKind::Hello => self.handle_hello(&message, now),
            MessageKind::PersonaPayload => self.handle_persona_payload(&message),
            MessageKind::Abort => self.handle_abort(&message),
            kind => Err(PairingError::UnexpectedMessage { kind }),
        }
    }

    /// A source scanned a code this device shows: open the channel, ask to be linked, and
    /// show the words. Only the first source is answered.
    fn handle_hello(
        &mut self,
        message: &ChannelMessage,
        now: u64,
    ) -> Result<PairingEvent, PairingError> {
        if let Some(open) = &self.open {
            let (event, abort) = shown::answer_again(
                &open.channel,
                self.answered.as_ref(),
                &open.invitation,
                message,
                &mut self.turned_away,
            )?;
            self.outbox.push_back(abort);
            return Ok(event);
        }
        let code = self.shown.answered(message, now)?;
        self.view
            .require(&[SyncState::Inviting], "accept a hello")?;
        let (mut channel, hello) = shown::open_first(&code.keys, &code.invitation, message)?;
        let request = SyncRequest {
            device_name: self.name.clone(),
            requested_at: now,
        }
        .encode()?;
        let sealed = channel.seal(MessageKind::LinkRequest, &request)?.encode()?;
        self.view
            .transition(SyncState::Negotiating, "accept a hello")?;
        let code = self.shown.take(message.invitation_id)?;
        self.outbox.push_back(Transmit {
            mailbox: channel.peer_mailbox(&code.invitation).keys(),
            bytes: sealed,
        });
        // The source's person has as long to pick the words as after a request, and the
        // persona then as long to arrive.
        self.open = Some(OpenChannel {
            invitation: code.invitation,
            channel,
            received: None,
            deadline: now.saturating_add(2 * STEP_TIMEOUT_SECS),
        });
        self.answered = Some(code.keys);
        self.scanned_by = Some(hello.device_name.clone());
        self.view
            .transition(SyncState::AwaitingApproval, "send the request")?;
        Ok(PairingEvent::CodeScanned {
            device_name: hello.device_name,
        })
    }

    /// The source that scanned this device's code, by the name it gave: the person checks
    /// that it is their own phone before anything arrives.
    pub fn scanned_by(&self) -> Option<&str> {
        self.scanned_by.as_deref()
    }

    /// The names of sources that answered this device's code after the first one.
    pub fn turned_away(&self) -> &[String] {
        &self.turned_away
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
            SyncState::Inviting => self.shown.last_expiry(),
            SyncState::AwaitingApproval => self.open.as_ref().map(|open| open.deadline),
            _ => None,
        }
    }

    /// Every code shown expired unscanned (`invitation_expired`), or the source never
    /// answered: it, or the network between, is gone (`network_lost`). Returns whether
    /// the pairing ended.
    pub fn handle_timeout(&mut self, now: u64) -> Result<bool, PairingError> {
        match self.deadline() {
            Some(deadline) if now >= deadline => {
                let reason = match self.view.state() {
                    SyncState::Inviting => FailureReason::InvitationExpired,
                    _ => FailureReason::NetworkLost,
                };
                self.shown.clear();
                self.view
                    .transition(SyncState::Failed(reason), "wait for the source")?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// What a page reload must not lose, or `None` when nothing is left to resume: the
    /// channel while waiting for the persona, and any message not yet delivered (such as
    /// the import confirmation). Secret: the driver stores it wrapped by the device key.
    pub fn snapshot(&self) -> Result<Option<Zeroizing<Vec<u8>>>, PairingError> {
        let (state, open) = match (self.view.state(), &self.open) {
            (SyncState::AwaitingApproval, Some(open)) => (RESUME_AWAITING, open),
            (SyncState::Completed, Some(open)) if !self.outbox.is_empty() => {
                (RESUME_DELIVERING, open)
            }
            _ => return Ok(None),
        };
        let mut w = Writer::new();
        w.put_bytes(RESUME_MAGIC);
        w.put_u8(state);
        w.put_bytes(&open.invitation.encode());
        w.put_var_bytes("channel", &open.channel.export_state(), MAX_CHANNEL_STATE)?;
        w.put_u64(open.deadline);
        w.put_count("outbox", self.outbox.len(), MAX_RESUMED_TRANSMITS)?;
        // Every message of a target goes to where the source listens: its seed names it.
        let peer = open.channel.peer_mailbox(&open.invitation);
        for transmit in &self.outbox {
            w.put_bytes(peer.as_bytes());
            w.put_var_bytes("transmit", &transmit.bytes, MAX_ENVELOPE_LEN)?;
        }
        Ok(Some(Zeroizing::new(w.into_bytes())))
    }

    /// A pairing from a [`TargetPairing::snapshot`], where it stopped.
    pub fn resume(bytes: &[u8]) -> Result<Self, PairingError> {
        let mut r = Reader::new(bytes);
        if r.bytes("resume_magic", RESUME_MAGIC.len())? != RESUME_MAGIC {
            return Err(WireError::BadMagic.into());
        }
        let state = match r.u8("resume_state")? {
            RESUME_AWAITING => SyncState::AwaitingApproval,
            RESUME_DELIVERING => SyncState::Completed,
            other => {
                return Err(WireError::InvalidValue {
                    field: "resume_state",
                    value: other.into(),
                }
                .into())
            }
        };
        let invitation = PairingInvitation::decode(r.bytes("invitation", INVITATION_LEN)?)?;
        let channel = PairingChannel::import_state(r.var_bytes("channel", MAX_CHANNEL_STATE)?)?;
        let deadline = r.u64("deadline")?;
        let count = r.count("outbox", MAX_RESUMED_TRANSMITS, 32 + 4)?;
        let mut outbox = VecDeque::with_capacity(count);
        for _ in 0..count {
            outbox.push_back(Transmit {
                mailbox: MailboxSeed::from_bytes(r.array("mailbox")?).keys(),
                bytes: r.var_bytes("transmit", MAX_ENVELOPE_LEN)?.to_vec(),
            });
        }
        r.finish()?;
        Ok(Self {
            view: SyncViewModel::resumed(Role::Target, state),
            open: Some(OpenChannel {
                invitation,
                channel,
                received: None,
                deadline,
            }),
            outbox,
            ..Self::new()
        })
    }

    /// Whether a message waits to be delivered.
    pub fn has_transmits(&self) -> bool {
        !self.outbox.is_empty()
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

    fn send(&mut self, kind: MessageKind, plaintext: &[u8]) -> Result<(), PairingError> {
        let open = self
            .open
            .as_mut()
            .ok_or(PairingError::UnexpectedMessage { kind })?;
        let message = open.channel.seal(kind, plaintext)?;
        self.outbox.push_back(Transmit {
            mailbox: open.channel.peer_mailbox(&open.invitation).keys(),
            bytes: message.encode()?,
        });
        Ok(())
    }
}
