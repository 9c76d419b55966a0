//! The network driver: libp2p, shared by the DHT nodes (`node/`) and the device client.
//!
//! Nodes run Kademlia in server mode under [`KADEMLIA_PROTOCOL`]; a mailbox lives on the
//! k nodes closest to [`dht_key`] of its address ([`Replication`]), and devices speak the
//! [mailbox protocol](crate::mailbox::protocol) to them with [`codec::MailboxCodec`].
//!
//! ```
//! use phantom_sync::network::Replication;
//!
//! let replication = Replication::new(5, 3).expect("w ≤ k");
//! assert_eq!((replication.factor().get(), replication.write_quorum()), (5, 3));
//! assert_eq!(Replication::new(3, 4).unwrap_err().code(), "invalid_replication");
//! ```

pub mod client;
pub mod codec;

use std::num::NonZeroUsize;

use libp2p::kad::{self, store::MemoryStore, GetClosestPeersError, GetClosestPeersOk, PeerInfo};
use libp2p::{identify, Multiaddr, PeerId, StreamProtocol};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::mailbox::MailboxAddress;

/// Kademlia under a private name, so this DHT never merges with others.
pub const KADEMLIA_PROTOCOL: StreamProtocol = StreamProtocol::new("/phantom-sync/kad/1");
/// The identify protocol version nodes and devices announce.
pub const IDENTIFY_PROTOCOL: &str = "/phantom-sync/id/1";
/// Kademlia's bucket size: a lookup finds at most this many closest nodes.
pub const MAX_REPLICATION_FACTOR: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplicationError {
    #[error("replication needs 1 ≤ w ≤ k ≤ {MAX_REPLICATION_FACTOR}, not k = {factor}, w = {write_quorum}")]
    Invalid { factor: usize, write_quorum: usize },
}

impl ReplicationError {
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

/// The peer an address names with its `/p2p/` part.
pub fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    address.iter().find_map(|protocol| match protocol {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// Adds a peer's addresses to the routing table if it is a node (speaks our Kademlia);
/// devices are clients and stay out of it.
pub fn learn_node(kad: &mut kad::Behaviour<MemoryStore>, peer: &PeerId, info: identify::Info) {
    if info.protocols.contains(&KADEMLIA_PROTOCOL) {
        for address in info.listen_addrs {
            kad.add_address(peer, address);
        }
    }
}

/// The peers a closest-peers lookup found, including the ones found before a timeout.
pub fn closest_found(result: Result<GetClosestPeersOk, GetClosestPeersError>) -> Vec<PeerInfo> {
    match result {
        Ok(ok) => ok.peers,
        Err(GetClosestPeersError::Timeout { peers, .. }) => peers,
    }
}

/// Kademlia as every participant runs it: the private protocol name, the replication factor
/// k, and `mode` — nodes serve, devices are clients.
pub fn kademlia(
    key: &libp2p::identity::Keypair,
    mode: kad::Mode,
    factor: NonZeroUsize,
) -> kad::Behaviour<MemoryStore> {
    let peer_id = key.public().to_peer_id();
    let mut config = kad::Config::new(KADEMLIA_PROTOCOL);
    config.set_query_timeout(std::time::Duration::from_secs(10));
    config.set_replication_factor(factor);
    let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), config);
    kad.set_mode(Some(mode));
    kad
}

/// Identify, announcing this network's protocol version.
pub fn identify(key: &libp2p::identity::Keypair) -> identify::Behaviour {
    identify::Behaviour::new(identify::Config::new(
        IDENTIFY_PROTOCOL.into(),
        key.public(),
    ))
}
