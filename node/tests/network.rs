//! A real local network: `phantom-node` processes on 127.0.0.1 and native mailbox clients.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use libp2p::PeerId;
use phantom_mailbox::envelope::Envelope;
use phantom_mailbox::keys::MailboxKeys;
use phantom_network::client::{MailboxClient, Traffic};
use phantom_network::Replication;
use phantom_node::testnet;

/// A network in a temporary folder that goes with it.
struct Network {
    inner: testnet::Network,
    _dir: tempfile::TempDir,
}

impl Network {
    fn start(count: u64) -> Network {
        let dir = tempfile::tempdir().expect("a temp dir");
        let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
        Network {
            inner: testnet::Network::start(binary, dir.path(), count),
            _dir: dir,
        }
    }

    fn client(&self) -> MailboxClient {
        self.inner.client()
    }
}

impl std::ops::Deref for Network {
    type Target = testnet::Network;
    fn deref(&self) -> &testnet::Network {
        &self.inner
    }
}

impl std::ops::DerefMut for Network {
    fn deref_mut(&mut self) -> &mut testnet::Network {
        &mut self.inner
    }
}

fn envelope(text: &str) -> Envelope {
    Envelope::new(text.as_bytes().to_vec()).expect("small")
}

async fn fetch_all(client: &MailboxClient, mailbox: &MailboxKeys) -> Vec<Envelope> {
    client
        .fetch(mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched")
        .envelopes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_put_by_one_client_is_fetched_by_another() {
    let network = Network::start(5);
    let writer = network.client();
    let reader = network.client();
    let mailbox = MailboxKeys::shared(&[1; 32]);

    let receipt = writer
        .put(&mailbox, envelope("hello"))
        .await
        .expect("stored");
    assert!(
        receipt.acks.len() >= 2,
        "a quorum acknowledged: {receipt:?}"
    );
    let again = writer
        .put(&mailbox, envelope("hello"))
        .await
        .expect("stored again");
    assert_eq!(again.acks.len().min(2), 2);

    let fetched = reader
        .fetch(&mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(
        fetched.envelopes,
        vec![envelope("hello")],
        "one copy, deduplicated"
    );
    assert!(fetched.cursors.len() >= 2);
    assert_eq!(
        fetch_all(&reader, &MailboxKeys::shared(&[2; 32])).await,
        vec![]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_survives_losing_all_but_one_of_its_holders() {
    let mut network = Network::start(5);
    let writer = network.client();
    let mailbox = MailboxKeys::shared(&[3; 32]);
    let receipt = writer
        .put(&mailbox, envelope("keep me"))
        .await
        .expect("stored");
    // Give the remaining holders time to answer too.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let holders: Vec<PeerId> = receipt.acks.iter().map(|(peer, _)| *peer).collect();
    let mut killed = 0;
    for node in network.nodes.iter_mut() {
        if killed < 2 && holders.contains(&node.peer) {
            node.stop();
            killed += 1;
        }
    }
    assert_eq!(killed, 2, "k - 1 = 2 holders are gone");
    let reader = network.client();
    assert_eq!(
        fetch_all(&reader, &mailbox).await,
        vec![envelope("keep me")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_survive_restarting_every_node() {
    let mut network = Network::start(5);
    let writer = network.client();
    let mailbox = MailboxKeys::shared(&[4; 32]);
    for n in 0..5 {
        writer
            .put(&mailbox, envelope(&format!("message {n}")))
            .await
            .expect("stored");
    }
    drop(writer);
    for node in network.nodes.iter_mut() {
        node.stop();
    }
    let mut bootstrap = Vec::new();
    for node in network.nodes.iter_mut() {
        node.restart(&bootstrap);
        bootstrap.push(node.address.clone());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reader = network.client();
    let mut texts: Vec<String> = fetch_all(&reader, &mailbox)
        .await
        .into_iter()
        .map(|e| String::from_utf8(e.into_bytes()).expect("text"))
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        (0..5).map(|n| format!("message {n}")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_sees_a_new_envelope_at_once() {
    let network = Network::start(5);
    let writer = network.client();
    let reader = network.client();
    let mailbox = MailboxKeys::shared(&[5; 32]);
    let waiting = tokio::spawn({
        let reader = reader.clone();
        let mailbox = mailbox.clone();
        async move {
            reader
                .fetch(&mailbox, HashMap::new(), Duration::from_secs(20))
                .await
                .expect("fetched")
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let start = std::time::Instant::now();
    writer
        .put(&mailbox, envelope("live"))
        .await
        .expect("stored");
    let fetched = waiting.await.expect("the waiting fetch ends");
    assert_eq!(fetched.envelopes, vec![envelope("live")]);
    assert!(
        start.elapsed() < Duration::from_secs(19),
        "pushed before the wait ran out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_trait_reads_each_envelope_once_through_its_cursor() {
    use phantom_mailbox::transport::{MailboxCursor, MailboxTransport};

    let network = Network::start(5);
    let writer = network.client();
    let reader = network.client();
    let mailbox = MailboxKeys::shared(&[6; 32]);
    let mut cursor = MailboxCursor::default();
    MailboxTransport::put(&writer, &mailbox, envelope("one"))
        .await
        .expect("stored");
    let first = MailboxTransport::fetch(&reader, &mailbox, &mut cursor, Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(first, vec![envelope("one")]);
    MailboxTransport::put(&writer, &mailbox, envelope("two"))
        .await
        .expect("stored");
    let second = MailboxTransport::fetch(&reader, &mailbox, &mut cursor, Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(second, vec![envelope("two")], "only what is new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_follow_the_network_when_every_original_holder_goes() {
    let mut network = Network::start(6);
    let writer = network.client();
    let mailbox = MailboxKeys::shared(&[9; 32]);
    writer
        .put(&mailbox, envelope("wanderer"))
        .await
        .expect("stored");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The mailbox's closest nodes: a fetch asks them all (and repairs any that lacked it).
    let holders: Vec<PeerId> = writer
        .fetch(&mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched")
        .cursors
        .iter()
        .map(|(peer, _)| *peer)
        .collect();
    assert_eq!(holders.len(), 3);

    // Two of the holders go; the last one republishes to the new closest nodes (every 2 s
    // in these tests) before it goes too.
    let mut stopped = 0;
    for node in network.nodes.iter_mut() {
        if stopped < holders.len() - 1 && holders.contains(&node.peer) {
            node.stop();
            stopped += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    for node in network.nodes.iter_mut() {
        if holders.contains(&node.peer) {
            node.stop();
        }
    }
    let reader = network.client();
    assert_eq!(
        fetch_all(&reader, &mailbox).await,
        vec![envelope("wanderer")],
        "the nodes that hold it now were never written to by a client"
    );
}

/// Three nodes, so all of them hold every envelope; each node gets its own `--fault`.
fn faulty_network(dir: &Path, faults: [&str; 3]) -> Vec<testnet::TestNode> {
    let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let mut nodes: Vec<testnet::TestNode> = Vec::new();
    for (seed, fault) in faults.into_iter().enumerate() {
        let bootstrap: Vec<_> = nodes.iter().map(|n| n.address.clone()).collect();
        let extra: Vec<&str> = if fault == "honest" {
            vec![]
        } else {
            vec!["--fault", fault]
        };
        let data = dir.join(format!("node{seed}"));
        nodes.push(testnet::TestNode::start(
            binary,
            seed as u64 + 100,
            &data,
            "/ip4/127.0.0.1/tcp/0",
            &bootstrap,
            &extra,
        ));
    }
    std::thread::sleep(Duration::from_millis(1500));
    nodes
}

/// What was sent (written with `replication`), read, read again, and the reader's traffic
/// counts.
async fn read_through_faults(
    faults: [&str; 3],
    replication: Replication,
) -> (Vec<Envelope>, Vec<Envelope>, Vec<Envelope>, Traffic) {
    use phantom_mailbox::transport::{MailboxCursor, MailboxTransport};

    let dir = tempfile::tempdir().expect("a temp dir");
    let nodes = faulty_network(dir.path(), faults);
    let addresses: Vec<_> = nodes.iter().map(|n| n.address.clone()).collect();
    let writer = phantom_network::client::connect_native(&addresses, replication).expect("client");
    let reader = phantom_network::client::connect_native(&addresses, Replication::default())
        .expect("client");
    let keys = MailboxKeys::shared(&[0x33; 32]);
    let sent: Vec<Envelope> = (0..5).map(|n| envelope(&format!("message {n}"))).collect();
    for e in &sent {
        writer.put(&keys, e.clone()).await.expect("stored");
    }
    let mut cursor = MailboxCursor::default();
    let first = MailboxTransport::fetch(&reader, &keys, &mut cursor, Duration::ZERO)
        .await
        .expect("fetched");
    let again = MailboxTransport::fetch(&reader, &keys, &mut cursor, Duration::ZERO)
        .await
        .expect("fetched");
    (sent, first, again, reader.traffic())
}

/// Every envelope sent arrives intact, and none of them twice (replays and copies from
/// other nodes are kept once).
fn assert_each_read_once(sent: &[Envelope], read: &[Envelope]) {
    for e in sent {
        assert!(read.contains(e), "every envelope arrives intact");
    }
    assert_eq!(
        read.iter().filter(|e| sent.contains(e)).count(),
        sent.len(),
        "none is read twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_and_corrupting_nodes_do_not_break_a_reader() {
    // Written to all three, so every node holds every envelope before the read.
    let everywhere = Replication::new(3, 3).expect("3 ≤ 3");
    let (sent, read, again, traffic) =
        read_through_faults(["corrupt", "replay", "honest"], everywhere).await;
    assert_each_read_once(&sent, &read);
    // Altered copies are different ids: handed up, they fail to open there and are dropped.
    assert!(read.len() <= 2 * sent.len());
    // The reader sends the corrupter the genuine envelopes back, stamped by their writer;
    // the altered copies carry stamps of other ids, so they reach neither of the two honest
    // nodes (without the check: 3 × 5 repairs).
    assert_eq!(traffic.repaired, sent.len() as u64, "{traffic:?}");
    assert!(again.is_empty(), "nothing is read twice across fetches");
    assert_eq!(traffic.fetched, read.len() as u64);
    assert!(
        traffic.duplicates >= sent.len() as u64,
        "every replayed copy is counted: {traffic:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordering_and_dropping_nodes_do_not_break_a_reader() {
    let (sent, mut read, again, _) =
        read_through_faults(["reorder", "drop", "honest"], Replication::default()).await;
    let mut expected = sent.clone();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    read.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(read, expected);
    assert!(again.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delaying_and_hostile_nodes_do_not_break_a_reader() {
    let (sent, read, again, _) =
        read_through_faults(["delay", "hostile", "honest"], Replication::default()).await;
    assert_each_read_once(&sent, &read);
    assert!(again.is_empty(), "nothing is read twice across fetches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_factor_and_write_quorum_are_configurable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let network = testnet::Network::start_with(binary, dir.path(), 6, &["--replication", "5"]);
    let writer = network.client_with(Replication::new(5, 5).expect("valid"));
    let mailbox = MailboxKeys::shared(&[0x55; 32]);

    let receipt = writer
        .put(&mailbox, envelope("five copies"))
        .await
        .expect("stored");
    assert_eq!(receipt.acks.len(), 5, "w = 5 waits for every holder");
    let reader = network.client_with(Replication::new(5, 1).expect("valid"));
    let fetched = reader
        .fetch(&mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(fetched.cursors.len(), 5, "a read asks all k holders");
    assert_eq!(fetched.envelopes, vec![envelope("five copies")]);

    let refused = Replication::new(3, 4).expect_err("w > k");
    assert_eq!(refused.code(), "invalid_replication");
    assert!(
        Replication::new(21, 2).is_err(),
        "k beyond a Kademlia bucket"
    );
    assert!(Replication::new(3, 0).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_on_remembered_nodes_that_died_looks_the_mailbox_up_again() {
    let mut network = Network::start(6);
    let writer = network.client();
    let mailbox = MailboxKeys::shared(&[0x66; 32]);
    let first = writer.put(&mailbox, envelope("one")).await.expect("stored");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let holders: Vec<PeerId> = writer
        .fetch(&mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched")
        .cursors
        .iter()
        .map(|(peer, _)| *peer)
        .collect();
    assert!(first.acks.len() >= 2);
    // Two of the three remembered holders go: the quorum on them alone is impossible.
    let mut stopped = 0;
    for node in network.nodes.iter_mut() {
        if stopped < 2 && holders.contains(&node.peer) {
            node.stop();
            stopped += 1;
        }
    }
    let second = writer
        .put(&mailbox, envelope("two"))
        .await
        .expect("stored on the nodes a fresh lookup finds");
    assert!(second.acks.len() >= 2, "{second:?}");
    let reader = network.client();
    let mut read = fetch_all(&reader, &mailbox).await;
    read.sort_by_key(|e| e.as_bytes().to_vec());
    assert_eq!(read, vec![envelope("one"), envelope("two")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_up_to_the_size_cap_are_stored_and_read_back() {
    use phantom_mailbox::envelope::MAX_ENVELOPE_LEN;

    let network = Network::start(5);
    let writer = network.client();
    let reader = network.client();
    let mailbox = MailboxKeys::shared(&[0x77; 32]);
    let sizes = [16 * 1024, 64 * 1024, MAX_ENVELOPE_LEN];
    for size in sizes {
        let envelope = Envelope::new(vec![size as u8; size]).expect("within the cap");
        writer
            .put(&mailbox, envelope)
            .await
            .unwrap_or_else(|e| panic!("a {size}-byte envelope: {e}"));
    }
    let mut read: Vec<usize> = fetch_all(&reader, &mailbox)
        .await
        .iter()
        .map(Envelope::len)
        .collect();
    read.sort();
    assert_eq!(read, sizes.to_vec());
}

/// A mailbox of history blocks holds more than one answer may carry: fetches come back in
/// parts of about `MAX_FETCH_BYTES`, and reading on gets all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_larger_than_one_answer_is_read_whole_in_parts() {
    use phantom_mailbox::protocol::MAX_FETCH_BYTES;

    let network = Network::start(3);
    let writer = network.client();
    let reader = network.client();
    let keys = MailboxKeys::shared(&[0x78; 32]);
    let mailbox = &keys;
    let count = 40u8;
    for n in 0..count {
        let envelope = Envelope::new(vec![n; 64 * 1024]).expect("within the cap");
        writer.put(mailbox, envelope).await.expect("stored");
    }
    let first = reader
        .fetch(mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("an answer");
    let answered: usize = first.envelopes.iter().map(Envelope::len).sum();
    assert!(answered <= MAX_FETCH_BYTES + 64 * 1024, "{answered} bytes");
    assert!(first.envelopes.len() < usize::from(count));
    let mut cursor = phantom_mailbox::transport::MailboxCursor::default();
    let all = phantom_mailbox::transport::MailboxTransport::fetch(
        &reader,
        &keys,
        &mut cursor,
        Duration::ZERO,
    )
    .await
    .expect("read whole");
    let mut read: Vec<u8> = all.iter().map(|e| e.as_bytes()[0]).collect();
    read.sort();
    assert_eq!(read, (0..count).collect::<Vec<_>>());
}

/// One node with no rate limit to speak of, and a client that writes to it alone.
fn lone_node(dir: &Path, seed: u64) -> (testnet::TestNode, MailboxClient) {
    let binary = Path::new(env!("CARGO_BIN_EXE_phantom-node"));
    let node = testnet::TestNode::start(
        binary,
        seed,
        &dir.join("node"),
        "/ip4/127.0.0.1/tcp/0",
        &[],
        &["--rate", "100000"],
    );
    let client = lone_client(&node);
    (node, client)
}

fn lone_client(node: &testnet::TestNode) -> MailboxClient {
    let one = Replication::new(1, 1).expect("1 ≤ 1");
    phantom_network::client::connect_native(std::slice::from_ref(&node.address), one)
        .expect("a client")
}

/// Group commit acknowledges a put only once its transaction is on disk: the node killed
/// (SIGKILL) while hundreds of puts are in flight comes back with every envelope it
/// acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_put_survives_killing_the_node_mid_group() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (mut node, client) = lone_node(dir.path(), 5);
    let mailbox = MailboxKeys::shared(&[0x51; 32]);
    client
        .put(&mailbox, envelope("first"))
        .await
        .expect("the node is up");
    let acknowledged = std::sync::Mutex::new(vec![envelope("first")]);
    let puts = futures::stream::iter(0..5_000)
        .map(|n| {
            let client = &client;
            let acknowledged = &acknowledged;
            let mailbox = &mailbox;
            async move {
                let sent = envelope(&format!("put {n}"));
                if client.put(mailbox, sent.clone()).await.is_ok() {
                    acknowledged.lock().expect("not poisoned").push(sent);
                }
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<()>>();
    let kill = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        node.stop();
    };
    tokio::join!(puts, kill);
    let acknowledged = acknowledged.into_inner().expect("not poisoned");
    assert!(
        acknowledged.len() > 50 && acknowledged.len() < 5_001,
        "the kill came mid-flight: {} acknowledged",
        acknowledged.len()
    );

    node.restart(&[]);
    let reader = lone_client(&node);
    let mut held = std::collections::HashSet::new();
    let mut after = HashMap::new();
    loop {
        let page = reader
            .fetch(&mailbox, after.clone(), Duration::ZERO)
            .await
            .expect("fetched");
        if page.envelopes.is_empty() {
            break;
        }
        held.extend(page.envelopes.iter().map(Envelope::id));
        for (peer, cursor) in page.cursors {
            after.insert(peer, cursor.read_to);
        }
    }
    let lost = acknowledged
        .iter()
        .filter(|envelope| !held.contains(&envelope.id()))
        .count();
    println!(
        "{} puts acknowledged before the kill, {} envelopes after the restart, {lost} lost",
        acknowledged.len(),
        held.len()
    );
    assert_eq!(lost, 0, "an acknowledged put was lost");
}

/// A thousand puts at once to a single node, far beyond the 100 requests libp2p lets one
/// connection carry: the client queues them and every one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_puts_beyond_what_a_connection_carries_is_all_stored() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_node, client) = lone_node(dir.path(), 6);
    let mailbox = MailboxKeys::shared(&[0x52; 32]);
    let stored = futures::stream::iter(0..1_000)
        .map(|n| client.put(&mailbox, envelope(&format!("burst {n}"))))
        .buffer_unordered(1_000)
        .filter(|outcome| futures::future::ready(outcome.is_ok()))
        .count()
        .await;
    assert_eq!(stored, 1_000);
}
