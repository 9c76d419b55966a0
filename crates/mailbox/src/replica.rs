//! Replication from the device's side, sans-IO: a write counts as done once a quorum of the
//! mailbox's nodes hold it, and a read merges what every node returned.
//!
//! Nodes are untrusted: one may drop, delay, replay, reorder or alter envelopes. Envelopes
//! are content-addressed, so a replay or a copy from another node is the same id and kept
//! once; an altered envelope is a different id that fails to open a layer up and is dropped
//! there; an envelope a node lacks is sent to it again ([`UnionRead::repairs`]), but only
//! with a stamp of the mailbox's writer key: what one node alone made up spreads nowhere.
//!
//! ```
//! use phantom_mailbox::replica::{Progress, QuorumWrite};
//!
//! let mut write = QuorumWrite::new(vec!["a", "b", "c"], 2);
//! assert_eq!(write.on_ack(&"a", 7), Progress::Pending);
//! assert_eq!(write.on_failure(&"b"), Progress::Pending);
//! assert_eq!(write.on_ack(&"c", 3), Progress::Reached);
//! ```

use std::collections::{HashMap, HashSet};

use crate::envelope::{Envelope, EnvelopeId};
use crate::keys::PutStamp;
use crate::protocol::StoredEnvelope;

/// Where a quorum write stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Too few acknowledgements yet, and enough nodes still to answer that could give them.
    Pending,
    /// The quorum acknowledged: the write is done.
    Reached,
    /// Too many nodes failed for the quorum to be reached.
    Impossible,
}

/// A write to `targets` that succeeds once `quorum` of them acknowledge it.
#[derive(Debug, Clone)]
pub struct QuorumWrite<P> {
    targets: Vec<P>,
    quorum: usize,
    acks: Vec<(P, u64)>,
    failed: Vec<P>,
}

impl<P: Clone + Eq> QuorumWrite<P> {
    /// A write to `targets` needing `quorum` acknowledgements, taken as at least 1 and at
    /// most the number of targets.
    pub fn new(targets: Vec<P>, quorum: usize) -> Self {
        Self {
            quorum: quorum.min(targets.len()).max(1),
            targets,
            acks: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// The nodes written to.
    pub fn targets(&self) -> &[P] {
        &self.targets
    }

    /// Node `peer` stored the envelope as number `seq`. Only a target's first answer counts.
    pub fn on_ack(&mut self, peer: &P, seq: u64) -> Progress {
        if self.targets.contains(peer) && !self.answered(peer) {
            self.acks.push((peer.clone(), seq));
        }
        self.progress()
    }

    /// Node `peer` failed or refused to store the envelope. Only a target's first answer
    /// counts.
    pub fn on_failure(&mut self, peer: &P) -> Progress {
        if self.targets.contains(peer) && !self.answered(peer) {
            self.failed.push(peer.clone());
        }
        self.progress()
    }

    fn answered(&self, peer: &P) -> bool {
        self.failed.contains(peer) || self.acks.iter().any(|(p, _)| p == peer)
    }

    /// Where the write stands after the answers so far.
    pub fn progress(&self) -> Progress {
        if self.acks.len() >= self.quorum {
            Progress::Reached
        } else if self.targets.len() - self.failed.len() < self.quorum {
            Progress::Impossible
        } else {
            Progress::Pending
        }
    }

    /// The nodes that stored the envelope, each with its number for it, in the order they
    /// answered.
    pub fn acks(&self) -> &[(P, u64)] {
        &self.acks
    }
}

/// What one node returned for a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCursor {
    /// The highest number this node returned (or was asked to start after).
    pub read_to: u64,
    /// The node's latest number in the mailbox.
    pub last_seq: u64,
}

/// Merges the answers of several nodes to one read.
#[derive(Debug, Clone)]
pub struct UnionRead<P> {
    envelopes: Vec<Envelope>,
    /// Per envelope, the nodes that returned it, each with the stamp it came with.
    holders: HashMap<EnvelopeId, Vec<(P, PutStamp)>>,
    cursors: Vec<(P, NodeCursor)>,
    /// Per entry of `cursors`: whether that node answered its whole mailbox.
    complete: Vec<bool>,
    duplicates: usize,
}

impl<P: Clone + Eq> Default for UnionRead<P> {
    fn default() -> Self {
        Self {
            envelopes: Vec::new(),
            holders: HashMap::new(),
            cursors: Vec::new(),
            complete: Vec::new(),
            duplicates: 0,
        }
    }
}

impl<P: Clone + Eq> UnionRead<P> {
    /// A read with no answers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Node `peer`, asked for everything after `after`, returned `items` and its `last_seq`.
    pub fn add(&mut self, peer: P, after: u64, items: Vec<StoredEnvelope>, last_seq: u64) {
        let mut read_to = after;
        let mut seen_here = HashSet::new();
        for item in items {
            if item.seq <= after {
                // Not what was asked for: a confused or replaying node.
                self.duplicates += 1;
                continue;
            }
            read_to = read_to.max(item.seq);
            let id = item.envelope.id();
            if !seen_here.insert(id) {
                self.duplicates += 1;
                continue;
            }
            let holders = self.holders.entry(id).or_default();
            if holders.is_empty() {
                self.envelopes.push(item.envelope);
            } else {
                self.duplicates += 1;
            }
            holders.push((peer.clone(), item.stamp));
        }
        self.complete.push(after == 0 && read_to >= last_seq);
        self.cursors.push((
            peer,
            NodeCursor {
                read_to,
                last_seq: last_seq.max(read_to),
            },
        ));
    }

    /// Every distinct envelope, in the order first seen.
    pub fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }

    /// Every distinct envelope, in the order first seen, without a copy.
    pub fn into_envelopes(self) -> Vec<Envelope> {
        self.envelopes
    }

    /// Where each node's read stopped: the `after` for the next read from it.
    pub fn cursors(&self) -> &[(P, NodeCursor)] {
        &self.cursors
    }

    /// Copies that arrived more than once (from several nodes, or replayed by one).
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Nodes that still have envelopes beyond what they returned (fetch again).
    pub fn has_more(&self) -> bool {
        self.cursors.iter().any(|(_, c)| c.read_to < c.last_seq)
    }

    /// Envelopes a node returned its whole mailbox without, that others hold, each with
    /// the first stamp returned with it that `verify` accepts: send them to it. An envelope
    /// no node returned with a valid stamp is never sent on. Only envelopes to repair are
    /// verified, so a read from honest nodes that all hold everything verifies nothing.
    pub fn repairs(
        &self,
        verify: impl Fn(&EnvelopeId, &PutStamp) -> bool,
    ) -> Vec<(P, Envelope, PutStamp)> {
        let mut repairs = Vec::new();
        for envelope in &self.envelopes {
            let id = envelope.id();
            let holders = self.holders.get(&id).map(Vec::as_slice).unwrap_or_default();
            let lacking = self
                .cursors
                .iter()
                .enumerate()
                .filter(|(index, (peer, _))| {
                    self.complete.get(*index) == Some(&true)
                        && !holders.iter().any(|(p, _)| p == peer)
                })
                .map(|(_, (peer, _))| peer);
            let mut stamp = None;
            for peer in lacking {
                // Verified once, and only for an envelope some node lacks.
                let genuine = *stamp.get_or_insert_with(|| {
                    holders
                        .iter()
                        .map(|(_, stamp)| stamp)
                        .find(|stamp| verify(&id, stamp))
                        .copied()
                });
                if let Some(genuine) = genuine {
                    repairs.push((peer.clone(), envelope.clone(), genuine));
                }
            }
        }
        repairs
    }
}
