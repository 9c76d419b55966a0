//! Pairing: the seed's four steps that make a new device a mirror of a persona.
//!
//! 1. The source shows a [`PairingInvitation`](invitation::PairingInvitation) (QR or link code).
//! 2. The target scans it, opens a [`PairingChannel`](channel::PairingChannel) (HPKE) and sends a
//!    sealed [`SyncRequest`](messages::SyncRequest) to the invitation's mailbox.
//! 3. Both show three [words]; the source user *picks* the target's words.
//! 4. Only then the source seals the [`PersonaPayload`](messages::PersonaPayload); the target
//!    imports it and acknowledges.
//!
//! [`SourcePairing`] and [`TargetPairing`] are sans-IO: bytes and the current time go in,
//! [`Transmit`]s (bytes for a mailbox) and [`PairingEvent`]s come out. A driver moves the
//! bytes over the network and the persona into storage.
//!
//! ```
//! use phantom_core::mailbox::keys::MailboxSeed;
//! use phantom_core::pairing::{PairingEvent, SourcePairing, TargetPairing};
//! use phantom_core::persona::Persona;
//! use phantom_core::roster::Roster;
//! # let mut rng = phantom_core::testing::SeededRng::new(5);
//! let now = 1_700_000_000;
//! let persona = Persona::create("Ada", now, &mut rng)?;
//! let identity = persona.authority_key().expect("the device that created it");
//! let inbox = MailboxSeed::random(&mut rng);
//! let roster = Roster::first(identity.verifying_key().to_bytes(), inbox, [2; 32]).sign(&identity)?;
//!
//! let mut source = SourcePairing::new();
//! let invitation = source.generate_invitation(now, &mut rng)?;
//!
//! let mut target = TargetPairing::new();
//! let words = target.accept_invitation(&invitation, "Laptop", now, &mut rng)?;
//! let request = target.poll_transmit().expect("the request");
//!
//! source.receive(&request.bytes, now, &mut rng)?;
//! let choice = source.word_choice().expect("words to pick from");
//! let picked = choice.candidates().iter().position(|c| *c == words).expect("shown");
//! source.approve(picked, &persona, &roster, now)?;
//!
//! let payload = source.poll_transmit().expect("the persona payload");
//! let PairingEvent::PersonaReceived(mirror) = target.receive(&payload.bytes, now)? else {
//!     panic!("expected the persona");
//! };
//! assert_eq!(mirror.persona.fingerprint(), persona.fingerprint());
//! assert!(mirror.persona.authority.is_none(), "only the source signs rosters");
//! assert_eq!(mirror.roster, roster);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod channel;
pub mod invitation;
mod machine;
pub mod messages;
mod shown;
mod source;
pub mod state;
mod target;
pub mod words;

use thiserror::Error;

pub use machine::{Pairing, Resumable};
pub use source::{SourcePairing, INVITATION_LIFETIME_SECS, STEP_TIMEOUT_SECS};
pub use target::TargetPairing;

use crate::pairing::channel::{ChannelError, MessageKind};
use crate::pairing::invitation::InvitationError;
use crate::pairing::messages::{AbortReason, PersonaPayload};
use crate::pairing::state::IllegalTransition;
use crate::pairing::words::WordsError;
use crate::persona::PersonaError;
use crate::roster::RosterDevice;
use crate::wire::WireError;

pub use crate::mailbox::Transmit;

/// What an incoming message meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingEvent {
    /// Source: a device asks to link; its words are ready to pick.
    RequestReceived {
        /// The name the new device gave in its `SyncRequest`, to show with the words.
        device_name: String,
    },
    /// Target: the approved persona arrived; import it, then call `confirm_import`.
    PersonaReceived(Box<PersonaPayload>),
    /// Source: the target imported the persona and asks to join the roster as this device.
    LinkCompleted(RosterDevice),
    /// Source: after one device's request was accepted, another one, named so, answered
    /// the same invitation and was told it was used. Someone else saw the code: the person
    /// must be told, and read the words with care.
    TurnedAway {
        /// The name the late device gave in its own `SyncRequest`.
        device_name: String,
    },
    /// Target: a source scanned the code this device shows and is named so; the words
    /// are ready to show, and this device's request is on its way.
    CodeScanned {
        /// The name the source gave in its `Hello`.
        device_name: String,
    },
    /// The other device stopped the pairing.
    Aborted(AbortReason),
}

/// Why a pairing step was refused. Stored state is unchanged unless the error says so.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PairingError {
    /// A message, plaintext or stored snapshot is malformed, or a field is too long to
    /// encode (a device name over 64 bytes, for one).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// An invitation could not be read, such as the one a stored snapshot holds.
    #[error(transparent)]
    Invitation(#[from] InvitationError),
    /// The channel could not be set up or refused a message: an unusable key, a tampered
    /// or replayed message, or one for another invitation.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The persona payload could not be encoded, or an authentic one did not decode (the
    /// target then ends the pairing and tells the source).
    #[error(transparent)]
    Persona(#[from] PersonaError),
    /// Typed words could not be read; nothing changes and the user may type again.
    #[error(transparent)]
    Words(#[from] WordsError),
    /// The step is not allowed in the pairing's current state.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// Source: the request answers an invitation at or past its `expires_at`. Target: the
    /// scanned invitation has already expired, so nothing was sent.
    #[error("the invitation has expired; show a new QR code")]
    InvitationExpired,
    /// Source: a request arrived after another device's was accepted, for another
    /// invitation or not opening, so it gets no answer. A late request to the accepted
    /// invitation that opens is reported as [`PairingEvent::TurnedAway`] instead.
    #[error("the invitation was already used by another device")]
    InvitationUsed,
    /// Source: the request already accepted arrived again (the same HPKE `enc`).
    #[error("this request was already received")]
    ReplayedRequest,
    /// Source: the request names an invitation id this device never issued, or issued so
    /// long ago that it no longer remembers it (it keeps the 16 most recent).
    #[error("the request is for an invitation this device did not issue")]
    UnknownInvitation,
    /// Source: the picked or typed words are not the channel's. The target was sent
    /// `Abort(WordsRejected)` and the pairing ended `failed(words_rejected)`.
    #[error("the words picked are not the ones this device derived: the link is refused")]
    WordsMismatch,
    /// Source: the picked candidate does not exist; nothing changes.
    #[error("there is no candidate number {index}")]
    InvalidChoice {
        /// The index given; candidates are numbered from 0 to
        /// [`CANDIDATE_COUNT`](words::CANDIDATE_COUNT) − 1.
        index: usize,
    },
    /// A message of a kind this role never receives, or one that arrived before any
    /// channel was open to read it.
    #[error("a {kind:?} message is not expected by this device")]
    UnexpectedMessage {
        /// The kind the message's frame names.
        kind: MessageKind,
    },
    /// Source: the `ImportAck` names a persona fingerprint other than the one it sent.
    #[error("the other device imported a different persona")]
    FingerprintMismatch,
    /// Source: the keys the `ImportAck` asks to join the roster with are unusable (see
    /// `docs/PROTOCOL.md` §5). The target was sent `Abort(DeviceRejected)`, the pairing
    /// ended `failed(device_rejected)` and the device was not added.
    #[error("the new device's keys cannot be used, so it was not added; it was told")]
    UnusableDeviceKeys,
    /// Source: the persona to hand over has no authority on this device, so this device
    /// could not sign the roster that adds the new one; nothing was sent.
    #[error("only the device holding the persona's authority links devices")]
    NotAuthority,
    /// The scanned code is meant for the other device: a new device scanned a code another
    /// new device shows, or a source scanned another source's invitation. Nothing was sent.
    #[error("this code is for the other device to scan")]
    CodeForOtherDevice,
}

impl PairingError {
    /// A stable, machine-readable code, the same in Rust and JS.
    pub fn code(&self) -> &'static str {
        match self {
            PairingError::Wire(inner) => inner.code(),
            PairingError::Invitation(inner) => inner.code(),
            PairingError::Channel(inner) => inner.code(),
            PairingError::Persona(inner) => inner.code(),
            PairingError::Words(inner) => inner.code(),
            PairingError::IllegalTransition(_) => "illegal_transition",
            PairingError::InvitationExpired => "invitation_expired",
            PairingError::InvitationUsed => "invitation_used",
            PairingError::ReplayedRequest => "replayed_request",
            PairingError::UnknownInvitation => "unknown_invitation",
            PairingError::WordsMismatch => "words_mismatch",
            PairingError::InvalidChoice { .. } => "invalid_choice",
            PairingError::UnexpectedMessage { .. } => "unexpected_message",
            PairingError::FingerprintMismatch => "fingerprint_mismatch",
            PairingError::UnusableDeviceKeys => "unusable_device_keys",
            PairingError::NotAuthority => "not_authority",
            PairingError::CodeForOtherDevice => "code_for_other_device",
        }
    }
}
