//! The new device's rules for its direct history channel, sans-IO: when to ask the source
//! for a channel, when to send a want, and when the mailbox must carry the history instead.
//! The driver reports what its channel is doing ([`ChannelStatus`]) and the time; the rules
//! answer with the next [`DirectStep`].
//!
//! - A channel is asked for when a transfer is incomplete and there is none, or it closed
//!   (after the frames it delivered are taken): at most [`MAX_DIRECT_ATTEMPTS`] per offer,
//!   counting the ones that could not be made.
//! - A want goes out once the channel is open and what came before it is stored; again
//!   after each end of answer, so the answers pace the source to this device's storage.
//! - The mailbox carries the history while no channel does: none asked for yet, a channel
//!   not open within [`DIRECT_GRACE_MS`] (the source may be offline), or none left to ask.
//! - An open channel on which nothing arrives for [`DIRECT_STALL_MS`] after a want is as
//!   good as closed (a source that froze, a path that died without the channel noticing):
//!   another channel is asked for, and from then on the mailbox carries the history beside
//!   any channel.
//!
//! ```
//! use phantom_core::history::direct_link::{ChannelStatus, DirectLink, DirectStep};
//!
//! let mut link = DirectLink::default();
//! assert_eq!(link.next_step(None, false, 0), DirectStep::AskForChannel);
//! link.channel_requested(0);
//! assert!(link.carrying(Some(ChannelStatus::Connecting), 1_000), "the mailbox waits a while");
//! assert!(!link.carrying(Some(ChannelStatus::Connecting), 5_000), "then carries it");
//! let open = Some(ChannelStatus::Open);
//! assert_eq!(link.next_step(open, false, 1_000), DirectStep::SendWant);
//! link.want_sent(1_000);
//! assert_eq!(link.next_step(open, false, 1_500), DirectStep::Wait);
//! link.frames_arrived(1_500);
//! link.answer_ended();
//! assert_eq!(link.next_step(open, true, 1_500), DirectStep::Wait, "store first");
//! assert_eq!(link.next_step(open, false, 1_600), DirectStep::SendWant);
//! ```

/// How long the mailbox waits for a requested channel to open before it carries the
/// history itself.
pub const DIRECT_GRACE_MS: u64 = 3_000;
/// How long an open channel may stay silent after a want before it counts as dead.
pub const DIRECT_STALL_MS: u64 = 10_000;
/// Channels asked for per offered transfer before the mailbox alone carries it.
pub const MAX_DIRECT_ATTEMPTS: u32 = 3;

/// What the driver's channel is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    /// Asked for, not open yet: the offer and answer are on their way, or ICE is still
    /// looking for a path.
    Connecting,
    /// Open: wants can be sent and frames arrive.
    Open,
    /// Closed; `undelivered` frames that arrived before are still to be taken.
    Closed {
        /// Frames received on the channel before it closed that the driver has not taken
        /// yet.
        undelivered: usize,
    },
}

/// What the driver does next for the direct path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectStep {
    /// Create a channel and send its offer to the source.
    AskForChannel,
    /// Send the want on the open channel.
    SendWant,
    /// Nothing now: frames are on their way, or the channel is opening.
    Wait,
    /// No channel is left to ask for: the mailbox carries the rest.
    UseMailbox,
}

/// The rules' memory of the current channel and how many were asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectLink {
    attempts: u32,
    requested: Option<Requested>,
    /// A channel of this transfer went silent: the mailbox no longer waits for channels.
    stalled_once: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Requested {
    at_ms: u64,
    want_sent: bool,
    /// When the channel last showed life: asked for, a want sent, frames arrived.
    progress_ms: u64,
}

impl DirectLink {
    /// A transfer was offered anew: channels may be asked for again.
    pub fn restart(&mut self) {
        *self = Self::default();
    }

    /// The next step at a sync at `now_ms`: `status` is the current channel's (`None` when
    /// there is none), `frames_in_hand` whether frames were taken from it at this sync (a
    /// want lists what is stored, so it waits for them).
    pub fn next_step(
        &self,
        status: Option<ChannelStatus>,
        frames_in_hand: bool,
        now_ms: u64,
    ) -> DirectStep {
        // A stalled channel is treated as a closed one: asked for again, up to the limit.
        let alive = !self.stalled(status, now_ms);
        match (status, self.requested) {
            (Some(ChannelStatus::Connecting), Some(_)) => DirectStep::Wait,
            (Some(ChannelStatus::Open), Some(requested))
                if alive && !requested.want_sent && !frames_in_hand =>
            {
                DirectStep::SendWant
            }
            (Some(ChannelStatus::Open), Some(_)) if alive => DirectStep::Wait,
            (Some(ChannelStatus::Closed { undelivered }), Some(_)) if undelivered > 0 => {
                DirectStep::Wait
            }
            _ if self.attempts >= MAX_DIRECT_ATTEMPTS => DirectStep::UseMailbox,
            _ => DirectStep::AskForChannel,
        }
    }

    /// A channel was asked for at `now_ms`.
    pub fn channel_requested(&mut self, now_ms: u64) {
        self.attempts += 1;
        self.requested = Some(Requested {
            at_ms: now_ms,
            want_sent: false,
            progress_ms: now_ms,
        });
    }

    /// A channel could not be made (the browser has no WebRTC, or its offer could not be
    /// sent): it counts as an attempt, so a device that cannot make one stops asking.
    pub fn channel_failed(&mut self) {
        self.attempts += 1;
        self.requested = None;
    }

    /// A want was sent on the channel at `now_ms`: no other goes out before the answer
    /// ends, and the channel must show life within [`DIRECT_STALL_MS`] of it.
    pub fn want_sent(&mut self, now_ms: u64) {
        if let Some(requested) = self.requested.as_mut() {
            requested.want_sent = true;
            requested.progress_ms = now_ms;
        }
    }

    /// Frames were taken from the channel at `now_ms`.
    pub fn frames_arrived(&mut self, now_ms: u64) {
        if let Some(requested) = self.requested.as_mut() {
            requested.progress_ms = now_ms;
        }
    }

    /// Notes, at each sync, whether the open channel went silent.
    pub fn observe(&mut self, status: Option<ChannelStatus>, now_ms: u64) {
        self.stalled_once |= self.stalled(status, now_ms);
    }

    /// An open channel silent for [`DIRECT_STALL_MS`] since a want.
    fn stalled(&self, status: Option<ChannelStatus>, now_ms: u64) -> bool {
        status == Some(ChannelStatus::Open)
            && self.requested.is_some_and(|requested| {
                requested.want_sent
                    && now_ms.saturating_sub(requested.progress_ms) >= DIRECT_STALL_MS
            })
    }

    /// The source ended an answer: what is still missing needs another want.
    pub fn answer_ended(&mut self) {
        if let Some(requested) = self.requested.as_mut() {
            requested.want_sent = false;
        }
    }

    /// No channel any more (the transfer is complete, or direct history was switched off).
    pub fn forget_channel(&mut self) {
        self.requested = None;
    }

    /// Whether history is arriving on an open channel (or waits in a closed one), so a
    /// sync should not sit waiting on the inbox.
    pub fn flowing(&self, status: Option<ChannelStatus>) -> bool {
        self.requested.is_some()
            && matches!(
                status,
                Some(ChannelStatus::Open) | Some(ChannelStatus::Closed { undelivered: 1.. })
            )
    }

    /// Whether a channel carries (or may soon carry) the history, so the mailbox need not.
    pub fn carrying(&self, status: Option<ChannelStatus>, now_ms: u64) -> bool {
        if self.stalled_once {
            return false;
        }
        match (status, self.requested) {
            (Some(ChannelStatus::Connecting), Some(requested)) => {
                now_ms.saturating_sub(requested.at_ms) < DIRECT_GRACE_MS
            }
            _ => self.flowing(status) && !self.stalled(status, now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Option<ChannelStatus> = Some(ChannelStatus::Open);

    #[test]
    fn a_closed_channel_is_drained_then_asked_for_again_up_to_the_limit() {
        let mut link = DirectLink::default();
        for attempt in 0..MAX_DIRECT_ATTEMPTS {
            assert_eq!(
                link.next_step(None, false, 0),
                DirectStep::AskForChannel,
                "{attempt}"
            );
            link.channel_requested(0);
            assert_eq!(link.next_step(OPEN, false, 0), DirectStep::SendWant);
            link.want_sent(0);
            let closed_with_frames = Some(ChannelStatus::Closed { undelivered: 3 });
            assert_eq!(
                link.next_step(closed_with_frames, false, 0),
                DirectStep::Wait
            );
            assert!(
                link.flowing(closed_with_frames),
                "its frames are still to take"
            );
        }
        let drained = Some(ChannelStatus::Closed { undelivered: 0 });
        assert_eq!(link.next_step(drained, false, 0), DirectStep::UseMailbox);
        assert!(!link.carrying(drained, 0));
        link.restart();
        assert_eq!(
            link.next_step(drained, false, 0),
            DirectStep::AskForChannel,
            "a new offer"
        );
    }

    #[test]
    fn the_mailbox_waits_for_a_requested_channel_only_a_while() {
        let mut link = DirectLink::default();
        assert!(
            !link.carrying(None, 0),
            "nothing asked for: the mailbox carries it"
        );
        link.channel_requested(10_000);
        let connecting = Some(ChannelStatus::Connecting);
        assert!(link.carrying(connecting, 10_000 + DIRECT_GRACE_MS - 1));
        assert!(!link.flowing(connecting), "a sync still waits on the inbox");
        assert!(!link.carrying(connecting, 10_000 + DIRECT_GRACE_MS));
        assert_eq!(link.next_step(connecting, false, 10_000), DirectStep::Wait);
        assert!(link.carrying(OPEN, 20_000), "once open it carries the rest");
    }

    #[test]
    fn each_end_of_answer_calls_for_one_more_want() {
        let mut link = DirectLink::default();
        link.channel_requested(0);
        link.want_sent(0);
        assert_eq!(link.next_step(OPEN, false, 0), DirectStep::Wait);
        link.answer_ended();
        assert_eq!(link.next_step(OPEN, false, 0), DirectStep::SendWant);
        link.want_sent(0);
        assert_eq!(link.next_step(OPEN, false, 0), DirectStep::Wait);
        link.forget_channel();
        assert!(!link.flowing(OPEN));
    }

    #[test]
    fn an_open_channel_silent_after_a_want_counts_as_dead() {
        let mut link = DirectLink::default();
        link.channel_requested(0);
        link.want_sent(1_000);
        let silent_until = 1_000 + DIRECT_STALL_MS;
        assert!(link.carrying(OPEN, silent_until - 1));
        assert_eq!(
            link.next_step(OPEN, false, silent_until - 1),
            DirectStep::Wait
        );
        link.frames_arrived(5_000);
        assert!(
            link.carrying(OPEN, silent_until),
            "frames arriving are life"
        );
        let dead_at = 5_000 + DIRECT_STALL_MS;
        assert!(
            !link.carrying(OPEN, dead_at),
            "the mailbox carries it at once"
        );
        assert!(link.flowing(OPEN));
        link.observe(OPEN, dead_at);
        let mut now = dead_at;
        for _ in 1..MAX_DIRECT_ATTEMPTS {
            assert_eq!(link.next_step(OPEN, false, now), DirectStep::AskForChannel);
            link.channel_requested(now);
            assert!(
                !link.carrying(Some(ChannelStatus::Connecting), now),
                "the mailbox no longer waits for a channel"
            );
            link.want_sent(now);
            now += DIRECT_STALL_MS;
        }
        assert_eq!(link.next_step(OPEN, false, now), DirectStep::UseMailbox);
    }
}
