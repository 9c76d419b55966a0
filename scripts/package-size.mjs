// The wasm package's size as a browser downloads it: the .wasm and its JS glue, raw and
// gzip -9. Prints a BENCH line. With --budget BYTES, exits 1 when the gzip size is over it.
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";

const pkg = new URL("../pkg/", import.meta.url);
const files = ["phantom_sync_bg.wasm", "phantom_sync.js"];
let raw = 0;
let gzip = 0;
const sizes = {};
for (const file of files) {
  const bytes = await readFile(new URL(file, pkg));
  const packed = gzipSync(bytes, { level: 9 }).length;
  sizes[file] = { raw: bytes.length, gzip: packed };
  raw += bytes.length;
  gzip += packed;
}
const wasm = sizes["phantom_sync_bg.wasm"];
console.log(`BENCH package raw_bytes=${raw} gzip_bytes=${gzip} wasm_raw_bytes=${wasm.raw} wasm_gzip_bytes=${wasm.gzip}`);

const at = process.argv.indexOf("--budget");
if (at !== -1) {
  const budget = Number(process.argv[at + 1]);
  if (!Number.isFinite(budget) || budget <= 0) {
    console.error("--budget needs a size in bytes");
    process.exit(2);
  }
  const verdict = gzip <= budget ? "within" : "over";
  console.error(`wasm package: ${gzip} bytes gzip, ${verdict} the budget of ${budget}`);
  if (gzip > budget) process.exit(1);
}
