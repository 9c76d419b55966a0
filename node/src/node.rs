//! A DHT node: Kademlia routing in server mode, and the mailbox protocol over durable
//! storage. One task drives the libp2p swarm; requests are answered from [`EnvelopeStore`],
//! and a device's `FindNodes` from a Kademlia lookup.
//!
//! Devices write each envelope to the k nodes closest to the mailbox's DHT key. A node also
//! republishes what it holds to the current k closest nodes, so copies follow the network
//! as nodes come and go. A `Fetch` with a wait is held open until an envelope arrives.
//!
//! A put is stored only with a stamp of the mailbox's writer key, and a fetch answered only
//! with an authorization of its reader key made for this node (checked on the event loop):
//! a stranger can neither fill a mailbox nor list it.
//!
//! Puts go through two stages off the event loop, one group at a time in each: their stamps
//! are checked for a whole group at once, then the genuine ones are written in one durable
//! transaction. A group is checked while the one before it is written, and the puts that
//! arrive meanwhile wait for the next group. Each is acknowledged once its transaction is
//! on disk.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{connection_limits, identify, identity, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use phantom_mailbox::keys::{verify_fetch, verify_puts};
use phantom_mailbox::protocol::{
    MailboxRequest, MailboxResponse, Refusal, MAX_CLOCK_SKEW_SECS, MAX_FETCH,
};
use phantom_mailbox::MailboxAddress;
use phantom_network::codec::{MailboxCodec, ReadBudget, MAILBOX_PROTOCOL};
use phantom_network::{closest_nodes, dht_key, is_costly_node_id, peer_of, NodeInfo};
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio::time::interval;

use crate::fault::Fault;
use crate::rate::RateLimiter;
use crate::routing::{closest_found, learn_node};
use crate::storage::{EnvelopeStore, Incoming, Limits, Put, StorageError};

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("network setup: {0}")]
    Network(String),
}

/// Connections one peer may hold to a node at once (a device needs one; two nodes dialling
/// each other at the same moment, two).
const MAX_CONNECTIONS_PER_PEER: u32 = 4;
/// Connections from others a node holds at once, and handshakes it runs at once.
const MAX_INCOMING_CONNECTIONS: u32 = 256;
const MAX_PENDING_INCOMING: u32 = 64;
/// Streams one connection may have open, for every protocol together, and mailbox
/// requests in progress on it.
const MAX_STREAMS_PER_CONNECTION: usize = 256;
const MAX_REQUESTS_PER_CONNECTION: usize = 128;
/// The bytes of requests still being read, from every peer together: a hundred of the
/// largest at once.
const REQUEST_READ_BUDGET: usize = 100 * phantom_mailbox::protocol::MAX_REQUEST_LEN;
/// How long a request may take from its stream opening to its answer: a fetch's longest
/// wait and some margin.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// Replica copies on their way to other nodes at once, and how many are read from storage
/// at a time: a large mailbox is pushed in steps, inside every peer's request limit.
const MAX_REPLICAS_IN_FLIGHT: usize = 64;
const REPLICA_STEP: u32 = 16;
/// Envelope bytes of puts not yet answered, in every stage; puts beyond are refused as
/// unavailable, and their writers go to the mailbox's other nodes.
const MAX_HELD_PUT_BYTES: usize = 32 * 1024 * 1024;

#[derive(NetworkBehaviour)]
pub struct NodeBehaviour {
    limits: connection_limits::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    identify: identify::Behaviour,
    mailbox: request_response::Behaviour<MailboxCodec>,
}

pub struct NodeConfig {
    pub keypair: identity::Keypair,
    pub listen: Vec<Multiaddr>,
    /// Other nodes, each with its `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    pub data_dir: PathBuf,
    pub limits: Limits,
    /// k: how many of the closest nodes hold each mailbox; this node republishes to them.
    pub replication_factor: NonZeroUsize,
    pub republish_every: Duration,
    /// Requests a peer may make per second (burst: ten times that).
    pub requests_per_sec: u32,
    /// Misbehaviour to inject, for tests; `Fault::None` in real use.
    pub fault: Fault,
}

/// The deterministic identity of node number `seed` (test networks and demos): the first
/// key, trying counters in turn, whose id solves the node id puzzle.
pub fn keypair_from_seed(seed: u64) -> identity::Keypair {
    use sha2::{Digest, Sha256};
    costly_keypair((0u64..).map(|counter| {
        Sha256::new()
            .chain_update(b"phantom-node identity")
            .chain_update(seed.to_be_bytes())
            .chain_update(counter.to_be_bytes())
            .finalize()
            .into()
    }))
}

/// A fresh random identity that solves the node id puzzle.
pub fn random_keypair() -> identity::Keypair {
    costly_keypair(std::iter::repeat_with(|| {
        let mut secret = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut secret);
        secret
    }))
}

/// The first key made from `secrets` whose id solves the puzzle ([`is_costly_node_id`]).
fn costly_keypair(secrets: impl Iterator<Item = [u8; 32]>) -> identity::Keypair {
    secrets
        .filter_map(|mut secret| identity::Keypair::ed25519_from_bytes(&mut secret).ok())
        .find(|key| is_costly_node_id(&key.public().to_peer_id()))
        .unwrap_or_else(|| unreachable!("some key solves the puzzle"))
}

struct Waiter {
    mailbox: MailboxAddress,
    after: u64,
    limit: u32,
    deadline: Instant,
    channel: ResponseChannel<MailboxResponse>,
}

/// Puts waiting for their transaction: what to store, and where to answer.
#[derive(Default)]
struct PutGroup {
    puts: Vec<Incoming>,
    channels: Vec<ResponseChannel<MailboxResponse>>,
    bytes: usize,
}

impl PutGroup {
    fn push(&mut self, put: Incoming, channel: ResponseChannel<MailboxResponse>) {
        self.bytes += put.envelope.len();
        self.puts.push(put);
        self.channels.push(channel);
    }
}

/// A group whose stamps are being checked: its answers, and the puts with a verdict each.
struct Check {
    channels: Vec<ResponseChannel<MailboxResponse>>,
    bytes: usize,
    checked: JoinHandle<(Vec<Incoming>, Vec<bool>)>,
}

/// Per put of a group: what storing it did.
type GroupOutcome = Result<Vec<Result<Put, StorageError>>, StorageError>;

/// A group being written: its answers, and the transaction's outcome per put.
struct Commit {
    channels: Vec<ResponseChannel<MailboxResponse>>,
    mailboxes: HashSet<MailboxAddress>,
    bytes: usize,
    written: JoinHandle<GroupOutcome>,
}

pub struct Node {
    swarm: Swarm<NodeBehaviour>,
    store: Arc<EnvelopeStore>,
    /// Envelopes live this long: a stamp written longer ago is refused.
    ttl_secs: u64,
    waiting_puts: PutGroup,
    checking: Option<Check>,
    /// Checked and genuine, waiting for the transaction being written to end.
    genuine_puts: PutGroup,
    committing: Option<Commit>,
    /// Expired envelopes are dropped by the next transaction.
    prune_due: bool,
    waiters: Vec<Waiter>,
    rate: RateLimiter,
    republishing: HashMap<kad::QueryId, MailboxAddress>,
    /// Devices' `FindNodes`, each answered when its lookup ends.
    finding: HashMap<kad::QueryId, (MailboxAddress, ResponseChannel<MailboxResponse>)>,
    republish_queue: VecDeque<MailboxAddress>,
    /// Mailboxes being copied to their closest nodes: the targets, and the last envelope
    /// number sent so far.
    replicating: VecDeque<(MailboxAddress, Vec<PeerId>, u64)>,
    replicas_in_flight: HashSet<OutboundRequestId>,
    republish_every: Duration,
    replication_factor: NonZeroUsize,
    fault: Fault,
    /// How many answers this node gave: a hostile node misbehaves in turn.
    answers: usize,
    /// Answers a delaying node holds back, each until its time.
    held: VecDeque<(Instant, ResponseChannel<MailboxResponse>, MailboxResponse)>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Node {
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| NodeError::Network(format!("data dir: {e}")))?;
        let store = EnvelopeStore::open(&config.data_dir.join("envelopes.redb"), config.limits)?;
        let network = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
        let certificate = webrtc_certificate(&config.data_dir)?;
        let muxer = || {
            let mut config = yamux::Config::default();
            config.set_max_num_streams(MAX_STREAMS_PER_CONNECTION);
            config
        };
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                muxer,
            )
            .map_err(|e| network(&e))?
            .with_other_transport(|key| {
                libp2p_webrtc::tokio::Transport::new(key.clone(), certificate)
            })
            .map_err(|e| network(&e))?
            .with_dns()
            .map_err(|e| network(&e))?
            .with_websocket(noise::Config::new, muxer)
            .await
            .map_err(|e| network(&e))?
            .with_behaviour(|key| NodeBehaviour {
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
                        .with_max_established_incoming(Some(MAX_INCOMING_CONNECTIONS))
                        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING)),
                ),
                kad: crate::routing::kademlia(key, config.replication_factor),
                identify: crate::routing::identify(key),
                mailbox: request_response::Behaviour::with_codec(
                    MailboxCodec::with_budget(ReadBudget::new(REQUEST_READ_BUDGET)),
                    [(MAILBOX_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(REQUEST_TIMEOUT)
                        .with_max_concurrent_streams(MAX_REQUESTS_PER_CONNECTION),
                ),
            })
            .map_err(|e| network(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        for address in config.listen {
            swarm.listen_on(address).map_err(|e| network(&e))?;
        }
        for address in config.bootstrap {
            if let Some(peer) = peer_of(&address) {
                swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, address.clone());
                swarm.dial(address).map_err(|e| network(&e))?;
            }
        }
        Ok(Self {
            swarm,
            store: Arc::new(store),
            ttl_secs: config.limits.ttl_secs,
            waiting_puts: PutGroup::default(),
            checking: None,
            genuine_puts: PutGroup::default(),
            committing: None,
            prune_due: false,
            waiters: Vec::new(),
            rate: RateLimiter::new(config.requests_per_sec),
            republishing: HashMap::new(),
            finding: HashMap::new(),
            republish_queue: VecDeque::new(),
            replicating: VecDeque::new(),
            replicas_in_flight: HashSet::new(),
            republish_every: config.republish_every,
            replication_factor: config.replication_factor,
            fault: config.fault,
            answers: 0,
            held: VecDeque::new(),
        })
    }

    pub fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Serves until the process ends. Listening addresses are printed as `LISTEN <addr>`.
    pub async fn run(mut self) {
        let mut tick = interval(Duration::from_millis(100));
        let mut republish = interval(self.republish_every);
        let mut bootstrap = interval(Duration::from_secs(30));
        loop {
            let checked = futures::future::OptionFuture::from(
                self.checking.as_mut().map(|check| &mut check.checked),
            );
            let written = futures::future::OptionFuture::from(
                self.committing.as_mut().map(|commit| &mut commit.written),
            );
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                Some(outcome) = checked => self.on_checked(outcome),
                Some(outcome) = written => self.on_committed(outcome),
                _ = tick.tick() => {
                    self.expire_waiters();
                    self.release_held();
                }
                _ = republish.tick() => self.start_republish(),
                _ = bootstrap.tick() => {
                    // No known peers yet is fine: identify adds them as they connect.
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                }
            }
            self.start_commit();
            self.start_check();
        }
    }

    /// Checks the waiting puts' stamps off the event loop, unless a group is being checked
    /// or a checked one still waits for its transaction.
    fn start_check(&mut self) {
        if self.checking.is_some()
            || !self.genuine_puts.puts.is_empty()
            || self.waiting_puts.puts.is_empty()
        {
            return;
        }
        let PutGroup {
            puts,
            channels,
            bytes,
        } = std::mem::take(&mut self.waiting_puts);
        let checked = tokio::task::spawn_blocking(move || {
            let genuine = check_stamps(&puts);
            (puts, genuine)
        });
        self.checking = Some(Check {
            channels,
            bytes,
            checked,
        });
    }

    /// Refuses the puts whose stamps did not verify; the others wait for their transaction.
    fn on_checked(&mut self, outcome: Result<(Vec<Incoming>, Vec<bool>), tokio::task::JoinError>) {
        let Some(Check { channels, .. }) = self.checking.take() else {
            return;
        };
        let (puts, genuine) = match outcome {
            Ok(checked) => checked,
            Err(error) => {
                tracing::error!("the stamp check failed: {error}");
                for channel in channels {
                    self.respond(
                        channel,
                        MailboxResponse::Refused {
                            reason: Refusal::Unavailable,
                        },
                    );
                }
                return;
            }
        };
        for ((put, channel), genuine) in puts.into_iter().zip(channels).zip(genuine) {
            if genuine {
                self.genuine_puts.push(put, channel);
            } else {
                self.respond(
                    channel,
                    MailboxResponse::Refused {
                        reason: Refusal::Unauthorized,
                    },
                );
            }
        }
    }

    /// Envelope bytes of the puts not answered yet, whatever stage they are in.
    fn held_put_bytes(&self) -> usize {
        self.waiting_puts.bytes
            + self.checking.as_ref().map_or(0, |check| check.bytes)
            + self.genuine_puts.bytes
            + self.committing.as_ref().map_or(0, |commit| commit.bytes)
    }

    /// Writes the genuine puts (and drops what expired, when due) in one transaction off
    /// the event loop, unless one is being written already.
    fn start_commit(&mut self) {
        if self.committing.is_some() || (self.genuine_puts.puts.is_empty() && !self.prune_due) {
            return;
        }
        let PutGroup {
            puts,
            channels,
            bytes,
        } = std::mem::take(&mut self.genuine_puts);
        let prune = std::mem::take(&mut self.prune_due);
        let store = self.store.clone();
        let mailboxes = puts.iter().map(|put| put.mailbox.address()).collect();
        let written = tokio::task::spawn_blocking(move || {
            let now = unix_now();
            if prune {
                if let Err(error) = store.prune(now) {
                    tracing::error!("pruning expired envelopes failed: {error}");
                }
            }
            store.put_many(&puts, now)
        });
        self.committing = Some(Commit {
            channels,
            mailboxes,
            bytes,
            written,
        });
    }

    /// Answers each put of the group just written, and wakes the fetches waiting on it.
    fn on_committed(&mut self, outcome: Result<GroupOutcome, tokio::task::JoinError>) {
        let Some(Commit {
            channels,
            mailboxes,
            ..
        }) = self.committing.take()
        else {
            return;
        };
        let outcomes = match outcome {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(error)) => {
                tracing::error!("storing envelopes failed: {error}");
                Vec::new()
            }
            Err(error) => {
                tracing::error!("the storage task failed: {error}");
                Vec::new()
            }
        };
        let mut outcomes = outcomes.into_iter();
        for channel in channels {
            let response = match outcomes.next() {
                Some(Ok(put)) => MailboxResponse::Stored {
                    seq: put.seq,
                    duplicate: put.duplicate,
                },
                Some(Err(StorageError::TooLarge)) => MailboxResponse::Refused {
                    reason: Refusal::TooLarge,
                },
                _ => MailboxResponse::Refused {
                    reason: Refusal::Unavailable,
                },
            };
            self.respond(channel, response);
        }
        self.wake_waiters(&mailboxes);
    }

    fn on_event(&mut self, event: SwarmEvent<NodeBehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                println!("LISTEN {address}/p2p/{}", self.peer_id());
            }
            // Only other nodes join the routing table; devices are clients.
            SwarmEvent::Behaviour(NodeBehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => learn_node(&mut self.swarm.behaviour_mut().kad, &peer_id, info),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Mailbox(
                request_response::Event::Message {
                    peer,
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            )) => self.on_request(peer, request, channel),
            SwarmEvent::Behaviour(NodeBehaviourEvent::Kad(
                kad::Event::OutboundQueryProgressed {
                    id,
                    result: kad::QueryResult::GetClosestPeers(result),
                    step,
                    ..
                },
            )) if step.last => {
                if let Some(mailbox) = self.republishing.remove(&id) {
                    let peers = closest_found(result);
                    self.replicate(mailbox, peers.into_iter().map(|node| node.peer));
                } else if let Some((mailbox, channel)) = self.finding.remove(&id) {
                    self.answer_find_nodes(mailbox, channel, closest_found(result));
                }
            }
            // A replica push answered or failed makes room for the next; a lost copy is
            // pushed again next round.
            SwarmEvent::Behaviour(NodeBehaviourEvent::Mailbox(
                request_response::Event::Message {
                    message: request_response::Message::Response { request_id, .. },
                    ..
                }
                | request_response::Event::OutboundFailure { request_id, .. },
            )) => {
                self.replicas_in_flight.remove(&request_id);
                self.push_replicas();
            }
            _ => {}
        }
    }

    fn respond(&mut self, channel: ResponseChannel<MailboxResponse>, response: MailboxResponse) {
        let fault = self.fault.for_answer(self.answers);
        self.answers = self.answers.wrapping_add(1);
        let response = fault.apply(response);
        let hold = fault.hold();
        if hold.is_zero() {
            self.send(channel, response);
        } else {
            self.held
                .push_back((Instant::now() + hold, channel, response));
        }
    }

    fn send(&mut self, channel: ResponseChannel<MailboxResponse>, response: MailboxResponse) {
        // The peer may have gone; nothing is lost by not answering it.
        let _ = self
            .swarm
            .behaviour_mut()
            .mailbox
            .send_response(channel, response);
    }

    /// Sends the held answers whose time has come (they are held for the same time, so in
    /// order).
    fn release_held(&mut self) {
        let now = Instant::now();
        while self.held.front().is_some_and(|(due, _, _)| *due <= now) {
            if let Some((_, channel, response)) = self.held.pop_front() {
                self.send(channel, response);
            }
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request: MailboxRequest,
        channel: ResponseChannel<MailboxResponse>,
    ) {
        if !self.rate.allow(peer, Instant::now()) {
            return self.respond(
                channel,
                MailboxResponse::Refused {
                    reason: Refusal::RateLimited,
                },
            );
        }
        if let Err(reason) = self.check(&request) {
            return self.respond(channel, MailboxResponse::Refused { reason });
        }
        match request {
            MailboxRequest::Put {
                mailbox,
                stamp,
                envelope,
            } => {
                if self.held_put_bytes() + envelope.len() > MAX_HELD_PUT_BYTES {
                    return self.respond(
                        channel,
                        MailboxResponse::Refused {
                            reason: Refusal::Unavailable,
                        },
                    );
                }
                let put = Incoming {
                    mailbox,
                    stamp,
                    envelope,
                };
                self.waiting_puts.push(put, channel);
            }
            MailboxRequest::Fetch {
                mailbox,
                after,
                limit,
                wait_ms,
                ..
            } => {
                let mailbox = mailbox.address();
                let limit = limit.clamp(1, MAX_FETCH);
                match self.store.fetch(&mailbox, after, limit) {
                    Ok(fetched) if fetched.items.is_empty() && wait_ms > 0 => {
                        self.waiters.push(Waiter {
                            mailbox,
                            after,
                            limit,
                            deadline: Instant::now() + Duration::from_millis(wait_ms.into()),
                            channel,
                        });
                    }
                    Ok(fetched) => self.respond(
                        channel,
                        MailboxResponse::Envelopes {
                            items: fetched.items,
                            last_seq: fetched.last_seq,
                        },
                    ),
                    Err(error) => {
                        tracing::error!("fetching envelopes failed: {error}");
                        self.respond(
                            channel,
                            MailboxResponse::Refused {
                                reason: Refusal::Unavailable,
                            },
                        );
                    }
                }
            }
            MailboxRequest::FindNodes { mailbox } => {
                let query = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_closest_peers(dht_key(&mailbox));
                self.finding.insert(query, (mailbox, channel));
            }
        }
    }

    /// Whether the request may be served: a put's stamp was written within the time to
    /// live (and not far in the future: its signature is checked with its group); a fetch's
    /// authorization is the mailbox reader's, for this node, issued about now.
    fn check(&self, request: &MailboxRequest) -> Result<(), Refusal> {
        let now = unix_now();
        match request {
            MailboxRequest::Put { stamp, .. } => {
                let written = stamp.written_at;
                if written > now.saturating_add(MAX_CLOCK_SKEW_SECS)
                    || written < now.saturating_sub(self.ttl_secs)
                {
                    return Err(Refusal::OutOfTime);
                }
                Ok(())
            }
            MailboxRequest::Fetch {
                mailbox,
                issued_at,
                authorization,
                ..
            } => {
                if issued_at.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
                    return Err(Refusal::OutOfTime);
                }
                let node = self.peer_id().to_bytes();
                verify_fetch(mailbox, &node, *issued_at, authorization)
                    .map_err(|_| Refusal::Unauthorized)
            }
            MailboxRequest::FindNodes { .. } => Ok(()),
        }
    }

    /// The k closest of the nodes a lookup found and this node itself, with their addresses.
    fn answer_find_nodes(
        &mut self,
        mailbox: MailboxAddress,
        channel: ResponseChannel<MailboxResponse>,
        found: Vec<NodeInfo>,
    ) {
        let own = NodeInfo {
            peer: self.peer_id(),
            addresses: self.swarm.listeners().cloned().collect(),
        };
        let nodes = closest_nodes(
            &mailbox,
            found.into_iter().chain([own]),
            self.replication_factor.get(),
        );
        let nodes = nodes.iter().map(NodeInfo::to_record).collect();
        self.respond(channel, MailboxResponse::Nodes { nodes });
    }

    /// Answers the fetches held open on `mailboxes`, now that they have something new: one
    /// pass over the waiters, however many mailboxes a group wrote to.
    fn wake_waiters(&mut self, mailboxes: &HashSet<MailboxAddress>) {
        let (ready, waiting): (Vec<Waiter>, Vec<Waiter>) = self
            .waiters
            .drain(..)
            .partition(|waiter| mailboxes.contains(&waiter.mailbox));
        self.waiters = waiting;
        for waiter in ready {
            self.answer(waiter);
        }
    }

    fn expire_waiters(&mut self) {
        let now = Instant::now();
        let (expired, waiting): (Vec<Waiter>, Vec<Waiter>) = self
            .waiters
            .drain(..)
            .partition(|waiter| waiter.deadline <= now || !waiter.channel.is_open());
        self.waiters = waiting;
        for waiter in expired {
            self.answer(waiter);
        }
    }

    fn answer(&mut self, waiter: Waiter) {
        let response = match self
            .store
            .fetch(&waiter.mailbox, waiter.after, waiter.limit)
        {
            Ok(fetched) => MailboxResponse::Envelopes {
                items: fetched.items,
                last_seq: fetched.last_seq,
            },
            Err(_) => MailboxResponse::Refused {
                reason: Refusal::Unavailable,
            },
        };
        self.respond(waiter.channel, response);
    }

    /// Looks up the current closest nodes of one held mailbox per round, round-robin.
    fn start_republish(&mut self) {
        self.prune_due = true;
        if self.republish_queue.is_empty() {
            match self.store.mailboxes() {
                Ok(mailboxes) => self.republish_queue.extend(mailboxes),
                Err(error) => tracing::error!("listing mailboxes failed: {error}"),
            }
        }
        for _ in 0..16 {
            let Some(mailbox) = self.republish_queue.pop_front() else {
                break;
            };
            let query = self
                .swarm
                .behaviour_mut()
                .kad
                .get_closest_peers(dht_key(&mailbox));
            self.republishing.insert(query, mailbox);
        }
    }

    /// Queues every envelope of `mailbox` for the closest nodes; they keep one copy of each.
    fn replicate(&mut self, mailbox: MailboxAddress, peers: impl Iterator<Item = PeerId>) {
        let own = self.peer_id();
        let targets: Vec<PeerId> = peers
            .filter(|p| *p != own)
            .take(self.replication_factor.get())
            .collect();
        let queued = self
            .replicating
            .iter()
            .any(|(queued, _, _)| *queued == mailbox);
        if !targets.is_empty() && !queued {
            self.replicating.push_back((mailbox, targets, 0));
            self.push_replicas();
        }
    }

    /// Sends queued replica copies, a step of a mailbox at a time, while there is room.
    fn push_replicas(&mut self) {
        while self.replicas_in_flight.len() < MAX_REPLICAS_IN_FLIGHT {
            let Some((mailbox, targets, after)) = self.replicating.pop_front() else {
                return;
            };
            let Ok(fetched) = self.store.fetch(&mailbox, after, REPLICA_STEP) else {
                continue;
            };
            let Some(last) = fetched.items.last().map(|item| item.seq) else {
                continue;
            };
            for item in fetched.items {
                for peer in &targets {
                    let request = MailboxRequest::Put {
                        mailbox: fetched.mailbox,
                        stamp: item.stamp,
                        envelope: item.envelope.clone(),
                    };
                    let id = self
                        .swarm
                        .behaviour_mut()
                        .mailbox
                        .send_request(peer, request);
                    self.replicas_in_flight.insert(id);
                }
            }
            self.replicating.push_back((mailbox, targets, last));
        }
    }
}

/// Whether each put's stamp lets its envelope into its mailbox, in order.
fn check_stamps(puts: &[Incoming]) -> Vec<bool> {
    let ids: Vec<_> = puts.iter().map(|put| put.envelope.id()).collect();
    let checks: Vec<_> = puts
        .iter()
        .zip(&ids)
        .map(|(put, id)| (&put.mailbox, id, &put.stamp))
        .collect();
    verify_puts(&checks)
}

/// WebRTC-direct needs a certificate; its hash is in the node's address, so it is kept
/// with the data and the address stays the same across restarts.
fn webrtc_certificate(
    data_dir: &std::path::Path,
) -> Result<libp2p_webrtc::tokio::Certificate, NodeError> {
    use libp2p_webrtc::tokio::Certificate;
    let path = data_dir.join("webrtc-certificate.pem");
    let failed = |e: &dyn std::fmt::Display| NodeError::Network(format!("WebRTC certificate: {e}"));
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return Certificate::from_pem(&pem).map_err(|e| failed(&e));
    }
    let certificate = Certificate::generate(&mut rand_core::UnwrapErr(getrandom::SysRng))
        .map_err(|e| failed(&e))?;
    std::fs::write(&path, certificate.serialize_pem()).map_err(|e| failed(&e))?;
    Ok(certificate)
}
