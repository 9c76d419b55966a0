//! The lookup cache: each mailbox's closest nodes, found by asking [`NODES_ASKED`] known
//! nodes (`FindNodes`) and remembered for [`CLOSEST_NODES_TTL`] or until one of them fails,
//! with the operations that wait for a lookup under way.

use std::time::Duration;

use web_time::Instant;

use libp2p::PeerId;

use super::operations::Pending;
use super::task::{Driver, Request};
use crate::{closest_nodes, NodeInfo};
use phantom_mailbox::protocol::{MailboxRequest, MailboxResponse};
use phantom_mailbox::MailboxAddress;

/// How long a lookup's closest nodes are trusted before the next operation looks again.
pub const CLOSEST_NODES_TTL: Duration = Duration::from_secs(30);
/// How many known nodes one lookup asks.
pub const NODES_ASKED: usize = 3;

/// What the client knows of a mailbox's nodes: the last lookup's answer, and the lookup in
/// progress.
#[derive(Default)]
pub(super) struct MailboxNodes {
    pub(super) closest: Option<ClosestNodes>,
    lookup: Option<Lookup>,
}

/// A lookup's answer, kept for the next operations on the same mailbox.
pub(super) struct ClosestNodes {
    peers: Vec<PeerId>,
    found_at: Instant,
}

/// A `FindNodes` round for one mailbox: what the asked nodes named so far, and the
/// operations waiting for its answer.
struct Lookup {
    outstanding: usize,
    found: Vec<NodeInfo>,
    waiting: Vec<Pending>,
}

impl Driver {
    /// Starts `pending` on the mailbox's remembered nodes, or once a lookup finds them.
    pub(super) fn route(&mut self, mailbox: MailboxAddress, pending: Pending) {
        let nodes = self.mailboxes.entry(mailbox).or_default();
        let remembered = nodes
            .closest
            .as_ref()
            .filter(|known| known.found_at.elapsed() < CLOSEST_NODES_TTL)
            .map(|known| known.peers.clone());
        if let Some(peers) = remembered {
            return self.start(pending, peers);
        }
        match nodes.lookup.as_mut() {
            Some(lookup) => lookup.waiting.push(pending),
            None => self.look_up(mailbox, pending),
        }
    }

    /// Asks the next [`NODES_ASKED`] known nodes for the mailbox's closest nodes, for
    /// `pending` and whatever comes for the mailbox meanwhile.
    fn look_up(&mut self, mailbox: MailboxAddress, pending: Pending) {
        let asked = NODES_ASKED.min(self.known.len());
        let start = self.next_asked;
        self.next_asked = self.next_asked.wrapping_add(asked);
        let peers: Vec<PeerId> = self
            .known
            .iter()
            .cycle()
            .skip(start % self.known.len().max(1))
            .take(asked)
            .copied()
            .collect();
        for peer in &peers {
            let id = self
                .swarm
                .behaviour_mut()
                .mailbox
                .send_request(peer, MailboxRequest::FindNodes { mailbox });
            self.requests.insert(id, Request::FindNodes(mailbox));
        }
        self.mailboxes.entry(mailbox).or_default().lookup = Some(Lookup {
            outstanding: peers.len(),
            found: Vec::new(),
            waiting: vec![pending],
        });
        if peers.is_empty() {
            self.finish_lookup(mailbox);
        }
    }

    pub(super) fn on_nodes(&mut self, mailbox: MailboxAddress, response: Option<MailboxResponse>) {
        let Some(lookup) = self
            .mailboxes
            .get_mut(&mailbox)
            .and_then(|nodes| nodes.lookup.as_mut())
        else {
            return;
        };
        lookup.outstanding = lookup.outstanding.saturating_sub(1);
        if let Some(MailboxResponse::Nodes { nodes }) = response {
            lookup
                .found
                .extend(nodes.iter().filter_map(NodeInfo::from_record));
        }
        if lookup.outstanding == 0 {
            self.finish_lookup(mailbox);
        }
    }

    /// Starts the operations waiting on the mailbox with the k closest nodes named.
    fn finish_lookup(&mut self, mailbox: MailboxAddress) {
        let Some(Lookup { found, waiting, .. }) = self
            .mailboxes
            .get_mut(&mailbox)
            .and_then(|nodes| nodes.lookup.take())
        else {
            return;
        };
        let mut peers = Vec::new();
        for node in closest_nodes(&mailbox, found, self.replication.factor().get()) {
            for address in node.addresses {
                self.swarm.add_peer_address(node.peer, address);
            }
            peers.push(node.peer);
        }
        if !peers.is_empty() {
            self.mailboxes.entry(mailbox).or_default().closest = Some(ClosestNodes {
                peers: peers.clone(),
                found_at: Instant::now(),
            });
        }
        for pending in waiting {
            self.start(pending, peers.clone());
        }
    }

    /// A node that failed to answer is no longer trusted as one of any mailbox's closest.
    pub(super) fn forget_node(&mut self, peer: &PeerId) {
        for nodes in self.mailboxes.values_mut() {
            if nodes
                .closest
                .as_ref()
                .is_some_and(|known| known.peers.contains(peer))
            {
                nodes.closest = None;
            }
        }
    }
}
