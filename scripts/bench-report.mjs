// Turns the BENCH lines of one `scripts/bench.sh` run into test-results/bench.json, a
// Markdown table (test-results/bench.md) and docs/PERFORMANCE.md: the table, the machine
// it ran on, and where each of the brief's goals stands. PERFORMANCE.md's hand-written
// notes, below its NOTES marker, are kept as they are.
//   node scripts/bench-report.mjs test-results/bench.log
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";

const NOTES = "<!-- notes: kept by scripts/bench-report.mjs; everything above is its output -->";

/** `BENCH word word key=value …` lines: the words name the benchmark, the pairs are its fields. */
export function parse(text) {
  const results = [];
  for (const line of text.split("\n")) {
    const match = line.match(/^BENCH\s+(.*)$/);
    if (!match) continue;
    const name = [];
    const fields = {};
    for (const word of match[1].trim().split(/\s+/)) {
      const eq = word.indexOf("=");
      if (eq > 0) {
        const value = word.slice(eq + 1);
        fields[word.slice(0, eq)] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
      } else {
        name.push(word);
      }
    }
    results.push({ name: name.join(" "), fields });
  }
  return results;
}

function tool(command, args) {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    chromium: tool(process.env.CHROMIUM ?? "/usr/bin/chromium", ["--version"]),
    rustc: tool("rustc", ["--version"]),
    node: process.version,
    commit: tool("git", ["rev-parse", "--short", "HEAD"])
      + (tool("git", ["status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/PERFORMANCE.md"]) ? " with local changes" : ""),
    date: new Date().toISOString(),
  };
}

const fixed = (value, digits = 1) => Number(value).toLocaleString("en-US", {
  minimumFractionDigits: digits, maximumFractionDigits: digits,
});
const whole = (value) => Math.round(Number(value)).toLocaleString("en-US");
const times = (value, digits = 2) => `${fixed(value, digits)}×`;
const status = (met) => (met ? "**met**" : "not met");

/** A result a row needs that this run did not produce. */
class Missing extends Error {}

/** The table's rows, each from the results it needs; a missing result is said so. */
function rows(results) {
  const one = (name, where = () => true) => results.find((r) => r.name === name && where(r.fields))?.fields;
  const table = [];
  const row = (work, build) => {
    try {
      table.push({ work, ...build() });
    } catch (missing) {
      if (!(missing instanceof Missing)) throw missing;
      table.push({ work, measured: `not measured in this run (${missing.message})`, compared: "", ratio: "", goal: "", standing: "" });
    }
  };
  const need = (fields, what) => {
    if (!fields) throw new Missing(`no ${what} result`);
    return fields;
  };

  row("Pairing: decoded QR → Completed on both devices (native clients, five local nodes)", () => {
    const p = need(one("pairing"), "pairing");
    return {
      measured: `p50 ${fixed(p.decoded_qr_to_completed_p50_ms)} ms (${p.samples} links)`,
      compared: `crypto alone (the floor): ${fixed(p.crypto_floor_p50_ms, 2)} ms`,
      ratio: `${times(p.ratio_to_floor, 1)} the floor`,
      goal: "< 250 ms p50",
      standing: status(p.decoded_qr_to_completed_p50_ms < 250),
    };
  });
  row("QR decode of camera-like frames (640×480 and 1280×720, ten kinds), the app's path against zxing-wasm and jsQR, same frames, same page", () => {
    const reader = (name) => need(one("qr_decode", (f) => f.reader === name), `qr_decode ${name}`);
    const app = reader("app");
    const zxing = reader("zxing-wasm");
    const jsqr = reader("jsQR");
    const before = reader("before");
    const count = (r) => Number(String(r.read).split("/")[0]);
    const cell = (label, r) => `${label} ${r.read} in ${fixed(r.median_ms)} ms (worst ${fixed(r.worst_ms)})`;
    return {
      measured: `read, median per frame: ${cell("app (rqrr patched, ≤1280 wide, half size first, a second look at a code seen but not read)", app)}; ${cell("the same reader on frames scaled to 640 wide", before)}`,
      compared: `${cell("zxing-wasm 3.1.4", zxing)}; ${cell("jsQR 1.4.0", jsqr)}`,
      ratio: `app ÷ zxing-wasm: ${count(app)}/${count(zxing)} frames read, ${times(app.median_ms / zxing.median_ms, 1)} the time per frame`,
      goal: "every frame zxing-wasm reads, in no more than its time per frame, the worst frame under 16 ms",
      standing: `${status(count(app) >= count(zxing))} (reading); ${status(app.median_ms <= zxing.median_ms && app.worst_ms < 16)} (speed)`,
    };
  });
  row("Vault import, 100k messages of ~200 B, 10k per transaction", () => {
    const v = need(one("vault_import"), "vault_import");
    return {
      measured: `encrypted ${whole(v.encrypted_records_per_s)} records/s (median of ${v.rounds} alternating rounds)`,
      compared: `raw IndexedDB, same records and batching: ${whole(v.raw_records_per_s)} records/s`,
      ratio: times(v.ratio),
      goal: "≥ 0.85× raw",
      standing: status(v.ratio >= 0.85),
    };
  });
  row("Unlock", () => {
    const u = need(one("unlock"), "unlock");
    return {
      measured: `device key (WebCrypto) ${fixed(u.default_unlock_ms)} ms; PIN (Argon2id ${u.pin_params}) ${whole(u.pin_argon2id_ms)} ms`,
      compared: "", ratio: "", goal: "PIN about one second",
      standing: u.pin_argon2id_ms <= 1200 ? status(true) : "slower than meant",
    };
  });
  for (const count of [100000, 10000]) {
    row(`History catch-up, ${whole(count)} messages of 200 B (link, then until every block is imported; both devices in one page of headless Chromium)`, () => {
      const h = need(one("history_catch_up", (f) => f.messages === count), `history_catch_up ${count}`);
      // Against the slower raw side, the larger of the two ratios.
      const againstSlower = Math.max(h.direct_vs_raw_indexeddb, h.direct_vs_raw_channel);
      return {
        measured: `direct WebRTC channel ${whole(h.direct_msgs_per_s)} messages/s (${fixed(h.direct_mb_per_s, 2)} MB/s, ${fixed(h.direct_ms / 1000)} s); mailbox only ${whole(h.mailbox_msgs_per_s)} messages/s`,
        compared: `raw data channel ${fixed(h.raw_channel_mb_per_s)} MB/s; raw IndexedDB ${whole(h.raw_indexeddb_msgs_per_s)} messages/s`,
        ratio: `${times(h.direct_vs_raw_indexeddb)} raw IndexedDB, ${times(h.direct_vs_raw_channel)} raw channel`,
        goal: "≥ 10k messages/s, and ≥ 0.5× the slower raw side",
        standing: `${status(h.direct_msgs_per_s >= 10000)} (rate); ${status(againstSlower >= 0.5)} (ratio)`,
      };
    });
  }
  row("Peak wasm memory during the catch-up (linear memory only grows: the figure after a run is its peak)", () => {
    const small = need(one("history_catch_up", (f) => f.messages === 10000), "history_catch_up 10000");
    const large = need(one("history_catch_up", (f) => f.messages === 100000), "history_catch_up 100000");
    return {
      measured: `10k: ${small.peak_after_direct} MiB; 100k: ${large.peak_after_direct} MiB (after the direct catch-up)`,
      compared: "10× the history", ratio: times(large.peak_after_direct / small.peak_after_direct),
      goal: "bounded: does not grow with the history", standing: status(large.peak_after_direct <= 1.5 * small.peak_after_direct),
    };
  });
  row("AEAD on 64 KiB blocks", () => {
    const wasm = need(one("aead_64k wasm xchacha20poly1305"), "wasm AEAD");
    const native = need(one("aead_64k native xchacha20poly1305"), "native AEAD");
    const webcrypto = need(one("aead_64k webcrypto aes256gcm"), "WebCrypto AEAD");
    return {
      measured: `XChaCha20-Poly1305 in wasm ${whole(wasm.MB_per_s)} MB/s`,
      compared: `native Rust ${whole(native.MB_per_s)} MB/s; WebCrypto AES-256-GCM ${whole(webcrypto.MB_per_s)} MB/s`,
      ratio: `${times(wasm.MB_per_s / native.MB_per_s)} native, ${times(wasm.MB_per_s / webcrypto.MB_per_s)} WebCrypto`,
      goal: "", standing: "",
    };
  });
  row("Crypto share of the 100k catch-up (each byte sealed and opened in the page)", () => {
    const wasm = need(one("aead_64k wasm xchacha20poly1305"), "wasm AEAD");
    const h = need(one("history_catch_up", (f) => f.messages === 100000), "history_catch_up 100000");
    const share = (2 * h.direct_mb_per_s) / wasm.MB_per_s;
    return {
      measured: `${fixed(share * 100)}% of the time`, compared: "catch-up rate against the wasm AEAD rate", ratio: "",
      goal: "< 5%", standing: status(share < 0.05),
    };
  });
  row("Live message: send → visible on every linked device (native clients, five local nodes)", () => {
    const m = need(one("messaging"), "messaging");
    return {
      measured: `p50 ${fixed(m.send_to_visible_on_all_devices_p50_ms)} ms, p99 ${fixed(m.p99_ms)} ms (${m.samples} samples, ${m.recipient_devices} devices)`,
      compared: `crypto alone: ${fixed(m.crypto_floor_p50_ms, 2)} ms`,
      ratio: `${times(m.ratio_to_floor, 1)} the floor`,
      goal: "< 100 ms p50", standing: status(m.send_to_visible_on_all_devices_p50_ms < 100),
    };
  });
  row("Envelope put → visible to a waiting reader (five local nodes)", () => {
    const l = need(one("latency"), "latency");
    return {
      measured: `p50 ${fixed(l.put_to_visible_p50_ms)} ms, p99 ${fixed(l.put_to_visible_p99_ms)} ms`, compared: "", ratio: "",
      goal: "p99 < 50 ms", standing: status(l.put_to_visible_p99_ms < 50),
    };
  });
  row("Envelopes through five local nodes (16 devices, 1,024 puts in flight, quorum 2 of 3; group commit)", () => {
    const n = need(one("network"), "network");
    const memory = one("node_memory");
    const disk = one("node_disk");
    return {
      measured: `nodes on one thread (the default) ${whole(n.envelopes_per_s_one_thread)} envelopes/s`
        + ` (${whole(n.one_thread_low)}–${whole(n.one_thread_high)}, ${n.runs} runs; ${whole(n.stored)} of ${whole(n.asked)} puts stored)`
        + (memory ? `; node resident memory ${memory.resident_kib_per_node} KiB` : "")
        + (disk ? `; disk ${fixed(disk.bytes_per_100k / 1e6, 0)} MB per 100k envelopes` : ""),
      compared: `nodes on two threads: ${whole(n.envelopes_per_s_two_threads)} envelopes/s (${whole(n.two_threads_low)}–${whole(n.two_threads_high)})`,
      ratio: times(n.one_over_two),
      goal: "≥ 3,000 envelopes/s", standing: status(n.envelopes_per_s_one_thread >= 3000),
    };
  });
  row("Node storage alone (redb, 200-byte envelopes, each durable)", () => {
    const d = need(one("node_disk"), "node_disk");
    return {
      measured: `${d.group} envelopes per transaction: ${whole(d.store_puts_per_s_grouped)} envelopes/s (${whole(d.grouped_low)}–${whole(d.grouped_high)}, ${d.runs} runs)`,
      compared: `one per transaction: ${whole(d.store_puts_per_s_each)} envelopes/s (${whole(d.each_low)}–${whole(d.each_high)})`,
      ratio: times(d.grouped_over_each, 1), goal: "", standing: "",
    };
  });
  row("Fifty node processes, a third killed (with their data) and replaced while two devices exchange 1,000 messages", () => {
    const c = need(one("churn"), "churn");
    return {
      measured: `${whole(c.delivered)} of ${whole(c.messages)} messages read; ${c.replaced} of ${c.nodes} nodes replaced; ${c.put_tries_failed} put tries failed and were tried again; ${fixed(c.seconds)} s`,
      compared: "", ratio: "", goal: "nothing lost", standing: status(c.delivered === c.messages),
    };
  });
  row("Twenty attacking clients (garbage, oversized frames, held streams, mailbox-filling writes) against five nodes while two devices exchange 1,000 messages", () => {
    const a = need(one("abuse"), "abuse");
    return {
      measured: `${whole(a.delivered)} of ${whole(a.messages)} messages read; send → read p50 ${a.p50_ms} ms, p99 ${a.p99_ms} ms, max ${a.max_ms} ms; nodes' resident memory at most ${a.peak_mib_max} MiB during, ${a.after_mib_max} MiB after; ${whole(a.attack_streams)} attacking streams, ${whole(a.filling_puts)} filling puts stored; ${fixed(a.seconds)} s`,
      compared: "", ratio: "", goal: "nothing lost", standing: status(a.delivered === a.messages),
    };
  });
  row("Simulated network of 10,000 nodes (in process): lookups and mailboxes on 3 nodes under 30 % churn", () => {
    const sim = (name) => need(one("simulation " + name), "simulation " + name);
    const [steady, atOnce, steps] = [sim("steady"), sim("at_once"), sim("in_steps_republished")];
    return {
      measured: `30 % replaced in three steps, republishing between: ${fixed(steps.delivered_percent)} % of mailboxes found, hops p50 ${steps.hops_p50} / p99 ${steps.hops_p99}; `
        + `30 % at once, no republishing: ${fixed(atOnce.delivered_percent)} % found, ${fixed(atOnce.timeouts_per_lookup, 2)} dead nodes asked per lookup`,
      compared: `no churn: ${fixed(steady.delivered_percent)} % found, hops p50 ${steady.hops_p50} / p99 ${steady.hops_p99}`,
      ratio: "", goal: "", standing: "",
    };
  });
  row("Node id puzzle (S/Kademlia static puzzle): placing a node among the 3 closest of a chosen mailbox, 10,000 nodes", () => {
    const p = need(one("node_id_puzzle"), "node_id_puzzle");
    return {
      measured: `${p.difficulty_bits} bits: an honest node makes its id in ${fixed(p.costly_id_ms)} ms; an attacker needs about ${whole(p.place_next_to_a_mailbox_cpu_s_costly)} CPU-seconds per mailbox`,
      compared: `no puzzle: ${fixed(p.place_next_to_a_mailbox_cpu_s_plain, 2)} CPU-seconds (${fixed(p.plain_key_us)} µs a key)`,
      ratio: `${whole(p.ratio)}×`, goal: "", standing: "",
    };
  });
  row("wasm package (`shipped` profile; the .wasm and its JS glue)", () => {
    const p = need(one("package"), "package");
    const element = 2.1e6;
    return {
      measured: `${fixed(p.raw_bytes / 1e6, 2)} MB, **${whole(p.gzip_bytes / 1000)} KB gzip -9**`,
      compared: "matrix-sdk-crypto-wasm 18.9.0 (Element Web's crypto alone): 2.1 MB gzip",
      ratio: times(p.gzip_bytes / element),
      goal: "≤ 600 KB gzip, all features", standing: status(p.gzip_bytes <= 600000),
    };
  });
  return table;
}

function markdown(table, host) {
  const lines = [
    "| Work | Measured | Compared with (same run) | Ratio | Goal | Where we are |",
    "| --- | --- | --- | --- | --- | --- |",
    ...table.map((r) => `| ${r.work} | ${r.measured} | ${r.compared} | ${r.ratio} | ${r.goal} | ${r.standing} |`),
  ];
  const machineLine = `${host.cpu}, ${host.cores} cores, ${host.memoryGiB} GiB; ${host.os}; ${host.chromium}; ${host.rustc}; Node ${host.node}; commit ${host.commit}; ${host.date}`;
  return { table: lines.join("\n"), machineLine };
}

async function main() {
  const log = process.argv[2];
  if (!log) {
    console.error("usage: node scripts/bench-report.mjs BENCH_LOG");
    process.exit(2);
  }
  const results = parse(await readFile(log, "utf8"));
  const host = machine();
  const table = rows(results);
  const { table: text, machineLine } = markdown(table, host);
  const out = new URL("../test-results/", import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL("bench.json", out), `${JSON.stringify({ machine: host, results, table }, null, 2)}\n`);
  await writeFile(new URL("bench.md", out), `${text}\n\nMachine: ${machineLine}\n`);

  const performance = new URL("../docs/PERFORMANCE.md", import.meta.url);
  const previous = await readFile(performance, "utf8").catch(() => "");
  const at = previous.indexOf(NOTES);
  const notes = at === -1 ? "" : previous.slice(at + NOTES.length);
  await writeFile(performance, [
    "# Performance",
    "",
    "The output of `scripts/bench.sh` (one run: the browser benchmarks built as the package ships, the native ones as `release`; every benchmark side by side with what it is compared with; medians unless a percentile is named). The raw results are in `test-results/bench.json` after a run.",
    "",
    `Machine: ${machineLine}.`,
    "",
    text,
    "",
    NOTES,
  ].join("\n") + notes);
  console.log(text);
  console.log(`\nMachine: ${machineLine}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
