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
//! let PairingEvent::PersonaReceived(mirror) = target.receive(&payload.bytes)? else {
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
    RequestReceived { device_name: String },
    /// Target: the approved persona arrived; import it, then call `confirm_import`.
    PersonaReceived(Box<PersonaPayload>),
    /// Source: the target imported the persona and asks to join the roster as this device.
    LinkCompleted(RosterDevice),
    /// Source: after one device's request was accepted, another one, named so, answered
    /// the same invitation and was told it was used. Someone else saw the code: the person
    /// must be told, and read the words with care.
    TurnedAway { device_name: String },
    /// The other device stopped the pairing.
    Aborted(AbortReason),
}

/// Why a pairing step was refused. Stored state is unchanged unless the error says so.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PairingError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Invitation(#[from] InvitationError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Persona(#[from] PersonaError),
    #[error(transparent)]
    Words(#[from] WordsError),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("the invitation has expired; show a new QR code")]
    InvitationExpired,
    #[error("the invitation was already used by another device")]
    InvitationUsed,
    #[error("this request was already received")]
    ReplayedRequest,
    #[error("the request is for an invitation this device did not issue")]
    UnknownInvitation,
    #[error("the words picked are not the ones this device derived: the link is refused")]
    WordsMismatch,
    #[error("there is no candidate number {index}")]
    InvalidChoice { index: usize },
    #[error("a {kind:?} message is not expected by this device")]
    UnexpectedMessage { kind: MessageKind },
    #[error("the other device imported a different persona")]
    FingerprintMismatch,
    #[error("the new device's keys cannot be used, so it was not added; it was told")]
    UnusableDeviceKeys,
    #[error("only the device holding the persona's authority links devices")]
    NotAuthority,
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
        }
    }
}
