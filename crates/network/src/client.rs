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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use web_time::Instant;

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm};
use thiserror::Error;

use crate::codec::{MailboxCodec, MAILBOX_PROTOCOL};
use crate::{closest_nodes, peer_of, NodeInfo, Replication};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::{verify_put, KeysError, MailboxKeys, MailboxPublicKeys, PutStamp};
use phantom_mailbox::protocol::{MailboxRequest, MailboxResponse, MAX_FETCH};
use phantom_mailbox::replica::{NodeCursor, Progress, QuorumWrite, UnionRead};
use phantom_mailbox::MailboxAddress;

/// How long a lookup's closest nodes are trusted before the next operation looks again.
pub const CLOSEST_NODES_TTL: Duration = Duration::from_secs(30);
/// How many known nodes one lookup asks.
pub const NODES_ASKED: usize = 3;
/// Puts written at once, counting those whose slower nodes have yet to answer; beyond,
/// puts wait in order. Each sends one request per node, so no node's connection carries
/// more than this many puts.
pub const MAX_PUTS_IN_FLIGHT: usize = 64;

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

/// The client's libp2p behaviour: the mailbox protocol, outbound only (a device answers no
/// requests), with a 45-second request timeout so that a fetch's longest wait fits.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "ClientBehaviourEvent")]
pub struct ClientBehaviour {
    mailbox: request_response::Behaviour<MailboxCodec>,
}

/// What [`ClientBehaviour`] reports to its swarm.
// Written out rather than generated by the derive, whose variants carry no docs.
#[derive(Debug)]
pub enum ClientBehaviourEvent {
    /// A mailbox request's response or failure, or another event of the protocol.
    Mailbox(request_response::Event<MailboxRequest, MailboxResponse>),
}

impl From<request_response::Event<MailboxRequest, MailboxResponse>> for ClientBehaviourEvent {
    fn from(event: request_response::Event<MailboxRequest, MailboxResponse>) -> Self {
        Self::Mailbox(event)
    }
}

impl Default for ClientBehaviour {
    fn default() -> Self {
        Self {
            mailbox: request_response::Behaviour::new(
                [(MAILBOX_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(45)),
            ),
        }
    }
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

/// Native clients: TCP to the nodes, on the Tokio runtime.
#[cfg(not(target_arch = "wasm32"))]
pub fn connect_native(
    bootstrap: &[Multiaddr],
    replication: Replication,
) -> Result<MailboxClient, NetworkError> {
    use libp2p::{noise, tcp, yamux};
    let swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Setup(e.to_string()))?
        .with_behaviour(|_| ClientBehaviour::default())
        .map_err(|e| NetworkError::Setup(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    let (client, task) = MailboxClient::start(swarm, bootstrap, replication)?;
    tokio::spawn(task);
    Ok(client)
}

/// Browser clients, on the page's event loop, over one transport: WebSocket when the
/// bootstrap list names `/ws` nodes, WebRTC-direct (no certificate needed) otherwise; the
/// addresses of the other kind are left out.
///
/// Never both: with both, a dial races a node's WebSocket and WebRTC-direct addresses, and
/// over libp2p 0.57's WebRTC-direct between Chromium and the nodes' webrtc-rs, stream
/// writes of 8 KiB or more fail (`BrokenPipe`), so a large put would fail or succeed by
/// which dial won. Over WebRTC-direct only envelopes under that size get through.
#[cfg(target_arch = "wasm32")]
pub fn connect_browser(
    bootstrap: &[Multiaddr],
    replication: Replication,
) -> Result<MailboxClient, NetworkError> {
    use libp2p::core::muxing::StreamMuxerBox;
    use libp2p::core::upgrade::Version;
    use libp2p::{noise, webrtc_websys, websocket_websys, yamux, Transport};
    let setup = |e: &dyn std::fmt::Display| NetworkError::Setup(e.to_string());
    let over_websocket = bootstrap.iter().any(is_websocket);
    let bootstrap: Vec<Multiaddr> = bootstrap
        .iter()
        .filter(|address| is_websocket(address) == over_websocket)
        .cloned()
        .collect();
    let swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_wasm_bindgen()
        .with_other_transport(|key| {
            if !over_websocket {
                return Ok(
                    webrtc_websys::Transport::new(webrtc_websys::Config::new(key))
                        .map(|(peer, connection), _| (peer, StreamMuxerBox::new(connection)))
                        .boxed(),
                );
            }
            let noise = noise::Config::new(key)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(websocket_websys::Transport::default()
                .upgrade(Version::V1)
                .authenticate(noise)
                .multiplex(yamux::Config::default())
                .map(|(peer, connection), _| (peer, StreamMuxerBox::new(connection)))
                .boxed())
        })
        .map_err(|e| setup(&e))?
        .with_behaviour(|_| ClientBehaviour::default())
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    let (client, task) = MailboxClient::start(swarm, &bootstrap, replication)?;
    wasm_bindgen_futures::spawn_local(task);
    Ok(client)
}

#[cfg(target_arch = "wasm32")]
fn is_websocket(address: &Multiaddr) -> bool {
    address
        .iter()
        .any(|protocol| matches!(protocol, libp2p::multiaddr::Protocol::Ws(_)))
}

/// An operation waiting for its mailbox's closest nodes.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Put(u64),
    Fetch(u64),
}

struct PutOp {
    mailbox: MailboxPublicKeys,
    stamp: PutStamp,
    envelope: Envelope,
    write: Option<QuorumWrite<PeerId>>,
    /// Whether it already went back for a fresh lookup after remembered nodes failed it.
    retried: bool,
    reply: Option<oneshot::Sender<Result<PutReceipt, NetworkError>>>,
}

struct FetchOp {
    mailbox: MailboxKeys,
    after: HashMap<PeerId, u64>,
    wait_ms: u32,
    union: UnionRead<PeerId>,
    outstanding: usize,
    answered: usize,
    retried: bool,
    reply: Option<oneshot::Sender<Result<FetchResult, NetworkError>>>,
}

/// What the client knows of a mailbox's nodes: the last lookup's answer, and the lookup in
/// progress.
#[derive(Default)]
struct MailboxNodes {
    closest: Option<ClosestNodes>,
    lookup: Option<Lookup>,
}

/// A lookup's answer, kept for the next operations on the same mailbox.
struct ClosestNodes {
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

/// Operations in flight by id: a few dozen at most, so a list (smaller in the browser's
/// package than another hash map).
struct Ops<T>(Vec<(u64, T)>);

impl<T> Ops<T> {
    fn insert(&mut self, id: u64, op: T) {
        self.0.push((id, op));
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        self.0
            .iter_mut()
            .find(|(op, _)| *op == id)
            .map(|(_, op)| op)
    }

    fn contains(&self, id: u64) -> bool {
        self.0.iter().any(|(op, _)| *op == id)
    }

    fn remove(&mut self, id: u64) -> Option<T> {
        let index = self.0.iter().position(|(op, _)| *op == id)?;
        Some(self.0.swap_remove(index).1)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// What a request in flight is for.
enum Request {
    /// A lookup's `FindNodes` for this mailbox.
    FindNodes(MailboxAddress),
    /// Operation `op`'s request to `peer`, a fetch's after `after`.
    Op { op: u64, peer: PeerId, after: u64 },
}

impl Request {
    fn is_for(&self, op_id: u64) -> bool {
        matches!(self, Request::Op { op, .. } if *op == op_id)
    }
}

struct Driver {
    swarm: Swarm<ClientBehaviour>,
    replication: Replication,
    /// The nodes this client was given; lookups ask them, a few at a time in turn.
    known: Vec<PeerId>,
    next_asked: usize,
    next_op: u64,
    mailboxes: HashMap<MailboxAddress, MailboxNodes>,
    puts: Ops<PutOp>,
    /// Puts waiting for one of [`MAX_PUTS_IN_FLIGHT`] to finish.
    queued_puts: VecDeque<Command>,
    fetches: Ops<FetchOp>,
    requests: HashMap<OutboundRequestId, Request>,
}

impl Driver {
    fn new(swarm: Swarm<ClientBehaviour>, replication: Replication, known: Vec<PeerId>) -> Self {
        Self {
            swarm,
            replication,
            known,
            next_asked: 0,
            next_op: 0,
            mailboxes: HashMap::new(),
            puts: Ops(Vec::new()),
            queued_puts: VecDeque::new(),
            fetches: Ops(Vec::new()),
            requests: HashMap::new(),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            futures::select! {
                command = commands.next() => match command {
                    Some(command) => self.on_command(command),
                    None => return,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
            }
            while self.puts.len() < MAX_PUTS_IN_FLIGHT {
                let Some(put) = self.queued_puts.pop_front() else {
                    break;
                };
                self.on_command(put);
            }
        }
    }

    fn op_id(&mut self) -> u64 {
        self.next_op += 1;
        self.next_op
    }

    fn on_command(&mut self, command: Command) {
        if matches!(command, Command::Put { .. }) && self.puts.len() >= MAX_PUTS_IN_FLIGHT {
            return self.queued_puts.push_back(command);
        }
        let id = self.op_id();
        let (mailbox, pending) = match command {
            Command::Put {
                mailbox,
                stamp,
                envelope,
                reply,
            } => {
                let address = mailbox.address();
                self.puts.insert(
                    id,
                    PutOp {
                        mailbox,
                        stamp,
                        envelope,
                        write: None,
                        retried: false,
                        reply: Some(reply),
                    },
                );
                (address, Pending::Put(id))
            }
            Command::Fetch {
                mailbox,
                after,
                wait_ms,
                reply,
            } => {
                let address = mailbox.address();
                self.fetches.insert(
                    id,
                    FetchOp {
                        mailbox,
                        after,
                        wait_ms,
                        union: UnionRead::new(),
                        outstanding: 0,
                        answered: 0,
                        retried: false,
                        reply: Some(reply),
                    },
                );
                (address, Pending::Fetch(id))
            }
        };
        self.route(mailbox, pending);
    }

    /// Starts `pending` on the mailbox's remembered nodes, or once a lookup finds them.
    fn route(&mut self, mailbox: MailboxAddress, pending: Pending) {
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

    fn on_nodes(&mut self, mailbox: MailboxAddress, response: Option<MailboxResponse>) {
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

    fn start(&mut self, pending: Pending, peers: Vec<PeerId>) {
        match pending {
            Pending::Put(op) => self.start_put(op, peers),
            Pending::Fetch(op) => self.start_fetch(op, peers),
        }
    }

    /// A node that failed to answer is no longer trusted as one of any mailbox's closest.
    fn forget_node(&mut self, peer: &PeerId) {
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

    fn on_event(&mut self, event: SwarmEvent<ClientBehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                },
            )) => self.on_response(request_id, Some(response)),
            SwarmEvent::Behaviour(ClientBehaviourEvent::Mailbox(
                request_response::Event::OutboundFailure {
                    request_id, peer, ..
                },
            )) => {
                self.forget_node(&peer);
                self.on_response(request_id, None);
            }
            _ => {}
        }
    }

    fn start_put(&mut self, op_id: u64, closest: Vec<PeerId>) {
        let Some(op) = self.puts.get_mut(op_id) else {
            return;
        };
        if closest.is_empty() {
            if let Some(reply) = op.reply.take() {
                let _ = reply.send(Err(NetworkError::NoNodes));
            }
            self.puts.remove(op_id);
            return;
        }
        let request = MailboxRequest::Put {
            mailbox: op.mailbox,
            stamp: op.stamp,
            envelope: op.envelope.clone(),
        };
        op.write = Some(QuorumWrite::new(
            closest.clone(),
            self.replication.write_quorum(),
        ));
        for peer in closest {
            let id = self
                .swarm
                .behaviour_mut()
                .mailbox
                .send_request(&peer, request.clone());
            self.requests.insert(
                id,
                Request::Op {
                    op: op_id,
                    peer,
                    after: 0,
                },
            );
        }
    }

    fn start_fetch(&mut self, op_id: u64, closest: Vec<PeerId>) {
        let Some(op) = self.fetches.get_mut(op_id) else {
            return;
        };
        if closest.is_empty() {
            if let Some(reply) = op.reply.take() {
                let _ = reply.send(Err(NetworkError::NoNodes));
            }
            self.fetches.remove(op_id);
            return;
        }
        op.outstanding = closest.len();
        let issued_at = unix_now();
        let requests: Vec<(PeerId, u64, MailboxRequest)> = closest
            .into_iter()
            .filter_map(|peer| {
                let after = op.after.get(&peer).copied().unwrap_or(0);
                // Readable: `MailboxClient::fetch` checked it.
                let authorization = op
                    .mailbox
                    .authorize_fetch(&peer.to_bytes(), issued_at)
                    .ok()?;
                let request = MailboxRequest::Fetch {
                    mailbox: *op.mailbox.public(),
                    issued_at,
                    authorization,
                    after,
                    limit: MAX_FETCH,
                    wait_ms: op.wait_ms,
                };
                Some((peer, after, request))
            })
            .collect();
        for (peer, after, request) in requests {
            let id = self
                .swarm
                .behaviour_mut()
                .mailbox
                .send_request(&peer, request);
            self.requests.insert(
                id,
                Request::Op {
                    op: op_id,
                    peer,
                    after,
                },
            );
        }
    }

    fn on_response(&mut self, request_id: OutboundRequestId, response: Option<MailboxResponse>) {
        let (op_id, peer, after) = match self.requests.remove(&request_id) {
            Some(Request::FindNodes(mailbox)) => return self.on_nodes(mailbox, response),
            Some(Request::Op { op, peer, after }) => (op, peer, after),
            None => return,
        };
        if self.puts.contains(op_id) {
            self.on_put_response(op_id, peer, response);
        } else if self.fetches.contains(op_id) {
            self.on_fetch_response(op_id, peer, after, response);
        }
    }

    /// Sends an operation whose remembered nodes failed it through a fresh lookup, once.
    fn retry(&mut self, op_id: u64, mailbox: MailboxAddress, pending: Pending) {
        self.requests.retain(|_, request| !request.is_for(op_id));
        if let Some(nodes) = self.mailboxes.get_mut(&mailbox) {
            nodes.closest = None;
        }
        self.route(mailbox, pending);
    }

    fn on_put_response(&mut self, op_id: u64, peer: PeerId, response: Option<MailboxResponse>) {
        let Some(op) = self.puts.get_mut(op_id) else {
            return;
        };
        let Some(write) = op.write.as_mut() else {
            return;
        };
        let progress = match response {
            Some(MailboxResponse::Stored { seq, .. }) => write.on_ack(&peer, seq),
            _ => write.on_failure(&peer),
        };
        let finished = match progress {
            Progress::Pending => return,
            Progress::Reached => Ok(PutReceipt {
                acks: write.acks().to_vec(),
            }),
            Progress::Impossible if !op.retried => {
                op.retried = true;
                op.write = None;
                let mailbox = op.mailbox.address();
                return self.retry(op_id, mailbox, Pending::Put(op_id));
            }
            Progress::Impossible => Err(NetworkError::QuorumNotReached {
                acks: write.acks().len(),
                needed: self.replication.write_quorum().min(write.targets().len()),
            }),
        };
        if let Some(reply) = op.reply.take() {
            let _ = reply.send(finished);
        }
        let all_answered = !self.requests.values().any(|request| request.is_for(op_id));
        if all_answered {
            self.puts.remove(op_id);
        }
    }

    fn on_fetch_response(
        &mut self,
        op_id: u64,
        peer: PeerId,
        after: u64,
        response: Option<MailboxResponse>,
    ) {
        let Some(op) = self.fetches.get_mut(op_id) else {
            return;
        };
        op.outstanding = op.outstanding.saturating_sub(1);
        // A refusal or a failure is one node fewer; the others answer.
        if let Some(MailboxResponse::Envelopes { items, last_seq }) = response {
            op.union.add(peer, after, items, last_seq);
            op.answered += 1;
        }
        if op.outstanding == 0 && op.answered == 0 && !op.retried {
            op.retried = true;
            let mailbox = op.mailbox.address();
            return self.retry(op_id, mailbox, Pending::Fetch(op_id));
        }
        // A waiting fetch is answered as soon as one node has something new.
        let early = op.wait_ms > 0 && !op.union.envelopes().is_empty();
        if op.outstanding > 0 && !early {
            return;
        }
        let Some(op) = self.fetches.remove(op_id) else {
            return;
        };
        let public = *op.mailbox.public();
        let repairs = op
            .union
            .repairs(|id, stamp| verify_put(&public, id, stamp).is_ok());
        for (peer, envelope, stamp) in &repairs {
            let request = MailboxRequest::Put {
                mailbox: public,
                stamp: *stamp,
                envelope: envelope.clone(),
            };
            self.swarm
                .behaviour_mut()
                .mailbox
                .send_request(peer, request);
        }
        self.requests.retain(|_, request| !request.is_for(op_id));
        if let Some(reply) = op.reply {
            let _ = reply.send(Ok(FetchResult {
                cursors: op.union.cursors().to_vec(),
                duplicates: op.union.duplicates(),
                repaired: repairs.len(),
                envelopes: op.union.into_envelopes(),
            }));
        }
    }
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
