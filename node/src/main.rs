//! `phantom-node`: a DHT node of the Phantom Net mailbox network.
//!
//! ```text
//! phantom-node --seed 1 --data /tmp/node1 \
//!     --listen /ip4/127.0.0.1/tcp/4001 --listen /ip4/127.0.0.1/tcp/4002/ws \
//!     --bootstrap /ip4/127.0.0.1/tcp/4011/p2p/12D3Koo…
//! ```
//! Prints `PEER <id>` and one `LISTEN <address>` line per address it listens on.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use libp2p::Multiaddr;
use phantom_network::Replication;
use phantom_node::fault::Fault;
use phantom_node::node::{keypair_from_seed, random_keypair, Node, NodeConfig};
use phantom_node::storage::Limits;

const USAGE: &str = "usage: phantom-node --data DIR [--seed N] [--listen MULTIADDR]... \
[--bootstrap MULTIADDR/p2p/PEER]... [--replication K] [--republish-secs N] [--rate N] [--ttl-secs N] \
[--threads N] [--mailbox-quota BYTES] [--node-quota BYTES] \
[--fault replay|reorder|corrupt|drop|delay|hostile (tests only)]";

/// How the node runs: its configuration, and the threads of its runtime.
struct Options {
    config: NodeConfig,
    threads: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut threads = 1;
    let mut seed = None;
    let mut data_dir = None;
    let mut listen = Vec::new();
    let mut bootstrap = Vec::new();
    let mut republish_every = Duration::from_secs(60);
    let mut requests_per_sec = 200;
    let mut limits = Limits::default();
    let mut fault = Fault::None;
    let mut replication = Replication::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        let address = || {
            value
                .parse::<Multiaddr>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--seed" => seed = Some(number()?),
            "--data" => data_dir = Some(PathBuf::from(value)),
            "--listen" => listen.push(address()?),
            "--bootstrap" => bootstrap.push(address()?),
            "--replication" => {
                let factor = usize::try_from(number()?).map_err(|e| e.to_string())?;
                replication = Replication::new(factor, 1).map_err(|e| e.to_string())?;
            }
            "--republish-secs" => republish_every = Duration::from_secs(number()?.max(1)),
            "--rate" => requests_per_sec = u32::try_from(number()?).map_err(|e| e.to_string())?,
            "--ttl-secs" => limits.ttl_secs = number()?,
            "--mailbox-quota" => limits.max_bytes_per_mailbox = number()?,
            "--node-quota" => limits.max_bytes = number()?,
            "--fault" => fault = Fault::parse(value)?,
            "--threads" => {
                threads = usize::try_from(number()?.max(1)).map_err(|e| e.to_string())?
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let keypair = match seed {
        Some(seed) => keypair_from_seed(seed),
        None => random_keypair(),
    };
    if listen.is_empty() {
        listen.push("/ip4/127.0.0.1/tcp/0".parse().map_err(|e| format!("{e}"))?);
    }
    let config = NodeConfig {
        keypair,
        listen,
        bootstrap,
        data_dir: data_dir.ok_or_else(|| format!("--data is required\n{USAGE}"))?,
        limits,
        replication_factor: replication.factor(),
        republish_every,
        requests_per_sec,
        fault,
    };
    Ok(Options { config, threads })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Options { config, threads } = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // One thread by default: the node is one event loop, and on a small machine the
    // wake-ups between threads cost more than they bring (docs/PERFORMANCE.md).
    let runtime = match threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("phantom-node: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match Node::start(config).await {
            Ok(node) => {
                println!("PEER {}", node.peer_id());
                node.run().await;
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("phantom-node: {error}");
                ExitCode::FAILURE
            }
        }
    })
}
