// Runs tests/bench/qr-decode.html in headless Chromium: the app's QR path (rqrr in wasm,
// on frames up to 1280 wide as camera.js sends them, half size first), the earlier path
// (frames scaled to 640 wide), and zxing-wasm and jsQR as yardsticks, on the same camera-like frames. Prints a
// Markdown table and BENCH lines, and writes test-results/bench-qr.json. Needs pkg/
// (scripts/build-pkg.sh) and the npm packages (scripts/bootstrap.sh).
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
  const rows = await page.evaluate((n) => window.runBenchmark(n), rounds);
  const names = Object.keys(rows[0].readers);
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const summary = (set) => names.map((name) => {
    const cells = set.map((row) => row.readers[name]);
    return {
      name,
      read: cells.filter((cell) => cell.read).length,
      frames: cells.length,
      medianMs: median(cells.map((cell) => cell.ms)),
      worstMs: Math.max(...cells.map((cell) => cell.ms)),
    };
  });
  const groups = [...new Set(rows.map((row) => `${row.kind} @ ${row.size}`))];
  const lines = [
    `| frames | ${names.map((name) => `${name}: read, median ms`).join(" | ")} |`,
    `| --- | ${names.map(() => "---:").join(" | ")} |`,
  ];
  for (const group of groups) {
    const set = rows.filter((row) => `${row.kind} @ ${row.size}` === group);
    const cells = summary(set).map((s) => `${s.read}/${s.frames}, ${s.medianMs.toFixed(1)}`);
    lines.push(`| ${group} | ${cells.join(" | ")} |`);
  }
  const total = summary(rows);
  lines.push(`| **all** (worst frame) | ${total.map((s) => `**${s.read}/${s.frames}**, ${s.medianMs.toFixed(1)} (${s.worstMs.toFixed(1)})`).join(" | ")} |`);
  for (const s of total) {
    const reader = s.name.split(" ")[0].replace(/[^a-zA-Z-]/g, "");
    console.log(`BENCH qr_decode reader=${reader} read=${s.read}/${s.frames} median_ms=${s.medianMs.toFixed(3)} worst_ms=${s.worstMs.toFixed(3)}`);
  }
  console.log(lines.join("\n"));
  const out = new URL("../test-results/", import.meta.url);
  await mkdir(out, { recursive: true });
  await writeFile(new URL("bench-qr.json", out), JSON.stringify({ rounds, rows }, null, 2));
} finally {
  await browser.close();
  server.close();
}
