//! A flood of streams against a real node process: many peers, each over several
//! connections, open mailbox streams that announce large frames and then hold, in waves.
//! The node's resident memory stays bounded during and after, and an honest device is
//! served throughout.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm};
use phantom_node::testnet::{resident_kib, TestNode};
use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::keys::MailboxKeys;
use phantom_sync::mailbox::protocol::MAX_REQUEST_LEN;
use phantom_sync::network::client::connect_native;
use phantom_sync::network::codec::MAILBOX_PROTOCOL;
use phantom_sync::network::Replication;

/// What one attacking stream writes before it holds: a length prefix announcing
/// `announced` bytes, then `sent` bytes of garbage.
#[derive(Debug, Clone, Copy)]
struct Announce {
    announced: u32,
    sent: usize,
}

/// Writes the announcement and never finishes the request, so the stream stays open until
/// the attacker goes.
#[derive(Debug, Clone, Copy)]
struct HoldingCodec;

impl request_response::Codec for HoldingCodec {
    type Protocol = StreamProtocol;
    type Request = Announce;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Announce> {
        Err(io::ErrorKind::Unsupported.into())
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Announce,
    ) -> io::Result<()> {
        io.write_all(&request.announced.to_be_bytes()).await?;
        io.write_all(&vec![0xA5; request.sent]).await?;
        io.flush().await?;
        futures::future::pending::<()>().await;
        Ok(())
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: (),
    ) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

fn attacker() -> Swarm<request_response::Behaviour<HoldingCodec>> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                HoldingCodec,
                [(MAILBOX_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(120))
                    .with_max_concurrent_streams(100_000),
            )
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build()
}

/// One peer of a wave: opens `connections` connections to the node, then `streams`
/// streams spread over them, each sending `announce`, and keeps them until `until`.
async fn attack(
    node: Multiaddr,
    peer: PeerId,
    connections: usize,
    streams: usize,
    announce: Announce,
    until: Instant,
    opened: Arc<AtomicU64>,
) {
    let mut swarm = attacker();
    for _ in 0..connections {
        let dial = DialOpts::peer_id(peer)
            .condition(PeerCondition::Always)
            .addresses(vec![node.clone()])
            .build();
        let _ = swarm.dial(dial);
    }
    // Streams go out once every connection is up, or after a second over those that are.
    let mut connected = 0;
    let mut sent = false;
    let deadline = tokio::time::sleep_until(until.into());
    let patience = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(deadline, patience);
    let mut impatient = false;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = &mut patience, if !impatient => impatient = true,
            event = swarm.select_next_some() => {
                if let libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } = event {
                    connected += 1;
                }
            }
        }
        if !sent && connected > 0 && (connected >= connections || impatient) {
            sent = true;
            for _ in 0..streams {
                swarm.behaviour_mut().send_request(&peer, announce);
            }
            opened.fetch_add(streams as u64, Ordering::Relaxed);
        }
    }
}

/// Samples the node's resident memory every 100 ms; the highest value seen.
fn watch_memory(pid: u32, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(resident_kib(pid), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}

const WAVES: usize = 4;
const PEERS_PER_WAVE: usize = 32;
const CONNECTIONS_PER_PEER: usize = 4;
const STREAMS_PER_PEER: usize = 1_000;
const WAVE: Duration = Duration::from_secs(8);
const MEMORY_LIMIT_KIB: u64 = 100 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_of_held_streams_leave_the_node_small_and_serving() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let node = TestNode::start(
        binary,
        91,
        dir.path(),
        "/ip4/127.0.0.1/tcp/0",
        &[],
        &["--rate", "1000"],
    );
    let pid = node.pid();
    let at_start = resident_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    watch_memory(pid, stop.clone(), peak.clone());

    let honest = connect_native(
        std::slice::from_ref(&node.address),
        Replication::new(1, 1).expect("1 ≤ 1"),
    )
    .expect("a client");
    let mailbox = MailboxKeys::shared(&[3; 32]);
    let opened = Arc::new(AtomicU64::new(0));
    let mut served = 0;
    let mut slowest = Duration::ZERO;
    for wave in 0..WAVES {
        let until = Instant::now() + WAVE;
        let mut peers = Vec::new();
        for n in 0..PEERS_PER_WAVE {
            // Half announce far more than any request may be and send nothing; half
            // announce the largest request and send nearly all of it.
            let announce = if n % 2 == 0 {
                Announce {
                    announced: 4 << 20,
                    sent: 0,
                }
            } else {
                Announce {
                    announced: MAX_REQUEST_LEN as u32,
                    sent: MAX_REQUEST_LEN - 16,
                }
            };
            peers.push(tokio::spawn(attack(
                node.address.clone(),
                node.peer,
                CONNECTIONS_PER_PEER,
                STREAMS_PER_PEER,
                announce,
                until,
                opened.clone(),
            )));
        }
        // The honest device writes and reads while the wave holds its streams.
        tokio::time::sleep(Duration::from_secs(2)).await;
        while Instant::now() + Duration::from_secs(1) < until {
            let text = format!("wave {wave} message {served}");
            let started = Instant::now();
            let envelope = Envelope::new(text.into_bytes()).expect("small");
            tokio::time::timeout(Duration::from_secs(10), honest.put(&mailbox, envelope))
                .await
                .expect("the honest put is answered in time")
                .expect("the honest put is stored");
            slowest = slowest.max(started.elapsed());
            served += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for peer in peers {
            peer.await.expect("the attacker ran");
        }
    }
    let during = peak.load(Ordering::Relaxed);
    // After the attackers have gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = resident_kib(pid);
    stop.store(true, Ordering::Relaxed);
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        honest.fetch(&mailbox, Default::default(), Duration::ZERO),
    )
    .await
    .expect("the honest fetch is answered in time")
    .expect("the honest fetch succeeds");
    let report = format!(
        "{WAVES} waves of {PEERS_PER_WAVE} peers × {CONNECTIONS_PER_PEER} connections × \
         {STREAMS_PER_PEER} streams ({} streams asked for): node resident memory {} MiB at \
         start, {} MiB at most during, {} MiB after; the honest device stored {served} \
         envelopes during the waves (slowest put {} ms) and read back {}",
        opened.load(Ordering::Relaxed),
        at_start / 1024,
        during / 1024,
        after / 1024,
        slowest.as_millis(),
        read.envelopes.len(),
    );
    println!("{report}");
    assert!(served > 0, "the honest device was served");
    assert_eq!(
        read.envelopes.len(),
        served,
        "everything the device stored is there"
    );
    assert!(
        during < MEMORY_LIMIT_KIB && after < MEMORY_LIMIT_KIB,
        "the node stayed under 100 MiB: {report}"
    );
}
