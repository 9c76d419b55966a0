//! A real local network: `phantom-node` processes on 127.0.0.1 and native mailbox clients.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use phantom_sync::mailbox::envelope::Envelope;
use phantom_sync::mailbox::MailboxAddress;
use phantom_sync::network::client::{connect_native, MailboxClient};

struct TestNode {
    child: Child,
    seed: u64,
    data: PathBuf,
    address: Multiaddr,
    peer: PeerId,
}

impl TestNode {
    /// Starts node `seed`, on `address` (port 0 picks one), and waits for its address.
    fn start(seed: u64, data: &Path, listen: &str, bootstrap: &[Multiaddr]) -> TestNode {
        let mut command = Command::new(env!("CARGO_BIN_EXE_phantom-node"));
        command
            .args(["--seed", &seed.to_string(), "--data"])
            .arg(data)
            .args(["--listen", listen, "--republish-secs", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for address in bootstrap {
            command.args(["--bootstrap", &address.to_string()]);
        }
        let mut child = command.spawn().expect("phantom-node starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address: Multiaddr = loop {
            let line = lines.next().expect("a line").expect("readable");
            if let Some(address) = line.strip_prefix("LISTEN ") {
                break address.parse().expect("a multiaddr");
            }
        };
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let peer = address
            .iter()
            .find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            })
            .expect("the address names the peer");
        TestNode {
            child,
            seed,
            data: data.to_path_buf(),
            address,
            peer,
        }
    }

    fn listen_address(&self) -> String {
        let tcp: Multiaddr = self
            .address
            .iter()
            .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
            .collect();
        tcp.to_string()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The same node, on the same address and data, after a stop.
    fn restart(&mut self, bootstrap: &[Multiaddr]) {
        self.stop();
        let listen = self.listen_address();
        *self = TestNode::start(self.seed, &self.data.clone(), &listen, bootstrap);
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Network {
    _dir: tempfile::TempDir,
    nodes: Vec<TestNode>,
}

impl Network {
    fn start(count: u64) -> Network {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut nodes: Vec<TestNode> = Vec::new();
        for seed in 0..count {
            let bootstrap: Vec<Multiaddr> = nodes.iter().map(|n| n.address.clone()).collect();
            let data = dir.path().join(format!("node{seed}"));
            nodes.push(TestNode::start(
                seed,
                &data,
                "/ip4/127.0.0.1/tcp/0",
                &bootstrap,
            ));
        }
        // Let the routing tables fill.
        std::thread::sleep(Duration::from_millis(1500));
        Network { _dir: dir, nodes }
    }

    fn addresses(&self) -> Vec<Multiaddr> {
        self.nodes.iter().map(|n| n.address.clone()).collect()
    }

    fn client(&self) -> MailboxClient {
        connect_native(&self.addresses()).expect("a client")
    }
}

fn envelope(text: &str) -> Envelope {
    Envelope::new(text.as_bytes().to_vec()).expect("small")
}

async fn fetch_all(client: &MailboxClient, mailbox: MailboxAddress) -> Vec<Envelope> {
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
    let mailbox = MailboxAddress::from_bytes([1; 32]);

    let receipt = writer
        .put(mailbox, envelope("hello"))
        .await
        .expect("stored");
    assert!(
        receipt.acks.len() >= 2,
        "a quorum acknowledged: {receipt:?}"
    );
    let again = writer
        .put(mailbox, envelope("hello"))
        .await
        .expect("stored again");
    assert_eq!(again.acks.len().min(2), 2);

    let fetched = reader
        .fetch(mailbox, HashMap::new(), Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(
        fetched.envelopes,
        vec![envelope("hello")],
        "one copy, deduplicated"
    );
    assert!(fetched.cursors.len() >= 2);
    assert_eq!(
        fetch_all(&reader, MailboxAddress::from_bytes([2; 32])).await,
        vec![]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_survives_losing_all_but_one_of_its_holders() {
    let mut network = Network::start(5);
    let writer = network.client();
    let mailbox = MailboxAddress::from_bytes([3; 32]);
    let receipt = writer
        .put(mailbox, envelope("keep me"))
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
    assert_eq!(fetch_all(&reader, mailbox).await, vec![envelope("keep me")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_survive_restarting_every_node() {
    let mut network = Network::start(5);
    let writer = network.client();
    let mailbox = MailboxAddress::from_bytes([4; 32]);
    for n in 0..5 {
        writer
            .put(mailbox, envelope(&format!("message {n}")))
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
    let mut texts: Vec<String> = fetch_all(&reader, mailbox)
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
    let mailbox = MailboxAddress::from_bytes([5; 32]);
    let waiting = tokio::spawn({
        let reader = reader.clone();
        async move {
            reader
                .fetch(mailbox, HashMap::new(), Duration::from_secs(20))
                .await
                .expect("fetched")
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let start = std::time::Instant::now();
    writer.put(mailbox, envelope("live")).await.expect("stored");
    let fetched = waiting.await.expect("the waiting fetch ends");
    assert_eq!(fetched.envelopes, vec![envelope("live")]);
    assert!(
        start.elapsed() < Duration::from_secs(19),
        "pushed before the wait ran out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_trait_reads_each_envelope_once_through_its_cursor() {
    use phantom_sync::mailbox::transport::{MailboxCursor, MailboxTransport};

    let network = Network::start(5);
    let writer = network.client();
    let reader = network.client();
    let mailbox = MailboxAddress::from_bytes([6; 32]);
    let mut cursor = MailboxCursor::default();
    MailboxTransport::put(&writer, mailbox, envelope("one"))
        .await
        .expect("stored");
    let first = MailboxTransport::fetch(&reader, mailbox, &mut cursor, Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(first, vec![envelope("one")]);
    MailboxTransport::put(&writer, mailbox, envelope("two"))
        .await
        .expect("stored");
    let second = MailboxTransport::fetch(&reader, mailbox, &mut cursor, Duration::ZERO)
        .await
        .expect("fetched");
    assert_eq!(second, vec![envelope("two")], "only what is new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_follow_the_network_when_every_original_holder_goes() {
    let mut network = Network::start(6);
    let writer = network.client();
    let mailbox = MailboxAddress::from_bytes([9; 32]);
    writer
        .put(mailbox, envelope("wanderer"))
        .await
        .expect("stored");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The mailbox's closest nodes: a fetch asks them all (and repairs any that lacked it).
    let holders: Vec<PeerId> = writer
        .fetch(mailbox, HashMap::new(), Duration::ZERO)
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
        fetch_all(&reader, mailbox).await,
        vec![envelope("wanderer")],
        "the nodes that hold it now were never written to by a client"
    );
}
