//! A simulated network of 10,000 nodes (in process, no sockets): Kademlia routing tables,
//! iterative lookups, mailboxes on the 3 closest nodes, and 30 % churn. Reports lookup
//! hops and how many mailboxes a reader still finds. Run with `scripts/bench.sh`, or
//! `cargo bench -p phantom-node --bench simulation`.
//!
//! The model: ids are random 256-bit numbers under the XOR metric; each node's table
//! holds up to K = 20 nodes per bucket, filled from the whole network (a converged table).
//! A lookup asks α = 3 of the closest nodes it knows at a time, each answering with the K
//! closest it knows; a dead node costs a round and is dropped; the lookup ends when the K
//! closest it knows have all answered. Churn kills nodes without telling anyone (their
//! entries stay in other tables) and adds new nodes, which fill their own table from the
//! nodes alive and are learnt by the nodes their join lookup asked. A mailbox is written to
//! the 3 closest nodes the writer's lookup found; a reader finds it when its own lookup
//! names a live node holding it. Republishing: each live holder looks the mailbox up and
//! copies it to the 3 closest it finds, as `phantom-node` does every minute.
//!
//! Beside it, the node id puzzle measured: the time to make a key, plain and solving the
//! puzzle, and from it what placing a node among the 3 closest of a chosen mailbox costs in
//! a network of 10,000 (about 10,000 / 3 ids tried).

use std::time::Instant;

use phantom_network::NODE_ID_DIFFICULTY;
use phantom_node::node::keypair_from_seed;
use sha2::{Digest, Sha256};

const NODES: usize = 10_000;
const K: usize = 20;
const ALPHA: usize = 3;
const REPLICAS: usize = 3;
const MAILBOXES: usize = 1_000;
const CHURN: f64 = 0.30;

type Id = [u8; 32];

/// A small deterministic generator, so runs repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn id(&mut self) -> Id {
        let seed = self.next().to_be_bytes();
        Sha256::digest(seed).into()
    }
}

fn distance(a: &Id, b: &Id) -> Id {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn bucket(a: &Id, b: &Id) -> usize {
    let d = distance(a, b);
    d.iter()
        .position(|byte| *byte != 0)
        .map_or(255, |i| i * 8 + d[i].leading_zeros() as usize)
}

struct Network {
    ids: Vec<Id>,
    alive: Vec<bool>,
    /// Per node, per bucket, the nodes it knows.
    tables: Vec<Vec<Vec<u32>>>,
}

struct Lookup {
    /// The closest live nodes found, closest first.
    found: Vec<u32>,
    /// Rounds of α requests.
    hops: usize,
    /// Requests that went to dead nodes.
    timeouts: usize,
    /// Nodes asked (the joining node's contacts learn of it).
    asked: Vec<u32>,
}

impl Network {
    fn new(rng: &mut Rng) -> Network {
        let mut network = Network {
            ids: Vec::new(),
            alive: Vec::new(),
            tables: Vec::new(),
        };
        for _ in 0..NODES {
            network.ids.push(rng.id());
            network.alive.push(true);
            network.tables.push(vec![Vec::new(); 256]);
        }
        for node in 0..NODES {
            network.fill_table(node, rng);
        }
        network
    }

    fn learn(&mut self, node: usize, other: u32) {
        if node == other as usize {
            return;
        }
        let b = bucket(&self.ids[node], &self.ids[other as usize]);
        let Some(entries) = self.tables[node].get_mut(b) else {
            return;
        };
        if entries.len() < K && !entries.contains(&other) {
            entries.push(other);
        }
    }

    /// Fills `node`'s table from every live node, in a random order.
    fn fill_table(&mut self, node: usize, rng: &mut Rng) {
        let count = self.ids.len();
        let offset = rng.below(count);
        for step in 0..count {
            let other = (offset + step) % count;
            if self.alive[other] {
                self.learn(node, other as u32);
            }
        }
    }

    fn closest_known(&self, node: usize, target: &Id, count: usize) -> Vec<u32> {
        let mut known: Vec<u32> = self.tables[node].iter().flatten().copied().collect();
        known.sort_by_key(|n| distance(&self.ids[*n as usize], target));
        known.truncate(count);
        known
    }

    fn lookup(&self, from: usize, target: &Id) -> Lookup {
        let mut candidates = self.closest_known(from, target, K);
        let mut answered: Vec<u32> = Vec::new();
        let mut tried: Vec<u32> = vec![from as u32];
        let (mut hops, mut timeouts) = (0, 0);
        loop {
            candidates.sort_by_key(|n| distance(&self.ids[*n as usize], target));
            candidates.dedup();
            // The K closest known that have not failed: done when all of them answered.
            let next: Vec<u32> = candidates
                .iter()
                .take(K)
                .filter(|n| !tried.contains(n))
                .take(ALPHA)
                .copied()
                .collect();
            if next.is_empty() {
                break;
            }
            hops += 1;
            for node in next {
                tried.push(node);
                if self.alive[node as usize] {
                    answered.push(node);
                    candidates.extend(self.closest_known(node as usize, target, K));
                } else {
                    timeouts += 1;
                    candidates.retain(|n| *n != node);
                }
            }
        }
        answered.sort_by_key(|n| distance(&self.ids[*n as usize], target));
        Lookup {
            found: answered.iter().take(REPLICAS).copied().collect(),
            hops,
            timeouts,
            asked: answered,
        }
    }

    fn random_alive(&self, rng: &mut Rng) -> usize {
        loop {
            let node = rng.below(self.ids.len());
            if self.alive[node] {
                return node;
            }
        }
    }

    /// Kills `share` of the live nodes and adds as many new ones, which join.
    fn churn(&mut self, share: f64, rng: &mut Rng) {
        let alive: Vec<usize> = (0..self.ids.len()).filter(|n| self.alive[*n]).collect();
        let kill = (alive.len() as f64 * share) as usize;
        let mut killed = 0;
        while killed < kill {
            let node = alive[rng.below(alive.len())];
            if self.alive[node] {
                self.alive[node] = false;
                killed += 1;
            }
        }
        for _ in 0..kill {
            let node = self.ids.len();
            self.ids.push(rng.id());
            self.alive.push(true);
            self.tables.push(vec![Vec::new(); 256]);
            self.fill_table(node, rng);
            let own = self.ids[node];
            for contact in self.lookup(node, &own).asked {
                self.learn(contact as usize, node as u32);
            }
        }
    }
}

/// A mailbox: where it lives in the key space, and the nodes holding it.
struct Mailbox {
    target: Id,
    holders: Vec<u32>,
}

fn percentile(sorted: &[usize], p: f64) -> usize {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(0)
}

/// Reads every mailbox from a random live node: the share found, and lookup hops.
fn read_all(network: &Network, mailboxes: &[Mailbox], rng: &mut Rng) -> (f64, Vec<usize>, usize) {
    let mut found = 0;
    let mut hops = Vec::new();
    let mut timeouts = 0;
    for mailbox in mailboxes {
        let lookup = network.lookup(network.random_alive(rng), &mailbox.target);
        hops.push(lookup.hops);
        timeouts += lookup.timeouts;
        if lookup.found.iter().any(|n| mailbox.holders.contains(n)) {
            found += 1;
        }
    }
    hops.sort_unstable();
    (found as f64 / mailboxes.len() as f64, hops, timeouts)
}

fn republish(network: &Network, mailboxes: &mut [Mailbox]) {
    for mailbox in mailboxes {
        let live: Vec<u32> = mailbox
            .holders
            .iter()
            .copied()
            .filter(|n| network.alive[*n as usize])
            .collect();
        for holder in live {
            for node in network.lookup(holder as usize, &mailbox.target).found {
                if !mailbox.holders.contains(&node) {
                    mailbox.holders.push(node);
                }
            }
        }
    }
}

fn write_all(network: &Network, rng: &mut Rng) -> Vec<Mailbox> {
    (0..MAILBOXES)
        .map(|_| {
            let target = rng.id();
            let holders = network.lookup(network.random_alive(rng), &target).found;
            Mailbox { target, holders }
        })
        .collect()
}

fn report(name: &str, (delivered, hops, timeouts): (f64, Vec<usize>, usize)) {
    let mean = hops.iter().sum::<usize>() as f64 / hops.len().max(1) as f64;
    println!(
        "BENCH simulation {name} nodes={NODES} k={K} alpha={ALPHA} replicas={REPLICAS} mailboxes={MAILBOXES} \
         churn_percent={:.0} delivered_percent={:.1} hops_mean={mean:.2} hops_p50={} hops_p99={} \
         timeouts_per_lookup={:.2}",
        CHURN * 100.0,
        delivered * 100.0,
        percentile(&hops, 0.5),
        percentile(&hops, 0.99),
        timeouts as f64 / hops.len().max(1) as f64,
    );
}

/// Seconds per key: plain Ed25519 keys, and keys whose id solves the puzzle.
fn id_costs() -> (f64, f64) {
    const PLAIN: u32 = 20_000;
    const COSTLY: u64 = 40;
    let start = Instant::now();
    for n in 0..PLAIN {
        let mut secret: [u8; 32] = Sha256::digest(n.to_be_bytes()).into();
        let key = libp2p::identity::Keypair::ed25519_from_bytes(&mut secret).expect("a key");
        std::hint::black_box(key.public().to_peer_id());
    }
    let plain = start.elapsed().as_secs_f64() / f64::from(PLAIN);
    let start = Instant::now();
    for seed in 0..COSTLY {
        std::hint::black_box(keypair_from_seed(1_000_000 + seed));
    }
    (plain, start.elapsed().as_secs_f64() / COSTLY as f64)
}

fn main() {
    let (plain, costly) = id_costs();
    let tries = NODES as f64 / REPLICAS as f64;
    println!(
        "BENCH node_id_puzzle difficulty_bits={NODE_ID_DIFFICULTY} plain_key_us={:.1} costly_id_ms={:.1} \
         place_next_to_a_mailbox_cpu_s_plain={:.2} place_next_to_a_mailbox_cpu_s_costly={:.0} ratio={:.0}",
        plain * 1e6,
        costly * 1e3,
        tries * plain,
        tries * costly,
        costly / plain,
    );
    let mut rng = Rng(0x005e_ed0f_2026);

    // No churn: the baseline.
    let network = Network::new(&mut rng);
    let mailboxes = write_all(&network, &mut rng);
    report("steady", read_all(&network, &mailboxes, &mut rng));

    // 30 % of the nodes replaced at once, with no republishing in between.
    let mut network = network;
    let fresh = write_all(&network, &mut rng);
    network.churn(CHURN, &mut rng);
    report("at_once", read_all(&network, &fresh, &mut rng));

    // 30 % replaced in three steps of 10 %, holders republishing after each.
    let mut network = Network::new(&mut rng);
    let mut mailboxes = write_all(&network, &mut rng);
    for _ in 0..3 {
        network.churn(CHURN / 3.0, &mut rng);
        republish(&network, &mut mailboxes);
    }
    report(
        "in_steps_republished",
        read_all(&network, &mailboxes, &mut rng),
    );
}
