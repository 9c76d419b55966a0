//! The device's mailbox client: finds a mailbox's nodes by asking the nodes it knows
//! (`FindNodes`; devices run no Kademlia) and writes to and reads from all of them.
//!
//! A lookup asks up to [`NODES_ASKED`] known nodes and keeps the k closest of everything
//! they name ([`closest_nodes`]), so no single node picks a mailbox's nodes. A put goes to
//! the k closest nodes and succeeds at w acknowledgements ([`Replication`]); a
//! fetch asks them all, merges the answers ([`UnionRead`]) and sends each node the envelopes
//! it lacks. A mailbox's closest nodes are looked up once and remembered for
//! [`CLOSEST_NODES_TTL`] (or until one of them fails), and operations on a mailbox whose
//! lookup is under way wait for it rather than start their own. At most
//! [`MAX_PUTS_IN_FLIGHT`] puts are written at once and the rest wait their turn: libp2p
//! fails at once a request beyond 100 on one connection. The swarm runs in its own
//! task; [`MailboxClient`] is a cheap handle to it, which counts what it sent and read
//! ([`Traffic`]).
//!
//! [`closest_nodes`]: crate::closest_nodes
//! [`UnionRead`]: phantom_mailbox::replica::UnionRead
//!
//! ```
//! use libp2p::{Multiaddr, PeerId};
//! use phantom_mailbox::{envelope::Envelope, keys::{KeysError, MailboxKeys}};
//! use phantom_network::client::{connect_native, NetworkError, Traffic};
//! use phantom_network::Replication;
//!
//! // A bootstrap address names its node (`/p2p/`); starting dials no one yet.
//! let node: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{}", PeerId::random()).parse()?;
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let client = connect_native(&[node], Replication::default())?;
//!     // Keys that only name a mailbox cannot stamp a put: refused before any request.
//!     let stranger = MailboxKeys::public_only(*MailboxKeys::shared(&[1; 32]).public());
//!     let put = client.put(&stranger, Envelope::new(b"sealed".to_vec())?).await;
//!     assert_eq!(put, Err(NetworkError::Keys(KeysError::CannotWrite)));
//!     assert_eq!(client.traffic(), Traffic::default());
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//!
//! // Without `/p2p/`, an address names no node to ask.
//! let unnamed: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse()?;
//! let refused = connect_native(&[unnamed], Replication::default()).unwrap_err();
//! assert_eq!(refused, NetworkError::NoNodes);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod lookup;
mod operations;
mod task;
mod transport;

pub use lookup::{CLOSEST_NODES_TTL, NODES_ASKED};
pub use operations::MAX_PUTS_IN_FLIGHT;
#[cfg(target_arch = "wasm32")]
pub use transport::connect_browser;
#[cfg(not(target_arch = "wasm32"))]
pub use transport::connect_native;
pub use transport::{ClientBehaviour, ClientBehaviourEvent};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use libp2p::{Multiaddr, PeerId, Swarm};
use thiserror::Error;

use crate::{peer_of, Replication};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::{KeysError, MailboxKeys, MailboxPublicKeys, PutStamp};
use phantom_mailbox::replica::NodeCursor;
use task::Driver;

/// Why the client could not start, put or fetch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetworkError {
    /// libp2p's transport or behaviour could not be built; the text says why.
    #[error("could not start the network: {0}")]
    Setup(String),
    /// No bootstrap address names its node, or no node was found for the mailbox.
    #[error("no node of the mailbox network could be found")]
    NoNodes,
    /// Too few of the mailbox's nodes stored a put, even after a fresh lookup.
    #[error("only {acks} of the {needed} nodes needed stored the envelope")]
    QuorumNotReached {
        /// Nodes that stored the envelope.
        acks: usize,
        /// The write quorum, or the number of nodes found if that is smaller.
        needed: usize,
    },
    /// The network task no longer runs: the request could not reach it, or no answer came.
    #[error("the network task stopped")]
    Stopped,
    /// The mailbox's keys cannot sign what was asked: a put needs the writer's secret, a
    /// fetch the reader's.
    #[error(transparent)]
    Keys(#[from] KeysError),
}

impl NetworkError {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            NetworkError::Setup(_) => "network_setup",
            NetworkError::NoNodes => "no_nodes",
            NetworkError::QuorumNotReached { .. } => "quorum_not_reached",
            NetworkError::Stopped => "network_stopped",
            NetworkError::Keys(inner) => inner.code(),
        }
    }
}

/// Which nodes stored a put, and the number each gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    /// The nodes that stored the envelope until the quorum was reached, each with its
    /// number for it, in the order they answered.
    pub acks: Vec<(PeerId, u64)>,
}

/// What a fetch found across the mailbox's nodes.
#[derive(Debug, Clone)]
pub struct FetchResult {
    /// Every distinct envelope the nodes returned, in the order first seen.
    pub envelopes: Vec<Envelope>,
    /// Per node: the `after` to use next time.
    pub cursors: Vec<(PeerId, NodeCursor)>,
    /// Copies seen more than once (other nodes' copies, or replays).
    pub duplicates: usize,
    /// Envelopes sent back to nodes that lacked them.
    pub repaired: usize,
}

enum Command {
    Put {
        mailbox: MailboxPublicKeys,
        stamp: PutStamp,
        envelope: Envelope,
        reply: oneshot::Sender<Result<PutReceipt, NetworkError>>,
    },
    Fetch {
        mailbox: MailboxKeys,
        after: HashMap<PeerId, u64>,
        wait_ms: u32,
        reply: oneshot::Sender<Result<FetchResult, NetworkError>>,
    },
}

/// What a client sent and read since it started: how the network treated it, for a page
/// or a report to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Envelopes a quorum of their mailbox's nodes stored.
    pub stored: u64,
    /// Puts that did not reach their quorum (the caller keeps the envelope to try again).
    pub not_stored: u64,
    /// Envelopes read for the first time.
    pub fetched: u64,
    /// Copies dropped: the same envelope from several nodes, replayed by one, or read again.
    pub duplicates: u64,
    /// Envelopes sent back to nodes found without them.
    pub repaired: u64,
}

/// A handle to the client's network task.
#[derive(Debug, Clone)]
pub struct MailboxClient {
    commands: mpsc::UnboundedSender<Command>,
    peer_id: PeerId,
    traffic: Arc<Mutex<Traffic>>,
}

impl MailboxClient {
    /// A client on `swarm`, bootstrapping from `bootstrap` (addresses with `/p2p/`), and the
    /// task that drives it, for the caller's executor to run.
    pub fn start(
        mut swarm: Swarm<ClientBehaviour>,
        bootstrap: &[Multiaddr],
        replication: Replication,
    ) -> Result<(Self, impl std::future::Future<Output = ()>), NetworkError> {
        let mut known = Vec::new();
        for address in bootstrap {
            let Some(peer) = peer_of(address) else {
                continue;
            };
            swarm.add_peer_address(peer, address.clone());
            if !known.contains(&peer) {
                known.push(peer);
            }
        }
        if known.is_empty() {
            return Err(NetworkError::NoNodes);
        }
        let peer_id = *swarm.local_peer_id();
        let (commands, receiver) = mpsc::unbounded();
        Ok((
            Self {
                commands,
                peer_id,
                traffic: Arc::default(),
            },
            Driver::new(swarm, replication, known).run(receiver),
        ))
    }

    /// The peer id the client's requests come from.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// What the client has sent and read so far.
    pub fn traffic(&self) -> Traffic {
        *self
            .traffic
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count(&self, change: impl FnOnce(&mut Traffic)) {
        change(
            &mut self
                .traffic
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }

    /// Stores `envelope` on the mailbox's nodes, stamped now with the mailbox's writer key;
    /// done when a quorum holds it.
    pub async fn put(
        &self,
        mailbox: &MailboxKeys,
        envelope: Envelope,
    ) -> Result<PutReceipt, NetworkError> {
        let stamp = mailbox.stamp(&envelope.id(), unix_now())?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Put {
            mailbox: *mailbox.public(),
            stamp,
            envelope,
            reply,
        })?;
        let receipt = answer.await.map_err(|_| NetworkError::Stopped)?;
        self.count(|traffic| match &receipt {
            Ok(_) => traffic.stored += 1,
            Err(_) => traffic.not_stored += 1,
        });
        receipt
    }

    /// Reads the mailbox from all its nodes, after the given per-node cursors, with the
    /// mailbox's reader key. With a `wait`, nodes with nothing new hold the answer until
    /// something arrives.
    pub async fn fetch(
        &self,
        mailbox: &MailboxKeys,
        after: HashMap<PeerId, u64>,
        wait: Duration,
    ) -> Result<FetchResult, NetworkError> {
        if !mailbox.can_read() {
            return Err(KeysError::CannotRead.into());
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::Fetch {
            mailbox: mailbox.clone(),
            after,
            wait_ms: u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
            reply,
        })?;
        answer.await.map_err(|_| NetworkError::Stopped)?
    }

    fn send(&self, command: Command) -> Result<(), NetworkError> {
        self.commands
            .unbounded_send(command)
            .map_err(|_| NetworkError::Stopped)
    }
}

/// Seconds since the Unix epoch, the time stamps and fetch authorizations carry.
fn unix_now() -> u64 {
    web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl phantom_mailbox::transport::MailboxTransport for MailboxClient {
    async fn put(
        &self,
        mailbox: &phantom_mailbox::keys::MailboxKeys,
        envelope: Envelope,
    ) -> Result<(), phantom_mailbox::transport::TransportError> {
        use phantom_mailbox::transport::TransportError;
        match MailboxClient::put(self, mailbox, envelope).await {
            Ok(_) => Ok(()),
            Err(NetworkError::QuorumNotReached { .. }) => Err(TransportError::NotStored),
            Err(other) => Err(TransportError::Unreachable(other.to_string())),
        }
    }

    /// One answer from each node that holds the mailbox (at most 768 KiB each).
    async fn fetch_page(
        &self,
        mailbox: &phantom_mailbox::keys::MailboxKeys,
        cursor: &mut phantom_mailbox::transport::MailboxCursor,
        wait: Duration,
    ) -> Result<phantom_mailbox::transport::FetchedPage, phantom_mailbox::transport::TransportError>
    {
        use phantom_mailbox::transport::{FetchedPage, TransportError};
        let after = cursor
            .nodes()
            .filter_map(|bytes| PeerId::from_bytes(bytes).ok())
            .map(|peer| (peer, cursor.position(&peer.to_bytes())))
            .collect();
        let result = MailboxClient::fetch(self, mailbox, after, wait)
            .await
            .map_err(|e| TransportError::Unreachable(e.to_string()))?;
        let more = result.cursors.iter().any(|(_, c)| c.read_to < c.last_seq);
        for (peer, position) in &result.cursors {
            cursor.advance(&peer.to_bytes(), position.read_to);
        }
        let merged = result.envelopes.len();
        let envelopes: Vec<Envelope> = result
            .envelopes
            .into_iter()
            .filter(|envelope| cursor.first_sight(envelope))
            .collect();
        self.count(|traffic| {
            traffic.fetched += envelopes.len() as u64;
            traffic.duplicates += (result.duplicates + merged - envelopes.len()) as u64;
            traffic.repaired += result.repaired as u64;
        });
        Ok(FetchedPage { envelopes, more })
    }
}
