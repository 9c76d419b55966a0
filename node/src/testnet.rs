//! Local networks of real `phantom-node` processes, for tests and benchmarks.
//!
//! Nodes run as separate processes on 127.0.0.1 with deterministic identities; a node that
//! cannot start, or does not print its address, fails the caller loudly — these helpers
//! serve test code only.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use phantom_network::client::{connect_native, MailboxClient};
use phantom_network::Replication;

/// A `phantom-node` process started for a test or a benchmark; stopped when dropped.
pub struct TestNode {
    binary: PathBuf,
    child: Child,
    seed: u64,
    data: PathBuf,
    extra: Vec<String>,
    pub address: Multiaddr,
    pub peer: PeerId,
}

impl TestNode {
    /// Starts `binary` as node `seed` on `listen` (port 0 picks one), with `extra` options,
    /// and waits until it prints its address.
    pub fn start(
        binary: &Path,
        seed: u64,
        data: &Path,
        listen: &str,
        bootstrap: &[Multiaddr],
        extra: &[&str],
    ) -> TestNode {
        let mut command = Command::new(binary);
        command
            .args(["--seed", &seed.to_string(), "--data"])
            .arg(data)
            .args(["--listen", listen, "--republish-secs", "2"])
            .args(extra)
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
            binary: binary.to_path_buf(),
            child,
            seed,
            data: data.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
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

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident memory in KiB (`VmRSS` in `/proc`), 0 when unreadable.
    pub fn resident_kib(&self) -> u64 {
        resident_kib(self.pid())
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The same node, on the same address and data, after a stop.
    pub fn restart(&mut self, bootstrap: &[Multiaddr]) {
        self.stop();
        let listen = self.listen_address();
        let extra: Vec<String> = self.extra.clone();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        *self = TestNode::start(
            &self.binary.clone(),
            self.seed,
            &self.data.clone(),
            &listen,
            bootstrap,
            &extra,
        );
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The resident memory of process `pid` in KiB (`VmRSS` in `/proc`), 0 when unreadable.
pub fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Several nodes on 127.0.0.1, each bootstrapping from the ones before it.
pub struct Network {
    pub dir: PathBuf,
    pub nodes: Vec<TestNode>,
}

impl Network {
    pub fn start(binary: &Path, dir: &Path, count: u64) -> Network {
        Network::start_with(binary, dir, count, &[])
    }

    /// Nodes started with `extra` options each.
    pub fn start_with(binary: &Path, dir: &Path, count: u64, extra: &[&str]) -> Network {
        let mut nodes: Vec<TestNode> = Vec::new();
        for seed in 0..count {
            let bootstrap: Vec<Multiaddr> = nodes.iter().map(|n| n.address.clone()).collect();
            let data = dir.join(format!("node{seed}"));
            nodes.push(TestNode::start(
                binary,
                seed,
                &data,
                "/ip4/127.0.0.1/tcp/0",
                &bootstrap,
                extra,
            ));
        }
        // Let the routing tables fill.
        std::thread::sleep(Duration::from_millis(1500));
        Network {
            dir: dir.to_path_buf(),
            nodes,
        }
    }

    pub fn addresses(&self) -> Vec<Multiaddr> {
        self.nodes.iter().map(|n| n.address.clone()).collect()
    }

    pub fn client(&self) -> MailboxClient {
        self.client_with(Replication::default())
    }

    pub fn client_with(&self, replication: Replication) -> MailboxClient {
        connect_native(&self.addresses(), replication).expect("a client")
    }
}
