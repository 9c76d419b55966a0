// Seeds each fuzz target's corpus with the protocol's test vectors (tests/vectors/*.json):
// every hex value of 16 bytes or more becomes one input, so libFuzzer starts from real
// frames instead of guessing magic bytes and lengths. Run by scripts/fuzz.sh.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";

const vectors = new URL("../tests/vectors/", import.meta.url);
const corpus = new URL("corpus/", import.meta.url);
const BYTE_TARGETS = [
  "invitation", "sync_request", "persona_payload", "envelope", "roster",
  "history_manifest", "node_request",
];

const seeds = [];
function collect(value, path) {
  if (typeof value === "string" && /^([0-9a-f]{2}){16,}$/.test(value)) seeds.push([path, value]);
  else if (value && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) collect(inner, `${path}.${key}`);
  }
}
for (const name of await readdir(vectors)) {
  if (name.endsWith(".json")) collect(JSON.parse(await readFile(new URL(name, vectors))), name.replace(".json", ""));
}
for (const target of BYTE_TARGETS) {
  const dir = new URL(`${target}/`, corpus);
  await mkdir(dir, { recursive: true });
  for (const [path, hex] of seeds) await writeFile(new URL(`vector${path}`, dir), Buffer.from(hex, "hex"));
}
console.log(`${seeds.length} vector seeds for ${BYTE_TARGETS.length} targets`);
