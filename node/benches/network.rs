//! Network benchmarks (not tests): a local network of five `phantom-node` processes.
//! Run with `scripts/bench.sh`, or `cargo bench -p phantom-node --bench network`.
//!
//! - envelopes/s: one client, 64 puts in flight, each put stored by a quorum of nodes;
//! - put → visible latency: a second client holds a waiting fetch; p50 and p99;
//! - node memory (resident set) after the throughput run, and disk per 100k envelopes.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use phantom_node::storage::{EnvelopeStore, Limits};
use phantom_node::testnet::Network;
use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::MailboxAddress;

const THROUGHPUT_ENVELOPES: usize = 2_000;
const IN_FLIGHT: usize = 64;
const LATENCY_SAMPLES: usize = 200;
const DISK_ENVELOPES: u64 = 10_000;

fn envelope(n: usize) -> Envelope {
    let mut bytes = format!("{n:08}").into_bytes();
    bytes.resize(200, b'x');
    Envelope::new(bytes).expect("small")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn folder_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => folder_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let network = Network::start(binary, dir.path(), 5);
    let writer = network.client();
    let reader = network.client();

    // Warm up: routing tables and connections.
    let warm = MailboxAddress::from_bytes([0xee; 32]);
    writer.put(warm, envelope(0)).await.expect("warm-up put");
    reader
        .fetch(warm, HashMap::new(), Duration::ZERO)
        .await
        .expect("warm-up fetch");

    let mailboxes: Vec<MailboxAddress> = (0..16u8)
        .map(|n| MailboxAddress::from_bytes([n; 32]))
        .collect();
    let start = Instant::now();
    let stored = futures::stream::iter(0..THROUGHPUT_ENVELOPES)
        .map(|n| writer.put(mailboxes[n % mailboxes.len()], envelope(n)))
        .buffer_unordered(IN_FLIGHT)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await;
    let rate = stored as f64 / start.elapsed().as_secs_f64();

    let mailbox = MailboxAddress::from_bytes([0x42; 32]);
    let mut after: HashMap<_, u64> = HashMap::new();
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        let waiting = reader.fetch(mailbox, after.clone(), Duration::from_secs(10));
        let putting = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let sent = Instant::now();
            writer.put(mailbox, envelope(n)).await.expect("put");
            sent
        };
        let (fetched, sent) = tokio::join!(waiting, putting);
        let seen = Instant::now();
        let fetched = fetched.expect("fetched");
        for (peer, cursor) in &fetched.cursors {
            after.insert(*peer, cursor.read_to);
        }
        if !fetched.envelopes.is_empty() {
            latencies.push(seen.saturating_duration_since(sent));
        }
    }
    latencies.sort();

    let resident: Vec<String> = network
        .nodes
        .iter()
        .map(|n| resident_kib(n.pid()).to_string())
        .collect();
    let held = THROUGHPUT_ENVELOPES * 3 / network.nodes.len();
    println!(
        "BENCH network nodes=5 envelope_bytes=200 envelopes={stored} in_flight={IN_FLIGHT} envelopes_per_s={rate:.0}"
    );
    println!(
        "BENCH latency samples={} put_to_visible_p50_ms={:.1} put_to_visible_p99_ms={:.1}",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );
    println!(
        "BENCH node_memory resident_kib_per_node={} after_holding_about={held}_envelopes_each",
        resident.join(",")
    );
    drop(network);

    let store_dir = tempfile::tempdir().expect("a temp dir");
    let store =
        EnvelopeStore::open(&store_dir.path().join("disk.redb"), Limits::default()).expect("store");
    let start = Instant::now();
    for n in 0..DISK_ENVELOPES {
        let mailbox = MailboxAddress::from_bytes([(n % 64) as u8; 32]);
        store
            .put(&mailbox, &envelope(n as usize), 1_700_000_000)
            .expect("stored");
    }
    let elapsed = start.elapsed();
    drop(store);
    let bytes = folder_bytes(store_dir.path());
    println!(
        "BENCH node_disk envelopes={DISK_ENVELOPES} bytes={bytes} bytes_per_100k={} store_puts_per_s={:.0}",
        bytes * (100_000 / DISK_ENVELOPES),
        DISK_ENVELOPES as f64 / elapsed.as_secs_f64()
    );
}
