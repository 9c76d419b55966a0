//! A flood of streams against a real node process: many peers, each over several
//! connections, open mailbox streams that announce large frames and then hold, in waves.
//! The node's resident memory stays bounded during and after, and an honest device is
//! served throughout.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::attackers::{attack, watch_memory, Announce};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::MailboxKeys;
use phantom_mailbox::protocol::MAX_REQUEST_LEN;
use phantom_network::client::connect_native;
use phantom_network::Replication;
use phantom_node::testnet::{resident_kib, TestNode};

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
                    hold: true,
                }
            } else {
                Announce {
                    announced: MAX_REQUEST_LEN as u32,
                    sent: MAX_REQUEST_LEN - 16,
                    hold: true,
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
