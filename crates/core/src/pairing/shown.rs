//! The codes a device shows, and the first answers to them — the same for the source
//! showing its invitation and for a new device showing its own code ([`Intent`]): a fresh
//! key and mailbox for each code, the 16 most recent remembered (the QR code rotates about
//! every minute and each stays valid for three), the first valid answer accepted, and any
//! later one turned away, sealed to its own channel and named to the person.

use std::collections::VecDeque;

use rand_core::CryptoRng;

use crate::mailbox::keys::{MailboxKeys, MailboxSeed};
use crate::pairing::channel::{
    ChannelError, ChannelMessage, InvitationKeyPair, MessageKind, PairingChannel,
};
use crate::pairing::invitation::{Capabilities, Intent, InvitationId, PairingInvitation};
use crate::pairing::messages::{Abort, AbortReason, SyncRequest};
use crate::pairing::{PairingError, PairingEvent, Transmit, INVITATION_LIFETIME_SECS};

/// Codes remembered, so a late answer gets "expired" rather than "unknown".
const REMEMBERED: usize = 16;
/// Names of turned-away devices kept to show; more would only repeat the warning.
const REMEMBERED_TURNED_AWAY: usize = 8;

/// One code shown, with the key its answers are sealed to.
pub(crate) struct ShownCode {
    pub(crate) invitation: PairingInvitation,
    pub(crate) keys: InvitationKeyPair,
}

/// The codes shown and not yet answered, oldest first.
#[derive(Default)]
pub(crate) struct ShownCodes(VecDeque<ShownCode>);

impl ShownCodes {
    /// A fresh code of `intent`, remembered beside the earlier ones.
    pub(crate) fn show(
        &mut self,
        intent: Intent,
        capabilities: Capabilities,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> PairingInvitation {
        let keys = InvitationKeyPair::generate(rng);
        let invitation = PairingInvitation {
            intent,
            id: InvitationId::random(rng),
            public_key: keys.public_key(),
            mailbox: MailboxSeed::random(rng),
            expires_at: now.saturating_add(INVITATION_LIFETIME_SECS),
            capabilities,
        };
        if self.0.len() == REMEMBERED {
            self.0.pop_front();
        }
        self.0.push_back(ShownCode {
            invitation: invitation.clone(),
            keys,
        });
        invitation
    }

    /// The mailboxes of the codes still valid at `now`.
    pub(crate) fn listening_mailboxes(&self, now: u64) -> Vec<MailboxKeys> {
        self.0
            .iter()
            .filter(|shown| !shown.invitation.is_expired(now))
            .map(|shown| shown.invitation.mailbox.keys())
            .collect()
    }

    /// When the last code shown expires.
    pub(crate) fn last_expiry(&self) -> Option<u64> {
        self.0.iter().map(|shown| shown.invitation.expires_at).max()
    }

    /// The code a first message answers: one this device showed (`unknown_invitation`)
    /// and that has not expired (`invitation_expired`).
    pub(crate) fn answered(
        &self,
        message: &ChannelMessage,
        now: u64,
    ) -> Result<&ShownCode, PairingError> {
        let shown = self
            .0
            .iter()
            .find(|shown| shown.invitation.id == message.invitation_id)
            .ok_or(PairingError::UnknownInvitation)?;
        if shown.invitation.is_expired(now) {
            return Err(PairingError::InvitationExpired);
        }
        Ok(shown)
    }

    /// The code answered, taken; the others and their keys are forgotten (single use).
    pub(crate) fn take(&mut self, id: InvitationId) -> Result<ShownCode, PairingError> {
        let position = self
            .0
            .iter()
            .position(|shown| shown.invitation.id == id)
            .ok_or(PairingError::UnknownInvitation)?;
        let taken = self
            .0
            .remove(position)
            .ok_or(PairingError::UnknownInvitation)?;
        self.0.clear();
        Ok(taken)
    }

    /// Forgets every code.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// Opens the channel of a first message (seq 0 only) to `invitation`, with its key, and
/// reads who answered.
pub(crate) fn open_first(
    keys: &InvitationKeyPair,
    invitation: &PairingInvitation,
    message: &ChannelMessage,
) -> Result<(PairingChannel, SyncRequest), PairingError> {
    if message.seq != 0 {
        return Err(ChannelError::SequenceOutOfRange { seq: message.seq }.into());
    }
    let mut channel = PairingChannel::accept(keys, invitation, message)?;
    let asked = SyncRequest::decode(&channel.open(message)?)?;
    Ok((channel, asked))
}

/// A first message after one was accepted on `accepted`: the same one again is
/// `replayed_request`; another device's to the answered code (whose key is `keys`) is
/// turned away — its Abort(5) is returned to send and its name kept in `turned_away` —
/// and anything else is `invitation_used`.
pub(crate) fn answer_again(
    accepted: &PairingChannel,
    keys: Option<&InvitationKeyPair>,
    invitation: &PairingInvitation,
    message: &ChannelMessage,
    turned_away: &mut Vec<String>,
) -> Result<(PairingEvent, Transmit), PairingError> {
    if message.encapsulated_key.as_ref() == Some(accepted.encapsulated_key()) {
        return Err(PairingError::ReplayedRequest);
    }
    let keys = keys.ok_or(PairingError::InvitationUsed)?;
    let (mut late, asked) =
        open_first(keys, invitation, message).map_err(|_| PairingError::InvitationUsed)?;
    let abort = Abort {
        reason: AbortReason::InvitationUsed,
    };
    let bytes = late.seal(MessageKind::Abort, &abort.encode())?.encode()?;
    if turned_away.len() < REMEMBERED_TURNED_AWAY {
        turned_away.push(asked.device_name.clone());
    }
    let transmit = Transmit {
        mailbox: late.peer_mailbox(invitation).keys(),
        bytes,
    };
    let event = PairingEvent::TurnedAway {
        device_name: asked.device_name,
    };
    Ok((event, transmit))
}
