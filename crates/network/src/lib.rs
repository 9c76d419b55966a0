//! The network driver: libp2p, shared by the DHT nodes (`node/`) and the device client.
//!
//! Nodes run Kademlia among themselves (`phantom-node`); a mailbox lives on the k nodes
//! closest to [`dht_key`] of its address ([`Replication`]). Devices run no Kademlia: they
//! ask nodes they know for a mailbox's closest nodes (`FindNodes`), merge the answers by
//! the same metric ([`closest_nodes`]), and speak the
//! [mailbox protocol](phantom_mailbox::protocol) to those nodes with [`codec::MailboxCodec`].
//!
//! A node's id must be costly to make ([`is_costly_node_id`], S/Kademlia's static puzzle):
//! nodes keep no other node in their routing tables, and devices choose no node, whose id
//! skips it, so placing a node next to a chosen mailbox costs [`NODE_ID_DIFFICULTY`] bits
//! of work for every id tried.
//!
//! ```
//! use phantom_network::Replication;
//!
//! let replication = Replication::new(5, 3).expect("w ≤ k");
//! assert_eq!((replication.factor().get(), replication.write_quorum()), (5, 3));
//! assert_eq!(Replication::new(3, 4).unwrap_err().code(), "invalid_replication");
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod codec;

use std::num::NonZeroUsize;

use libp2p::{Multiaddr, PeerId};
use sha2::{Digest, Sha256};
use thiserror::Error;

use phantom_mailbox::protocol::{NodeRecord, MAX_NODES};
use phantom_mailbox::MailboxAddress;

/// Kademlia's bucket size: a lookup finds at most this many closest nodes.
pub const MAX_REPLICATION_FACTOR: usize = MAX_NODES;

/// The leading zero bits a node id's puzzle hash needs: a node makes 2¹² ids on average to
/// find one (about 90 ms natively), and so does an attacker for each id it tries next to a
/// mailbox.
pub const NODE_ID_DIFFICULTY: u32 = 12;

/// Why a [`Replication`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplicationError {
    /// k and w break 1 ≤ w ≤ k ≤ [`MAX_REPLICATION_FACTOR`].
    #[error("replication needs 1 ≤ w ≤ k ≤ {MAX_REPLICATION_FACTOR}, not k = {factor}, w = {write_quorum}")]
    Invalid {
        /// The k asked for.
        factor: usize,
        /// The w asked for.
        write_quorum: usize,
    },
}

impl ReplicationError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        "invalid_replication"
    }
}

/// How many nodes hold each mailbox (k) and how many must acknowledge a put (w).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    factor: NonZeroUsize,
    write_quorum: usize,
}

impl Replication {
    /// k = `factor` nodes for each mailbox and w = `write_quorum` acknowledgements for each
    /// put; refused unless 1 ≤ w ≤ k ≤ [`MAX_REPLICATION_FACTOR`].
    pub fn new(factor: usize, write_quorum: usize) -> Result<Self, ReplicationError> {
        let invalid = ReplicationError::Invalid {
            factor,
            write_quorum,
        };
        if factor > MAX_REPLICATION_FACTOR || write_quorum == 0 || write_quorum > factor {
            return Err(invalid);
        }
        Ok(Self {
            factor: NonZeroUsize::new(factor).ok_or(invalid)?,
            write_quorum,
        })
    }

    /// k: the number of closest nodes that hold each mailbox.
    pub fn factor(&self) -> NonZeroUsize {
        self.factor
    }

    /// w: the acknowledgements a put needs.
    pub fn write_quorum(&self) -> usize {
        self.write_quorum
    }
}

impl Default for Replication {
    /// k = 3, w = 2: a put survives one node failing during the write, and an envelope
    /// survives losing two of its three holders.
    fn default() -> Self {
        Self {
            factor: NonZeroUsize::MIN.saturating_add(2),
            write_quorum: 2,
        }
    }
}

/// Where a mailbox lives in the DHT's key space.
pub fn dht_key(mailbox: &MailboxAddress) -> Vec<u8> {
    Sha256::new()
        .chain_update(b"phantom-sync dht v1")
        .chain_update(mailbox.as_bytes())
        .finalize()
        .to_vec()
}

/// The leading zero bits of `SHA-256(SHA-256(peer id bytes))`: the hash of the node's
/// Kademlia position, so the work and the position are independent.
pub fn node_id_work(peer: &PeerId) -> u32 {
    let puzzle = Sha256::digest(Sha256::digest(peer.to_bytes()));
    let mut zeros = 0;
    for byte in puzzle {
        zeros += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    zeros
}

/// Whether `peer`'s id solves the puzzle: [`NODE_ID_DIFFICULTY`] leading zero bits.
pub fn is_costly_node_id(peer: &PeerId) -> bool {
    node_id_work(peer) >= NODE_ID_DIFFICULTY
}

/// The peer an address names with its `/p2p/` part.
pub fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|protocol| match protocol {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// A node and the addresses it can be reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's libp2p identity, which also places it in the DHT's key space.
    pub peer: PeerId,
    /// Where to dial it.
    pub addresses: Vec<Multiaddr>,
}

impl NodeInfo {
    /// The node as a `Nodes` answer carries it: peer id and addresses in their binary forms.
    pub fn to_record(&self) -> NodeRecord {
        NodeRecord {
            peer: self.peer.to_bytes(),
            addresses: self.addresses.iter().map(|a| a.to_vec()).collect(),
        }
    }

    /// The node a record names, with the addresses that parse; `None` when its peer id
    /// does not parse or skips the node id puzzle ([`is_costly_node_id`]).
    pub fn from_record(record: &NodeRecord) -> Option<Self> {
        let peer = PeerId::from_bytes(&record.peer).ok()?;
        if !is_costly_node_id(&peer) {
            return None;
        }
        Some(Self {
            peer,
            addresses: record
                .addresses
                .iter()
                .filter_map(|bytes| Multiaddr::try_from(bytes.clone()).ok())
                .collect(),
        })
    }
}

/// The `k` nodes closest to `mailbox` among `candidates`, closest first, each once with all
/// the addresses given for it.
///
/// The metric is Kademlia's, as libp2p-kad computes it: SHA-256 of the peer id's bytes XOR
/// SHA-256 of [`dht_key`], compared as a big-endian number. Devices merge several nodes'
/// answers with it, so one node cannot choose a mailbox's nodes alone.
pub fn closest_nodes(
    mailbox: &MailboxAddress,
    candidates: impl IntoIterator<Item = NodeInfo>,
    k: usize,
) -> Vec<NodeInfo> {
    let target: [u8; 32] = Sha256::digest(dht_key(mailbox)).into();
    let mut merged: Vec<([u8; 32], NodeInfo)> = Vec::new();
    for candidate in candidates {
        match merged
            .iter_mut()
            .find(|(_, known)| known.peer == candidate.peer)
        {
            Some((_, known)) => {
                for address in candidate.addresses {
                    if !known.addresses.contains(&address) {
                        known.addresses.push(address);
                    }
                }
            }
            None => {
                let id: [u8; 32] = Sha256::digest(candidate.peer.to_bytes()).into();
                let distance = std::array::from_fn(|i| id[i] ^ target[i]);
                merged.push((distance, candidate));
            }
        }
    }
    merged.sort_by_key(|(distance, _)| *distance);
    merged.into_iter().take(k).map(|(_, node)| node).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(peer: PeerId) -> NodeInfo {
        NodeInfo {
            peer,
            addresses: Vec::new(),
        }
    }

    /// One asked node may name whatever nodes it likes; the ones the others name as
    /// closest still win, because the merged answers are ranked by distance, not by who
    /// said what.
    #[test]
    fn a_node_naming_other_nodes_cannot_hide_the_closest_ones() {
        let mailbox = MailboxAddress::from_bytes([9; 32]);
        let everyone: Vec<PeerId> = (0..12).map(|_| PeerId::random()).collect();
        let ranked: Vec<PeerId> = closest_nodes(&mailbox, everyone.iter().copied().map(node), 12)
            .into_iter()
            .map(|n| n.peer)
            .collect();
        let honest = ranked[..3].iter().copied().map(node);
        let liar = ranked[6..].iter().copied().map(node);
        let chosen: Vec<PeerId> = closest_nodes(&mailbox, liar.chain(honest), 3)
            .into_iter()
            .map(|n| n.peer)
            .collect();
        assert_eq!(chosen, ranked[..3]);
    }

    /// Ids found by trying keys in turn, as a node makes its own (and an attacker would).
    fn costly_peer(seed: u8) -> PeerId {
        (0u32..)
            .map(|counter| {
                let mut secret: [u8; 32] = Sha256::new()
                    .chain_update([seed])
                    .chain_update(counter.to_be_bytes())
                    .finalize()
                    .into();
                libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
                    .unwrap_or_else(|_| unreachable!("any 32 bytes are a key"))
                    .public()
                    .to_peer_id()
            })
            .find(is_costly_node_id)
            .unwrap_or_else(|| unreachable!("some key solves the puzzle"))
    }

    /// An attacker grinds ids until several sit closer to a mailbox than the honest node,
    /// without solving the puzzle, and names them in a Nodes answer: a device drops them.
    #[test]
    fn ids_ground_next_to_a_mailbox_without_the_puzzle_are_never_chosen() {
        let mailbox = MailboxAddress::from_bytes([3; 32]);
        let honest = costly_peer(1);
        let honest_rank = |peer: PeerId| {
            closest_nodes(&mailbox, [node(peer), node(honest)], 1)
                .first()
                .is_some_and(|closest| closest.peer == peer)
        };
        let ground: Vec<PeerId> = std::iter::repeat_with(PeerId::random)
            .filter(|peer| honest_rank(*peer) && !is_costly_node_id(peer))
            .take(3)
            .collect();
        let record = |peer: &PeerId| NodeRecord {
            peer: peer.to_bytes(),
            addresses: Vec::new(),
        };
        let named: Vec<NodeInfo> = ground
            .iter()
            .chain([&honest])
            .map(record)
            .filter_map(|record| NodeInfo::from_record(&record))
            .collect();
        let chosen: Vec<PeerId> = closest_nodes(&mailbox, named, 3)
            .into_iter()
            .map(|n| n.peer)
            .collect();
        assert_eq!(chosen, [honest]);
        assert!(node_id_work(&honest) >= NODE_ID_DIFFICULTY);
    }

    #[test]
    fn a_node_named_twice_is_kept_once_with_all_its_addresses() {
        let mailbox = MailboxAddress::from_bytes([1; 32]);
        let peer = PeerId::random();
        let at = |port: u16| -> Multiaddr {
            format!("/ip4/127.0.0.1/tcp/{port}")
                .parse()
                .unwrap_or_else(|_| unreachable!("a valid address"))
        };
        let merged = closest_nodes(
            &mailbox,
            [
                NodeInfo {
                    peer,
                    addresses: vec![at(1), at(2)],
                },
                NodeInfo {
                    peer,
                    addresses: vec![at(2), at(3)],
                },
            ],
            3,
        );
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].addresses, vec![at(1), at(2), at(3)]);
    }
}
