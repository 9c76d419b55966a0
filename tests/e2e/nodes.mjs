// phantom-node processes a test starts, stops and crashes itself: a small network whose
// nodes may misbehave on purpose (`--fault`), on ports of its own beside scripts/local-network.sh's.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const binary = process.env.PHANTOM_NODE_BINARY
  ?? join(process.env.CARGO_TARGET_DIR ?? "target", "debug", "phantom-node");

/** One node: its process, and the addresses it listens on once started. */
class Node {
  constructor(seed, dataDir, port, fault, bootstrap) {
    Object.assign(this, { seed, dataDir, port, fault, bootstrap });
    this.log = "";
  }

  async start() {
    const args = [
      "--seed", String(this.seed), "--data", this.dataDir,
      "--listen", `/ip4/127.0.0.1/tcp/${this.port}`,
      "--listen", `/ip4/127.0.0.1/tcp/${this.port + 1}/ws`,
      ...this.bootstrap.flatMap((address) => ["--bootstrap", address]),
      ...(this.fault ? ["--fault", this.fault] : []),
    ];
    this.process = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise((resolve) => this.process.once("exit", resolve));
    const listening = new Promise((resolve, reject) => {
      const addresses = {};
      // This start's output alone: after a restart the log still holds the last run's lines.
      let output = "";
      const read = (chunk) => {
        output += chunk;
        this.log += chunk;
        for (const line of output.split("\n")) {
          const address = line.match(/^LISTEN (\S+)$/)?.[1];
          if (!address?.includes("/p2p/")) continue;
          if (address.includes("/ws/")) addresses.websocket = address;
          else addresses.tcp = address;
        }
        if (addresses.websocket && addresses.tcp) resolve(addresses);
      };
      this.process.stdout.on("data", read);
      this.process.stderr.on("data", read);
      exited.then((code) => reject(new Error(`node ${this.seed} exited (${code}):\n${this.log}`)));
    });
    Object.assign(this, await listening);
    this.exited = exited;
  }

  /** Kills the process at once, whatever it is writing: a crash, not a shutdown. */
  async crash() {
    this.process.kill("SIGKILL");
    await this.exited;
  }
}

/**
 * Starts one node per entry of `faults` (null: an honest node), each bootstrapping from
 * those before it. Returns the nodes and a `stop` that ends them and deletes their data.
 */
export async function startNodes(faults, basePort = 47400) {
  const root = await mkdtemp(join(tmpdir(), "phantom-nodes-"));
  const nodes = [];
  for (const [index, fault] of faults.entries()) {
    const seed = 101 + index;
    const node = new Node(seed, join(root, `node${seed}`), basePort + 2 * index, fault,
      nodes.map((earlier) => earlier.tcp));
    await node.start();
    nodes.push(node);
  }
  const stop = async () => {
    for (const node of nodes) {
      if (node.process.exitCode === null && node.process.signalCode === null) {
        node.process.kill();
        await node.exited;
      }
    }
    await rm(root, { recursive: true, force: true });
  };
  return { nodes, stop };
}
