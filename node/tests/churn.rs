//! Fifty `phantom-node` processes; while two devices exchange a thousand messages, a third
//! of the nodes are killed (SIGKILL, their data gone with them) and replaced by new ones.
//! Nothing is lost. The counts go to `test-results/churn.txt` and, as a BENCH line, to
//! `docs/PERFORMANCE.md`. Fifty debug-built nodes take minutes, so `scripts/bench.sh` runs
//! it, built for release (`cargo test --release -p phantom-node --test churn -- --ignored`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::devices::{alice_and_bob, NOW};
use libp2p::Multiaddr;
use phantom_mailbox::testing::SeededRng;
use phantom_node::testnet::TestNode;

const NODES: u64 = 50;
const REPLACED: u64 = 17;
const MESSAGES: usize = 1_000;

fn start_node(binary: &Path, dir: &Path, seed: u64, bootstrap: &[Multiaddr]) -> TestNode {
    TestNode::start(
        binary,
        seed,
        &dir.join(format!("node{seed}")),
        "/ip4/127.0.0.1/tcp/0",
        bootstrap,
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fifty nodes: scripts/bench.sh runs it, built for release"]
async fn a_third_of_fifty_nodes_replaced_while_devices_exchange_a_thousand_messages() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let started = Instant::now();
    let mut nodes: Vec<TestNode> = Vec::new();
    for seed in 0..NODES {
        // Each node knows a few of those before it, as a node joining the internet would.
        let bootstrap: Vec<Multiaddr> = nodes
            .iter()
            .rev()
            .take(3)
            .map(|n| n.address.clone())
            .collect();
        nodes.push(start_node(binary, dir.path(), seed, &bootstrap));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let addresses: Vec<Multiaddr> = nodes.iter().map(|n| n.address.clone()).collect();

    let mut rng = SeededRng::new(50);
    let (mut alice, mut bob, to_bob, to_alice, mut failed_puts) =
        alice_and_bob(&addresses, &mut rng).await;

    let mut next_seed = NODES;
    let mut replaced = 0;
    let every = MESSAGES as u64 / (REPLACED + 1);
    for n in 0..MESSAGES {
        if n as u64 % every == every - 1 && replaced < REPLACED {
            // Kill one of the original nodes, spread over the ring, and start a new one.
            let victim = (replaced * 3 % NODES) as usize;
            nodes[victim].stop();
            let bootstrap: Vec<Multiaddr> = nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != victim)
                .take(3)
                .map(|(_, n)| n.address.clone())
                .collect();
            nodes[victim] = start_node(binary, dir.path(), next_seed, &bootstrap);
            next_seed += 1;
            replaced += 1;
        }
        let text = format!("message {n}");
        let (sender, receiver, contact) = if n % 2 == 0 {
            (&mut alice, &mut bob, &to_bob)
        } else {
            (&mut bob, &mut alice, &to_alice)
        };
        sender
            .messenger
            .send_text(contact, &text, NOW * 1000 + n as u64, &mut rng)
            .expect("sent");
        failed_puts += sender.flush().await;
        receiver
            .read_inbox(Duration::from_millis(500), &mut rng)
            .await;
    }
    // Whatever is still on its way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while alice.read.len() + bob.read.len() < MESSAGES && Instant::now() < deadline {
        alice.read_inbox(Duration::from_millis(500), &mut rng).await;
        bob.read_inbox(Duration::from_millis(500), &mut rng).await;
    }
    let (bob_read, alice_read) = (bob.read.len(), alice.read.len());
    let report = format!(
        "nodes={NODES} replaced={replaced} (killed with their data, new identities) \
         messages={MESSAGES} read_by_bob={bob_read}/{} read_by_alice={alice_read}/{} \
         put_tries_failed={failed_puts} seconds={:.1}\n",
        MESSAGES / 2,
        MESSAGES / 2,
        started.elapsed().as_secs_f64(),
    );
    print!("{report}");
    println!(
        "BENCH churn nodes={NODES} replaced={replaced} messages={MESSAGES} delivered={} \
         put_tries_failed={failed_puts} seconds={:.1}",
        bob_read + alice_read,
        started.elapsed().as_secs_f64(),
    );
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-results");
    let _ = std::fs::create_dir_all(&results);
    let _ = std::fs::write(results.join("churn.txt"), &report);
    assert_eq!(replaced, REPLACED);
    assert_eq!(bob_read, MESSAGES / 2, "Bob read every message: {report}");
    assert_eq!(
        alice_read,
        MESSAGES / 2,
        "Alice read every message: {report}"
    );
}
