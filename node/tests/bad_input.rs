//! Hostile input to a real node: oversized frames, malformed requests and a flood from one
//! peer get an error or a rate limit, while the node keeps serving others and keeps what it
//! stored.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::{MailboxKeys, PutStamp};
use phantom_mailbox::protocol::{MailboxRequest, MailboxResponse, Refusal};
use phantom_mailbox::MailboxAddress;
use phantom_network::codec::{MailboxCodec, MAILBOX_PROTOCOL};
use phantom_node::testnet::TestNode;

/// Writes whatever bytes it is given, length prefix included, so tests can lie.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        io.read_to_end(&mut bytes).await?;
        Ok(bytes)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        io.take(1 << 20).read_to_end(&mut bytes).await?;
        Ok(bytes)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&request).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&response).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Prober {
    raw: request_response::Behaviour<RawCodec>,
    mailbox: request_response::Behaviour<MailboxCodec>,
}

fn prober() -> Swarm<Prober> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| Prober {
            raw: request_response::Behaviour::new(
                [(MAILBOX_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            ),
            mailbox: request_response::Behaviour::new(
                [(MAILBOX_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(10))
                    .with_max_concurrent_streams(4096),
            ),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

fn start_node(data: &std::path::Path, rate: u32) -> (TestNode, Multiaddr, PeerId) {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let rate = rate.to_string();
    let node = TestNode::start(
        binary,
        77,
        data,
        "/ip4/127.0.0.1/tcp/0",
        &[],
        &["--rate", &rate],
    );
    let (address, peer) = (node.address.clone(), node.peer);
    (node, address, peer)
}

/// Sends `requests` and collects one outcome per request: a response, or an error.
async fn exchange(
    swarm: &mut Swarm<Prober>,
    peer: PeerId,
    raw: Vec<Vec<u8>>,
    mailbox: Vec<MailboxRequest>,
) -> (
    Vec<Result<Vec<u8>, String>>,
    Vec<Result<MailboxResponse, String>>,
) {
    let raw_ids: Vec<_> = raw
        .into_iter()
        .map(|bytes| swarm.behaviour_mut().raw.send_request(&peer, bytes))
        .collect();
    let mailbox_ids: Vec<_> = mailbox
        .into_iter()
        .map(|request| swarm.behaviour_mut().mailbox.send_request(&peer, request))
        .collect();
    let mut raw_out = std::collections::HashMap::new();
    let mut mailbox_out = std::collections::HashMap::new();
    while raw_out.len() < raw_ids.len() || mailbox_out.len() < mailbox_ids.len() {
        match tokio::time::timeout(Duration::from_secs(30), swarm.select_next_some())
            .await
            .expect("the node answers in time")
        {
            SwarmEvent::Behaviour(ProberEvent::Raw(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => {
                raw_out.insert(request_id, Ok(response));
            }
            SwarmEvent::Behaviour(ProberEvent::Raw(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            })) => {
                raw_out.insert(request_id, Err(error.to_string()));
            }
            SwarmEvent::Behaviour(ProberEvent::Mailbox(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => {
                mailbox_out.insert(request_id, Ok(response));
            }
            SwarmEvent::Behaviour(ProberEvent::Mailbox(
                request_response::Event::OutboundFailure {
                    request_id, error, ..
                },
            )) => {
                mailbox_out.insert(request_id, Err(error.to_string()));
            }
            _ => {}
        }
    }
    (
        raw_ids
            .iter()
            .map(|id| raw_out.remove(id).expect("an outcome"))
            .collect(),
        mailbox_ids
            .iter()
            .map(|id| mailbox_out.remove(id).expect("an outcome"))
            .collect(),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A put of `envelope` stamped now with the mailbox's writer key, as a device makes it.
fn put_envelope(mailbox: &MailboxKeys, envelope: Envelope) -> MailboxRequest {
    MailboxRequest::Put {
        mailbox: *mailbox.public(),
        stamp: mailbox.stamp(&envelope.id(), now()).expect("writable"),
        envelope,
    }
}

fn put(mailbox: &MailboxKeys, text: &str) -> MailboxRequest {
    put_envelope(
        mailbox,
        Envelope::new(text.as_bytes().to_vec()).expect("small"),
    )
}

/// A fetch from the start, authorized now for the node `node` with the reader key.
fn fetch_after(mailbox: &MailboxKeys, node: &PeerId, after: u64) -> MailboxRequest {
    let issued_at = now();
    MailboxRequest::Fetch {
        mailbox: *mailbox.public(),
        issued_at,
        authorization: mailbox
            .authorize_fetch(&node.to_bytes(), issued_at)
            .expect("readable"),
        after,
        limit: 10,
        wait_ms: 0,
    }
}

fn fetch(mailbox: &MailboxKeys, node: &PeerId) -> MailboxRequest {
    fetch_after(mailbox, node, 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_frames_are_refused_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_node, address, peer) = start_node(dir.path(), 1000);
    let mut swarm = prober();
    swarm.dial(address).expect("dials");
    let mailbox = MailboxKeys::shared(&[7; 32]);

    let (_, stored) = exchange(&mut swarm, peer, vec![], vec![put(&mailbox, "kept")]).await;
    assert!(matches!(
        stored[0],
        Ok(MailboxResponse::Stored { seq: 1, .. })
    ));

    let mut claims_a_gigabyte = (1u32 << 30).to_be_bytes().to_vec();
    claims_a_gigabyte.extend_from_slice(&[0; 64]);
    let mut garbage = 12u32.to_be_bytes().to_vec();
    garbage.extend_from_slice(b"not a frame!");
    let mut too_large_envelope =
        put_envelope(&mailbox, Envelope::new(vec![0; 1000]).expect("small")).encode();
    // Claim an envelope far over the limit inside a frame of honest length.
    let length_at = too_large_envelope.len() - 1000 - 4;
    too_large_envelope[length_at..length_at + 4].copy_from_slice(&(10u32 << 20).to_be_bytes());
    let mut framed = (too_large_envelope.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&too_large_envelope);

    let (raw, _) = exchange(
        &mut swarm,
        peer,
        vec![claims_a_gigabyte, garbage, framed],
        vec![],
    )
    .await;
    for (i, outcome) in raw.iter().enumerate() {
        assert!(
            outcome.as_ref().map_or(true, |bytes| bytes.is_empty()),
            "bad request {i} got no answer but a closed stream: {outcome:?}"
        );
    }

    let (_, after) = exchange(&mut swarm, peer, vec![], vec![fetch(&mailbox, &peer)]).await;
    let Ok(MailboxResponse::Envelopes { items, .. }) = &after[0] else {
        panic!("the node still answers: {after:?}");
    };
    assert_eq!(items.len(), 1, "what was stored is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_peer_is_rate_limited_while_others_are_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_node, address, peer) = start_node(dir.path(), 20);
    let mailbox = MailboxKeys::shared(&[8; 32]);
    let mut flooder = prober();
    flooder.dial(address.clone()).expect("dials");
    // In rounds of 100, inside the requests one connection may have in progress, so that
    // the rate limit is what answers.
    let mut answers = Vec::new();
    for round in 0..4 {
        let flood: Vec<MailboxRequest> = (0..100)
            .map(|n| put(&mailbox, &format!("flood {round} {n}")))
            .collect();
        answers.extend(exchange(&mut flooder, peer, vec![], flood).await.1);
    }
    let limited = answers
        .iter()
        .filter(|a| {
            matches!(
                a,
                Ok(MailboxResponse::Refused {
                    reason: Refusal::RateLimited
                })
            )
        })
        .count();
    let stored = answers
        .iter()
        .filter(|a| matches!(a, Ok(MailboxResponse::Stored { .. })))
        .count();
    assert!(limited > 0, "the flood was limited");
    assert!(stored >= 200, "the burst allowance was honoured: {stored}");

    let mut neighbour = prober();
    neighbour.dial(address).expect("dials");
    let (_, served) = exchange(&mut neighbour, peer, vec![], vec![fetch(&mailbox, &peer)]).await;
    assert!(
        matches!(served[0], Ok(MailboxResponse::Envelopes { .. })),
        "another peer is still served: {served:?}"
    );
}

/// A stranger who knows a mailbox fills it to its quota and beyond: the mailbox does not
/// lock — it drops its oldest, and the owner's next write is stored and read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_a_mailbox_does_not_lock_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let node = TestNode::start(
        binary,
        78,
        dir.path(),
        "/ip4/127.0.0.1/tcp/0",
        &[],
        &["--rate", "100000", "--mailbox-quota", "50000"],
    );
    let mailbox = MailboxKeys::shared(&[9; 32]);
    let mut filler = prober();
    filler.dial(node.address.clone()).expect("dials");
    for round in 0..3 {
        let junk: Vec<MailboxRequest> = (0..40)
            .map(|n| {
                put_envelope(
                    &mailbox,
                    Envelope::new(vec![round; 1_000 + n]).expect("small"),
                )
            })
            .collect();
        let (_, answers) = exchange(&mut filler, node.peer, vec![], junk).await;
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Ok(MailboxResponse::Stored { .. }))),
            "every write is taken: {answers:?}"
        );
    }
    let mut owner = prober();
    owner.dial(node.address.clone()).expect("dials");
    let (_, stored) = exchange(
        &mut owner,
        node.peer,
        vec![],
        vec![put(&mailbox, "still reaches the owner")],
    )
    .await;
    let Ok(MailboxResponse::Stored { seq, .. }) = stored[0] else {
        panic!("the owner's write is stored: {stored:?}");
    };
    let (_, read) = exchange(
        &mut owner,
        node.peer,
        vec![],
        vec![fetch_after(&mailbox, &node.peer, seq - 1)],
    )
    .await;
    let Ok(MailboxResponse::Envelopes { items, .. }) = &read[0] else {
        panic!("the mailbox reads: {read:?}");
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].envelope.as_bytes(), b"still reaches the owner");
}

/// Why each answer refused, or `None` for an answer that did not.
fn refusals(answers: &[Result<MailboxResponse, String>]) -> Vec<Option<Refusal>> {
    answers
        .iter()
        .map(|answer| match answer {
            Ok(MailboxResponse::Refused { reason }) => Some(*reason),
            _ => None,
        })
        .collect()
}

/// A stranger who knows a mailbox's public keys (every node that holds the mailbox sees
/// them), holds a genuine stamp and a genuine authorization of it, and tries every way
/// around them: no put is stored and no fetch answered, while the owner writes and reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_and_fetches_without_the_mailbox_keys_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_node, address, peer) = start_node(dir.path(), 1000);
    let owner = MailboxKeys::owner(&[1; 32], &[2; 32]);
    let contact = MailboxKeys::writer(&[1; 32], owner.public().reader);
    let known = MailboxKeys::public_only(*owner.public());
    let other = MailboxKeys::shared(&[3; 32]);
    let mut stranger = prober();
    stranger.dial(address.clone()).expect("dials");

    let genuine = Envelope::new(b"from a contact".to_vec()).expect("small");
    let genuine_stamp = contact.stamp(&genuine.id(), now()).expect("writable");
    let junk = Envelope::new(b"junk".to_vec()).expect("small");
    let put_with = |stamp: PutStamp, mailbox: &MailboxKeys| MailboxRequest::Put {
        mailbox: *mailbox.public(),
        stamp,
        envelope: junk.clone(),
    };
    let unsigned = PutStamp {
        written_at: now(),
        signature: [0; 64],
    };
    let other_stamp = other.stamp(&junk.id(), now()).expect("its own mailbox");
    let stale = contact
        .stamp(&junk.id(), now() - 31 * 24 * 3600)
        .expect("writable");
    let ahead = contact
        .stamp(&junk.id(), now() + 2 * 24 * 3600)
        .expect("writable");
    let attempts = vec![
        put_with(unsigned, &known),
        // A genuine stamp is for its own envelope only.
        put_with(genuine_stamp, &known),
        // A stamp of another mailbox's key, under this mailbox's keys.
        put_with(other_stamp, &known),
        put_with(stale, &known),
        put_with(ahead, &known),
    ];
    let (_, answers) = exchange(&mut stranger, peer, vec![], attempts).await;
    let reasons = refusals(&answers);
    assert_eq!(
        reasons,
        [
            Some(Refusal::Unauthorized),
            Some(Refusal::Unauthorized),
            Some(Refusal::Unauthorized),
            Some(Refusal::OutOfTime),
            Some(Refusal::OutOfTime),
        ]
    );

    // The contact writes; the owner reads it.
    let (_, stored) = exchange(
        &mut stranger,
        peer,
        vec![],
        vec![MailboxRequest::Put {
            mailbox: *contact.public(),
            stamp: genuine_stamp,
            envelope: genuine.clone(),
        }],
    )
    .await;
    assert!(matches!(
        stored[0],
        Ok(MailboxResponse::Stored { seq: 1, .. })
    ));

    let issued_at = now();
    let fetch_with = |authorization: [u8; 64], issued_at: u64| MailboxRequest::Fetch {
        mailbox: *owner.public(),
        issued_at,
        authorization,
        after: 0,
        limit: 10,
        wait_ms: 0,
    };
    let elsewhere = owner
        .authorize_fetch(&PeerId::random().to_bytes(), issued_at)
        .expect("readable");
    let by_writer = MailboxKeys::shared(&[1; 32])
        .authorize_fetch(&peer.to_bytes(), issued_at)
        .expect("its own key");
    let old = owner
        .authorize_fetch(&peer.to_bytes(), issued_at - 2 * 24 * 3600)
        .expect("readable");
    let (_, answers) = exchange(
        &mut stranger,
        peer,
        vec![],
        vec![
            fetch_with([0; 64], issued_at),
            // Made for another node: useless here.
            fetch_with(elsewhere, issued_at),
            // The writer's key is not the reader's.
            fetch_with(by_writer, issued_at),
            fetch_with(old, issued_at - 2 * 24 * 3600),
            fetch(&owner, &peer),
        ],
    )
    .await;
    let reasons = refusals(&answers);
    assert_eq!(
        reasons[..4],
        [
            Some(Refusal::Unauthorized),
            Some(Refusal::Unauthorized),
            Some(Refusal::Unauthorized),
            Some(Refusal::OutOfTime),
        ]
    );
    let Ok(MailboxResponse::Envelopes { items, .. }) = &answers[4] else {
        panic!("the owner reads: {answers:?}");
    };
    assert_eq!(items.len(), 1, "only the contact's envelope was stored");
    assert_eq!(items[0].envelope, genuine);
    assert_eq!(items[0].stamp, genuine_stamp, "kept with its stamp");
}

#[derive(NetworkBehaviour)]
struct Squatter {
    kad: libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>,
    identify: libp2p::identify::Behaviour,
}

/// A peer that speaks the nodes' Kademlia with an id ground to be the closest to a
/// mailbox, without solving the node id puzzle, joins three real nodes: no node keeps it
/// or names it when asked for the mailbox's nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_cheap_id_next_to_a_mailbox_is_never_named() {
    use phantom_network::{closest_nodes, is_costly_node_id, NodeInfo};
    use phantom_node::routing::{identify, kademlia};

    let dir = tempfile::tempdir().expect("temp dir");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let network = phantom_node::testnet::Network::start(binary, dir.path(), 3);
    let mailbox = MailboxAddress::from_bytes([0x77; 32]);
    // Where a peer would rank among the real nodes for the mailbox, 0 the closest.
    let rank = |peer: PeerId| {
        let candidates = network
            .nodes
            .iter()
            .map(|n| n.peer)
            .chain([peer])
            .map(|peer| NodeInfo {
                peer,
                addresses: Vec::new(),
            });
        closest_nodes(&mailbox, candidates, 4)
            .iter()
            .position(|n| n.peer == peer)
    };
    // The cheapest of a few thousand plain keys that sits closest to the mailbox.
    let key = (0..3_000)
        .map(|_| libp2p::identity::Keypair::generate_ed25519())
        .filter(|key| !is_costly_node_id(&key.public().to_peer_id()))
        .min_by_key(|key| rank(key.public().to_peer_id()))
        .expect("a key");
    let squatter_peer = key.public().to_peer_id();
    assert_eq!(rank(squatter_peer), Some(0), "the squatter is the closest");

    let mut squatter = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|key| Squatter {
            kad: kademlia(key, std::num::NonZeroUsize::MIN.saturating_add(2)),
            identify: identify(key),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    squatter
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("an address"))
        .expect("listens");
    for node in &network.nodes {
        squatter
            .behaviour_mut()
            .kad
            .add_address(&node.peer, node.address.clone());
        squatter.dial(node.address.clone()).expect("dials");
    }
    let _ = squatter.behaviour_mut().kad.bootstrap();
    let squatting = tokio::spawn(async move {
        loop {
            squatter.select_next_some().await;
        }
    });
    // Identify, bootstrap and a routing round or two.
    tokio::time::sleep(Duration::from_secs(4)).await;

    for node in &network.nodes {
        let mut device = prober();
        device.dial(node.address.clone()).expect("dials");
        let (_, answer) = exchange(
            &mut device,
            node.peer,
            vec![],
            vec![MailboxRequest::FindNodes { mailbox }],
        )
        .await;
        let Ok(MailboxResponse::Nodes { nodes }) = &answer[0] else {
            panic!("the node answers: {answer:?}");
        };
        let named: Vec<PeerId> = nodes
            .iter()
            .filter_map(|record| PeerId::from_bytes(&record.peer).ok())
            .collect();
        assert!(
            !named.contains(&squatter_peer),
            "{} named the squatter",
            node.peer
        );
        assert_eq!(named.len(), 3, "the three real nodes are named: {named:?}");
    }
    squatting.abort();
}
