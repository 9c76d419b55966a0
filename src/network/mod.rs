//! The network driver: libp2p, shared by the DHT nodes (`node/`) and the device client.
//!
//! Nodes run Kademlia in server mode under [`KADEMLIA_PROTOCOL`]; a mailbox lives on the
//! [`REPLICATION_FACTOR`] nodes closest to [`dht_key`] of its address, and devices speak the
//! [mailbox protocol](crate::mailbox::protocol) to them with [`codec::MailboxCodec`].

pub mod client;
pub mod codec;

use libp2p::kad::{self, store::MemoryStore, GetClosestPeersError, GetClosestPeersOk, PeerInfo};
use libp2p::{identify, Multiaddr, PeerId, StreamProtocol};
use sha2::{Digest, Sha256};

use crate::mailbox::MailboxAddress;

/// Kademlia under a private name, so this DHT never merges with others.
pub const KADEMLIA_PROTOCOL: StreamProtocol = StreamProtocol::new("/phantom-sync/kad/1");
/// The identify protocol version nodes and devices announce.
pub const IDENTIFY_PROTOCOL: &str = "/phantom-sync/id/1";
/// How many nodes hold each mailbox (k).
pub const REPLICATION_FACTOR: usize = 3;
/// How many of them must acknowledge a put (w).
pub const WRITE_QUORUM: usize = 2;

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

/// Kademlia as every participant runs it: the private protocol name, the replication factor,
/// and `mode` — nodes serve, devices are clients.
pub fn kademlia(key: &libp2p::identity::Keypair, mode: kad::Mode) -> kad::Behaviour<MemoryStore> {
    let peer_id = key.public().to_peer_id();
    let mut config = kad::Config::new(KADEMLIA_PROTOCOL);
    config.set_query_timeout(std::time::Duration::from_secs(10));
    if let Some(factor) = std::num::NonZeroUsize::new(REPLICATION_FACTOR) {
        config.set_replication_factor(factor);
    }
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
