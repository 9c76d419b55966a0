//! Network benchmarks (not tests): local networks of five `phantom-node` processes.
//! Run with `scripts/bench.sh`, or `cargo bench -p phantom-node --bench network`.
//!
//! - envelopes/s: 16 clients (devices), 1 024 puts in flight together, each put stored by a
//!   quorum of nodes; nodes republish every 60 s, as they do by default. Side by side in
//!   one run: nodes on one thread (the default) and on two, three runs each, alternating;
//! - put → visible latency: a second client holds a waiting fetch; p50 and p99;
//! - node memory (resident set) after the throughput run, and disk per 100k envelopes;
//! - storage alone, side by side: one durable transaction per envelope, and group commit
//!   (256 envelopes per transaction).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use phantom_mailbox::envelope::{Envelope, EnvelopeId};
use phantom_mailbox::keys::{verify_put, verify_puts, MailboxKeys, MailboxPublicKeys, PutStamp};
use phantom_node::storage::{EnvelopeStore, Incoming, Limits};
use phantom_node::testnet::Network;

const THROUGHPUT_ENVELOPES: usize = 20_000;
const IN_FLIGHT: usize = 1024;
const WRITERS: usize = 16;
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

const RUNS: usize = 3;
const GROUP: usize = 256;

/// Envelopes per second that `WRITERS` clients store through a fresh network of five
/// nodes, each node's runtime on `threads` threads.
async fn throughput(binary: &Path, threads: usize) -> (f64, usize) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let threads = threads.to_string();
    let network = Network::start_with(
        binary,
        dir.path(),
        5,
        &["--republish-secs", "60", "--threads", &threads],
    );
    let warm = MailboxKeys::shared(&[0xee; 32]);
    let writers: Vec<_> = (0..WRITERS).map(|_| network.client()).collect();
    for (n, writer) in writers.iter().enumerate() {
        writer.put(&warm, envelope(n)).await.expect("warm-up put");
    }
    let mailboxes: Vec<MailboxKeys> = (0..16u8).map(|n| MailboxKeys::shared(&[n; 32])).collect();
    let start = Instant::now();
    let outcomes: Vec<_> = futures::stream::iter(0..THROUGHPUT_ENVELOPES)
        .map(|n| writers[n % WRITERS].put(&mailboxes[n % mailboxes.len()], envelope(n)))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let stored = outcomes.iter().filter(|o| o.is_ok()).count();
    let mut errors: HashMap<String, usize> = HashMap::new();
    for error in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        *errors.entry(error.to_string()).or_default() += 1;
    }
    if !errors.is_empty() {
        println!("ERRORS {errors:?}");
    }
    let rate = stored as f64 / start.elapsed().as_secs_f64();
    println!("RUN threads={threads} stored={stored} envelopes_per_s={rate:.0}");
    (rate, stored)
}

/// The median and the spread (lowest–highest) of `samples`.
fn median_and_spread(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let median = samples.get(samples.len() / 2).copied().unwrap_or(0.0);
    let low = samples.first().copied().unwrap_or(0.0);
    let high = samples.last().copied().unwrap_or(0.0);
    (median, low, high)
}

/// Envelopes per second stored by `store`, `group` per durable transaction.
fn store_rate(store: &EnvelopeStore, group: usize, offset: u64) -> f64 {
    let mailboxes: Vec<MailboxPublicKeys> = (0..64u8)
        .map(|n| MailboxPublicKeys {
            writer: [n; 32],
            reader: [n; 32],
        })
        .collect();
    // The store checks no stamp (the node did): any will do here.
    let stamp = PutStamp {
        written_at: 1_700_000_000,
        signature: [0; 64],
    };
    let start = Instant::now();
    let mut batch = Vec::with_capacity(group);
    for n in 0..DISK_ENVELOPES {
        batch.push(Incoming {
            mailbox: mailboxes[(n % 64) as usize],
            stamp,
            envelope: envelope((offset + n) as usize),
        });
        if batch.len() == group {
            store
                .put_many(&batch, 1_700_000_000)
                .expect("stored")
                .into_iter()
                .for_each(|put| assert!(put.is_ok(), "stored"));
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.put_many(&batch, 1_700_000_000).expect("stored");
    }
    DISK_ENVELOPES as f64 / start.elapsed().as_secs_f64()
}

/// What authorizing one write costs on one core: the writer's stamp, and one node's check
/// of it (each of a mailbox's nodes checks every put it stores).
fn authorization_costs() {
    const SAMPLES: u32 = 2_000;
    let keys = MailboxKeys::shared(&[0x5a; 32]);
    let envelope = envelope(1);
    let id = envelope.id();
    let start = Instant::now();
    let mut stamp = None;
    for n in 0..SAMPLES {
        stamp = Some(
            keys.stamp(&id, 1_700_000_000 + u64::from(n))
                .expect("writable"),
        );
    }
    let stamp_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(SAMPLES);
    let stamp = stamp.expect("stamped");
    let start = Instant::now();
    for _ in 0..SAMPLES {
        verify_put(keys.public(), &id, &stamp).expect("genuine");
    }
    let verify_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(SAMPLES);
    // A node checks a whole group at once: 256 puts from 16 writers.
    let writers: Vec<MailboxKeys> = (0..16u8).map(|n| MailboxKeys::shared(&[n; 32])).collect();
    let group: Vec<(MailboxPublicKeys, EnvelopeId, PutStamp)> = (0..256)
        .map(|n| {
            let keys = &writers[n % writers.len()];
            let id = self::envelope(n).id();
            let stamp = keys.stamp(&id, 1_700_000_000).expect("writable");
            (*keys.public(), id, stamp)
        })
        .collect();
    let checks: Vec<_> = group.iter().map(|(p, id, s)| (p, id, s)).collect();
    let groups = SAMPLES / 256 + 1;
    let start = Instant::now();
    for _ in 0..groups {
        assert!(verify_puts(&checks).iter().all(|genuine| *genuine));
    }
    let group_verify_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(groups * 256);
    println!(
        "BENCH put_authorization samples={SAMPLES} stamp_us={stamp_us:.1} verify_us={verify_us:.1} \
         verify_in_group_us={group_verify_us:.1}"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    authorization_costs();
    let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let mut one_thread = Vec::new();
    let mut two_threads = Vec::new();
    let mut stored_all = 0;
    for _ in 0..RUNS {
        let (rate, stored) = throughput(binary, 1).await;
        one_thread.push(rate);
        stored_all += stored;
        let (rate, stored) = throughput(binary, 2).await;
        two_threads.push(rate);
        stored_all += stored;
    }
    let (one, one_low, one_high) = median_and_spread(one_thread);
    let (two, two_low, two_high) = median_and_spread(two_threads);
    println!(
        "BENCH network nodes=5 envelope_bytes=200 writers={WRITERS} envelopes={THROUGHPUT_ENVELOPES} \
         in_flight={IN_FLIGHT} runs={RUNS} stored={stored_all} asked={} \
         envelopes_per_s_one_thread={one:.0} one_thread_low={one_low:.0} one_thread_high={one_high:.0} \
         envelopes_per_s_two_threads={two:.0} two_threads_low={two_low:.0} two_threads_high={two_high:.0} \
         one_over_two={:.2}",
        2 * RUNS * THROUGHPUT_ENVELOPES,
        one / two,
    );

    let dir = tempfile::tempdir().expect("a temp dir");
    let network = Network::start_with(binary, dir.path(), 5, &["--republish-secs", "60"]);
    let writer = network.client();
    let reader = network.client();
    let warm = MailboxKeys::shared(&[0xee; 32]);
    writer.put(&warm, envelope(0)).await.expect("warm-up put");
    reader
        .fetch(&warm, HashMap::new(), Duration::ZERO)
        .await
        .expect("warm-up fetch");
    let mailboxes: Vec<MailboxKeys> = (0..16u8).map(|n| MailboxKeys::shared(&[n; 32])).collect();
    // One device stays inside its rate limit (200 requests a second per node, bursts of
    // 2 000).
    let held = futures::stream::iter(0..THROUGHPUT_ENVELOPES / 10)
        .map(|n| writer.put(&mailboxes[n % mailboxes.len()], envelope(n)))
        .buffer_unordered(64)
        .filter(|r| futures::future::ready(r.is_ok()))
        .count()
        .await
        * 3
        / network.nodes.len();
    let mailbox = MailboxKeys::shared(&[0x42; 32]);
    let mut after: HashMap<_, u64> = HashMap::new();
    let mut latencies = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        let waiting = reader.fetch(&mailbox, after.clone(), Duration::from_secs(10));
        let putting = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let sent = Instant::now();
            writer.put(&mailbox, envelope(n)).await.expect("put");
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
        .map(|n| n.resident_kib().to_string())
        .collect();
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
    let mut each = Vec::new();
    let mut grouped = Vec::new();
    for run in 0..RUNS as u64 {
        each.push(store_rate(&store, 1, run * 2 * DISK_ENVELOPES));
        grouped.push(store_rate(&store, GROUP, (run * 2 + 1) * DISK_ENVELOPES));
    }
    drop(store);
    let bytes = folder_bytes(store_dir.path()) / (2 * RUNS as u64);
    let (each, each_low, each_high) = median_and_spread(each);
    let (grouped, grouped_low, grouped_high) = median_and_spread(grouped);
    println!(
        "BENCH node_disk envelopes={DISK_ENVELOPES} bytes={bytes} bytes_per_100k={} runs={RUNS} \
         group={GROUP} store_puts_per_s_each={each:.0} each_low={each_low:.0} each_high={each_high:.0} \
         store_puts_per_s_grouped={grouped:.0} grouped_low={grouped_low:.0} grouped_high={grouped_high:.0} \
         grouped_over_each={:.1}",
        bytes * (100_000 / DISK_ENVELOPES),
        grouped / each,
    );
}
