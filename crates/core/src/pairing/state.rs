//! `SyncViewModel`: the pairing state machine the UI follows, for both roles.
//!
//! Idle → Inviting → Negotiating → AwaitingApproval → Transferring → Completed on the
//! device that shows the code; the one that scans it skips Inviting. Any state before the end may go to `Failed(reason)`,
//! and any before Transferring to `Cancelled` (once the persona is on its way, cancelling
//! cannot take it back). A completed target may still learn that the source refused its
//! keys (`Failed(DeviceRejected)`); every other move is refused with [`IllegalTransition`].
//!
//! ```
//! use phantom_core::pairing::state::{Role, SyncState, SyncViewModel};
//!
//! let mut view = SyncViewModel::new(Role::Target);
//! view.transition(SyncState::Negotiating, "scan")?;
//! assert!(view.transition(SyncState::Completed, "finish").is_err());
//! # Ok::<(), phantom_core::pairing::state::IllegalTransition>(())
//! ```

use core::fmt;

use thiserror::Error;

use crate::pairing::messages::AbortReason;

/// Which side of the pairing a device plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// "Phone A": has the persona, shows the invitation (or scans the new device's code),
    /// approves.
    Source,
    /// "Phone B": scans the invitation (or shows a code of its own), receives the persona.
    Target,
}

/// Why a pairing ended without success; the UI shows each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The invitation ran out before it was used.
    InvitationExpired,
    /// The source user did not confirm the target's words.
    WordsRejected,
    /// The other device cancelled.
    PeerCancelled,
    /// The target could not import the persona.
    ImportFailed,
    /// Another device answered the invitation first.
    InvitationUsed,
    /// The other device did not answer in time: it or the network is gone.
    NetworkLost,
    /// The source could not add the new device: its keys are unusable.
    DeviceRejected,
}

impl FailureReason {
    /// A stable, machine-readable code, the same in Rust and JS (`failureReason`; the
    /// package's TypeScript lists them as `FailureReason`).
    pub fn code(&self) -> &'static str {
        match self {
            FailureReason::InvitationExpired => "invitation_expired",
            FailureReason::WordsRejected => "words_rejected",
            FailureReason::PeerCancelled => "peer_cancelled",
            FailureReason::ImportFailed => "import_failed",
            FailureReason::InvitationUsed => "invitation_used",
            FailureReason::NetworkLost => "network_lost",
            FailureReason::DeviceRejected => "device_rejected",
        }
    }

    /// What the other device's abort means here.
    pub fn from_peer(reason: AbortReason) -> Self {
        match reason {
            AbortReason::Cancelled => FailureReason::PeerCancelled,
            AbortReason::WordsRejected => FailureReason::WordsRejected,
            AbortReason::Expired => FailureReason::InvitationExpired,
            AbortReason::ImportFailed => FailureReason::ImportFailed,
            AbortReason::InvitationUsed => FailureReason::InvitationUsed,
            AbortReason::DeviceRejected => FailureReason::DeviceRejected,
        }
    }
}

/// A state of the pairing, as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Nothing started yet.
    Idle,
    /// Codes are shown and no answer has been accepted yet: the source's invitations, or
    /// the new device's codes asking to be linked.
    Inviting,
    /// The channel is being set up. The device that showed the code passes through it
    /// within one call; a source that scanned a new device's code waits here for the
    /// device's request.
    Negotiating,
    /// The words are shown: the source's user is to pick the target's triple, and the
    /// target waits for the persona.
    AwaitingApproval,
    /// The persona is on its way: the source sent it and waits for the `ImportAck`; the
    /// target received it and is storing it.
    Transferring,
    /// The link is done: the source received the `ImportAck`, the target sent it. A
    /// completed target may still fail with [`FailureReason::DeviceRejected`].
    Completed,
    /// The pairing ended without success, for this reason.
    Failed(FailureReason),
    /// The user of this device stopped the pairing.
    Cancelled,
}

impl SyncState {
    /// A stable name for the UI and for JS (`"awaiting_approval"`, …; the package's
    /// TypeScript lists them as `PairingState`).
    pub fn name(&self) -> &'static str {
        match self {
            SyncState::Idle => "idle",
            SyncState::Inviting => "inviting",
            SyncState::Negotiating => "negotiating",
            SyncState::AwaitingApproval => "awaiting_approval",
            SyncState::Transferring => "transferring",
            SyncState::Completed => "completed",
            SyncState::Failed(_) => "failed",
            SyncState::Cancelled => "cancelled",
        }
    }

    /// Whether the pairing is over: completed, failed or cancelled. No move leaves these
    /// states but a completed target's to `Failed(DeviceRejected)`.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            SyncState::Completed | SyncState::Failed(_) | SyncState::Cancelled
        )
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncState::Failed(reason) => write!(f, "failed ({})", reason.code()),
            other => f.write_str(other.name()),
        }
    }
}

/// An action that the current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cannot {action} while {from}")]
pub struct IllegalTransition {
    /// The state the machine was in, and stays in.
    pub from: SyncState,
    /// The action refused, as a short phrase for the message ("approve", "cancel").
    pub action: &'static str,
}

/// The current state and the rules for leaving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncViewModel {
    role: Role,
    state: SyncState,
}

impl SyncViewModel {
    /// A machine for `role`, starting in [`SyncState::Idle`].
    pub fn new(role: Role) -> Self {
        Self {
            role,
            state: SyncState::Idle,
        }
    }

    /// A machine picked up where a stored pairing stopped.
    pub(crate) fn resumed(role: Role, state: SyncState) -> Self {
        Self { role, state }
    }

    /// Which side of the pairing this machine follows.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The state the pairing is in now.
    pub fn state(&self) -> SyncState {
        self.state
    }

    /// Fails with the action's name unless the machine is in one of `allowed`.
    pub fn require(
        &self,
        allowed: &[SyncState],
        action: &'static str,
    ) -> Result<(), IllegalTransition> {
        if allowed.contains(&self.state) {
            Ok(())
        } else {
            Err(IllegalTransition {
                from: self.state,
                action,
            })
        }
    }

    /// Moves to `to` if the role's machine has that edge.
    pub fn transition(
        &mut self,
        to: SyncState,
        action: &'static str,
    ) -> Result<(), IllegalTransition> {
        use SyncState::*;
        let allowed = match (self.role, self.state, to) {
            // The target confirms and is done, but the source may still refuse its keys.
            (Role::Target, Completed, Failed(FailureReason::DeviceRejected)) => true,
            // Once the persona is on its way, cancelling cannot take it back.
            (_, Transferring, Cancelled) => false,
            (_, from, Failed(_) | Cancelled) => !from.is_terminal(),
            (_, Idle | Inviting, Inviting) => true,
            (_, Idle | Inviting, Negotiating) => true,
            (_, Negotiating, AwaitingApproval) => true,
            (_, AwaitingApproval, Transferring) => true,
            (_, Transferring, Completed) => true,
            _ => false,
        };
        if !allowed {
            return Err(IllegalTransition {
                from: self.state,
                action,
            });
        }
        self.state = to;
        Ok(())
    }
}
