// Runs tests/bench/qr-decode.html in headless Chromium: rqrr in wasm against jsQR on the
// same 640×480 frames. Prints a Markdown table and BENCH lines, and writes
// test-results/bench-qr.json. Needs pkg/ (scripts/build-pkg.sh).
import { mkdir, writeFile } from "node:fs/promises";
import { serve } from "./serve.mjs";
import { launchChromium } from "../tests/e2e/browser.mjs";

const rounds = Number(process.argv[2] ?? 5);
const server = await serve(0);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on("pageerror", (error) => console.error(error));
  await page.goto(`http://127.0.0.1:${server.address().port}/tests/bench/qr-decode.html`);
  const results = await page.evaluate((n) => window.runBenchmark(n), rounds);
  const names = Object.keys(results[0]).filter((key) => !["kind", "frames"].includes(key));
  const lines = [
    `| frames (640×480) | ${names.map((name) => `${name}: read, ms/frame`).join(" | ")} | jsQR ÷ rqrr time |`,
    `| --- | ${names.map(() => "---:").join(" | ")} | ---: |`,
  ];
  for (const row of results) {
    const cells = names.map((name) => `${row[name].read}/${row.frames}, ${row[name].medianMs.toFixed(2)}`);
    const ratio = row.jsQR.medianMs / row["rqrr (wasm)"].medianMs;
    lines.push(`| ${row.kind} | ${cells.join(" | ")} | ${ratio.toFixed(1)}× |`);
    for (const name of names) {
      console.log(`BENCH qr_decode ${row.kind.replace(" ", "_")} ${name.split(" ")[0]} read=${row[name].read}/${row.frames} median_ms=${row[name].medianMs.toFixed(3)}`);
    }
  }
  console.log(lines.join("\n"));
  const out = new URL("../test-results/", import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL("bench-qr.json", out), JSON.stringify({ rounds, results }, null, 2));
} finally {
  await browser.close();
  server.close();
}
