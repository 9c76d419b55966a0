//! Attacking peers against real node processes: streams that announce a frame and then
//! hold it open or send garbage, and a watch on a node's resident memory.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm};
use phantom_network::codec::MAILBOX_PROTOCOL;
use phantom_node::testnet::resident_kib;

/// What one attacking stream writes: a length prefix announcing `announced` bytes, then
/// `sent` bytes of garbage; then it holds the stream open until the attacker goes, or
/// waits for the node to answer or close it.
#[derive(Debug, Clone, Copy)]
pub struct Announce {
    pub announced: u32,
    pub sent: usize,
    pub hold: bool,
}

/// Writes an [`Announce`] and never reads an answer.
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
        if request.hold {
            futures::future::pending::<()>().await;
        }
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

/// One attacking peer: opens `connections` connections to the node, then `streams`
/// streams spread over them, each sending `announce`, and keeps them until `until`; a
/// stream that does not hold is opened again as soon as the node ends it.
pub async fn attack(
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
            event = swarm.select_next_some() => match event {
                libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } => connected += 1,
                libp2p::swarm::SwarmEvent::Behaviour(
                    request_response::Event::OutboundFailure { .. }
                    | request_response::Event::Message { .. },
                ) if sent && !announce.hold => {
                    swarm.behaviour_mut().send_request(&peer, announce);
                    opened.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
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
pub fn watch_memory(pid: u32, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            peak.fetch_max(resident_kib(pid), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}
