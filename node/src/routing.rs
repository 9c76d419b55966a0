//! Kademlia among the nodes: the private protocol names, the routing table fed by identify,
//! and what a closest-peers lookup found. Devices run none of this; they ask a node
//! (`FindNodes`, answered from a lookup here).

use std::num::NonZeroUsize;

use libp2p::kad::{self, store::MemoryStore, GetClosestPeersError, GetClosestPeersOk};
use libp2p::{identify, PeerId, StreamProtocol};
use phantom_network::{is_costly_node_id, NodeInfo};

/// Kademlia under a private name, so this DHT never merges with others.
pub const KADEMLIA_PROTOCOL: StreamProtocol = StreamProtocol::new("/phantom-sync/kad/1");
/// The identify protocol version nodes announce.
pub const IDENTIFY_PROTOCOL: &str = "/phantom-sync/id/1";

/// Kademlia in server mode with the private protocol name and the replication factor k.
pub fn kademlia(
    key: &libp2p::identity::Keypair,
    factor: NonZeroUsize,
) -> kad::Behaviour<MemoryStore> {
    let peer_id = key.public().to_peer_id();
    let mut config = kad::Config::new(KADEMLIA_PROTOCOL);
    config.set_query_timeout(std::time::Duration::from_secs(10));
    config.set_replication_factor(factor);
    // Peers join the table only through `learn_node`, which checks their id's puzzle.
    config.set_kbucket_inserts(kad::BucketInserts::Manual);
    let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), config);
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// Identify, announcing this network's protocol version.
pub fn identify(key: &libp2p::identity::Keypair) -> identify::Behaviour {
    identify::Behaviour::new(identify::Config::new(
        IDENTIFY_PROTOCOL.into(),
        key.public(),
    ))
}

/// Adds a peer's addresses to the routing table if it is a node (speaks our Kademlia) whose
/// id solves the puzzle; devices are clients and stay out of it, and so do ids made cheaply.
pub fn learn_node(kad: &mut kad::Behaviour<MemoryStore>, peer: &PeerId, info: identify::Info) {
    if info.protocols.contains(&KADEMLIA_PROTOCOL) && is_costly_node_id(peer) {
        for address in info.listen_addrs {
            kad.add_address(peer, address);
        }
    }
}

/// The nodes a closest-peers lookup found, including the ones found before a timeout, but
/// none whose id skips the puzzle (another node may name any id it likes).
pub fn closest_found(result: Result<GetClosestPeersOk, GetClosestPeersError>) -> Vec<NodeInfo> {
    let peers = match result {
        Ok(ok) => ok.peers,
        Err(GetClosestPeersError::Timeout { peers, .. }) => peers,
    };
    peers
        .into_iter()
        .filter(|info| is_costly_node_id(&info.peer_id))
        .map(|info| NodeInfo {
            peer: info.peer_id,
            addresses: info.addrs,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::kad::{KBucketKey, RecordKey};
    use phantom_mailbox::MailboxAddress;
    use phantom_network::{closest_nodes, dht_key};

    /// Devices merge answers with `closest_nodes`; it must order nodes as Kademlia does.
    #[test]
    fn devices_order_nodes_by_kademlias_own_distance() {
        let peers: Vec<PeerId> = (0..40).map(|_| PeerId::random()).collect();
        for seed in 0..8u8 {
            let mailbox = MailboxAddress::from_bytes([seed; 32]);
            let target = KBucketKey::new(RecordKey::new(&dht_key(&mailbox)));
            let mut by_kademlia = peers.clone();
            by_kademlia.sort_by_key(|peer| target.distance(&KBucketKey::from(*peer)));
            let candidates = peers.iter().map(|peer| NodeInfo {
                peer: *peer,
                addresses: Vec::new(),
            });
            let ours: Vec<PeerId> = closest_nodes(&mailbox, candidates, 20)
                .into_iter()
                .map(|node| node.peer)
                .collect();
            assert_eq!(ours, by_kademlia[..20]);
        }
    }
}
