//! Twenty attacking clients against five `phantom-node` processes on loopback while two
//! devices exchange a thousand messages. Five attackers of each kind: garbage frames,
//! frames announcing 4 MiB, streams that announce the largest request and hold, and
//! mailbox-filling writes (stamped, into mailboxes of their own: they hold no key of the
//! devices' mailboxes, so they cannot name them). Nothing is lost; the devices' latency
//! and every node's resident memory go to `test-results/abuse.txt` and, as a BENCH line,
//! to `docs/PERFORMANCE.md`. Built for debug, five attacked nodes on two cores take
//! minutes, so `scripts/bench.sh` runs it, built for release
//! (`cargo test --release -p phantom-node --test abuse -- --ignored`).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::attackers::{attack, watch_memory, Announce};
use common::devices::{alice_and_bob, NOW};
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::MailboxKeys;
use phantom_mailbox::protocol::MAX_REQUEST_LEN;
use phantom_mailbox::testing::SeededRng;
use phantom_node::testnet::{resident_kib, Network};

const NODES: u64 = 5;
const MESSAGES: usize = 1_000;
const ATTACKERS_PER_KIND: usize = 5;
/// Streams each frame-sending attacker keeps going, and the held streams of each flooder
/// (over four connections).
const STREAMS: usize = 64;
const HELD_STREAMS: usize = 1_000;
/// Each filling attacker's writes: bounded, so the run stays inside the machine's disk.
const FILLING_PUTS: usize = 400;
const FILLING_SIZE: usize = 16 * 1024;
/// No attack outlives this, whatever the devices are doing.
const ATTACK_LIMIT: Duration = Duration::from_secs(600);
/// How long a device waits for one message before the run counts it lost.
const MESSAGE_PATIENCE: Duration = Duration::from_secs(30);

/// The `p`-th fraction of sorted `samples`.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let index = ((samples.len().saturating_sub(1)) as f64 * p).round() as usize;
    samples.get(index).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "twenty attackers against five nodes: scripts/bench.sh runs it, built for release"]
async fn twenty_attackers_cost_two_devices_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let network = Network::start(binary, dir.path(), NODES);
    let addresses = network.addresses();
    let stop = Arc::new(AtomicBool::new(false));
    let peaks: Vec<Arc<AtomicU64>> = network
        .nodes
        .iter()
        .map(|node| {
            let peak = Arc::new(AtomicU64::new(0));
            watch_memory(node.pid(), stop.clone(), peak.clone());
            peak
        })
        .collect();

    let mut rng = SeededRng::new(20);
    let (mut alice, mut bob, to_bob, to_alice, mut failed_puts) =
        alice_and_bob(&addresses, &mut rng).await;

    let until = Instant::now() + ATTACK_LIMIT;
    let opened = Arc::new(AtomicU64::new(0));
    let filled = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    let kinds = [
        // Garbage of a plausible length, again and again.
        Announce {
            announced: 1024,
            sent: 1024,
            hold: false,
        },
        // Longer than any request may be: refused from the length alone.
        Announce {
            announced: 4 << 20,
            sent: 0,
            hold: false,
        },
        // The largest request announced, nothing sent, the stream held.
        Announce {
            announced: MAX_REQUEST_LEN as u32,
            sent: 0,
            hold: true,
        },
    ];
    for (kind, announce) in kinds.into_iter().enumerate() {
        for n in 0..ATTACKERS_PER_KIND {
            let node = &network.nodes[(kind * ATTACKERS_PER_KIND + n) % network.nodes.len()];
            let (connections, streams) = if announce.hold {
                (4, HELD_STREAMS)
            } else {
                (1, STREAMS)
            };
            attackers.push(tokio::spawn(attack(
                node.address.clone(),
                node.peer,
                connections,
                streams,
                announce,
                until,
                opened.clone(),
            )));
        }
    }
    for n in 0..ATTACKERS_PER_KIND {
        let client = network.client();
        let filled = filled.clone();
        let mailbox = MailboxKeys::shared(&[0xf0 + n as u8; 32]);
        attackers.push(tokio::spawn(async move {
            for put in 0..FILLING_PUTS {
                let mut bytes = vec![n as u8; FILLING_SIZE];
                bytes[..8].copy_from_slice(&(put as u64).to_be_bytes());
                let envelope = Envelope::new(bytes).expect("within the cap");
                if client.put(&mailbox, envelope).await.is_ok() {
                    filled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // The attack takes hold before the devices start.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let mut latencies = Vec::with_capacity(MESSAGES);
    let mut lost = 0;
    for n in 0..MESSAGES {
        let text = format!("message {n}");
        let (sender, receiver, contact) = if n % 2 == 0 {
            (&mut alice, &mut bob, &to_bob)
        } else {
            (&mut bob, &mut alice, &to_alice)
        };
        let sent = Instant::now();
        sender
            .messenger
            .send_text(contact, &text, NOW * 1000 + n as u64, &mut rng)
            .expect("sent");
        failed_puts += sender.flush().await;
        while !receiver.read.contains(&text) && sent.elapsed() < MESSAGE_PATIENCE {
            receiver
                .read_inbox(Duration::from_millis(500), &mut rng)
                .await;
        }
        if receiver.read.contains(&text) {
            latencies.push(sent.elapsed());
        } else {
            lost += 1;
        }
    }
    let exchange = started.elapsed();
    let peak_during: Vec<u64> = peaks.iter().map(|p| p.load(Ordering::Relaxed)).collect();
    for attacker in &attackers {
        attacker.abort();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let after: Vec<u64> = network
        .nodes
        .iter()
        .map(|node| resident_kib(node.pid()))
        .collect();

    latencies.sort();
    let mib = |kib: &[u64]| {
        kib.iter()
            .map(|k| (k / 1024).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let read = alice.read.len() + bob.read.len();
    let (p50, p99, max) = (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
    let report = format!(
        "nodes={NODES} attackers={} ({ATTACKERS_PER_KIND} each: garbage frames, 4 MiB \
         announcements, {HELD_STREAMS} held streams over 4 connections, {FILLING_PUTS} \
         stamped {} KiB puts into their own mailboxes) attack_streams_opened={} \
         filling_puts_stored={} messages={MESSAGES} read={read} lost={lost} \
         put_tries_failed={failed_puts} latency_ms p50={} p99={} max={} \
         node_peak_mib={} node_after_mib={} seconds={:.1}\n",
        ATTACKERS_PER_KIND * 4,
        FILLING_SIZE / 1024,
        opened.load(Ordering::Relaxed),
        filled.load(Ordering::Relaxed),
        p50.as_millis(),
        p99.as_millis(),
        max.as_millis(),
        mib(&peak_during),
        mib(&after),
        exchange.as_secs_f64(),
    );
    print!("{report}");
    println!(
        "BENCH abuse nodes={NODES} attackers={} messages={MESSAGES} delivered={read} \
         p50_ms={} p99_ms={} max_ms={} peak_mib_max={} after_mib_max={} \
         attack_streams={} filling_puts={} seconds={:.1}",
        ATTACKERS_PER_KIND * 4,
        p50.as_millis(),
        p99.as_millis(),
        max.as_millis(),
        peak_during.iter().max().copied().unwrap_or_default() / 1024,
        after.iter().max().copied().unwrap_or_default() / 1024,
        opened.load(Ordering::Relaxed),
        filled.load(Ordering::Relaxed),
        exchange.as_secs_f64(),
    );
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-results");
    let _ = std::fs::create_dir_all(&results);
    let _ = std::fs::write(results.join("abuse.txt"), &report);
    assert_eq!(lost, 0, "every message arrived: {report}");
    assert_eq!(read, MESSAGES, "each read once: {report}");
    assert!(
        opened.load(Ordering::Relaxed) > 0 && filled.load(Ordering::Relaxed) > 0,
        "the attack ran: {report}"
    );
}
