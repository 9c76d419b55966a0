// Fault injection: a browser device reads from a network that misbehaves on purpose — one
// node hostile (replays, reorders, corrupts, drops and delays its answers in turn), one
// corrupting every envelope it returns, and one crashed (SIGKILL) while envelopes are being
// written to it, then restarted on its own store. Grace writes to Ada through it; Ada must
// see every message exactly once, in order, and refuse every altered copy. The counts go
// to test-results/fault-report.{json,md}.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";

import { serve } from "../../scripts/serve.mjs";
import { launchChromium } from "./browser.mjs";
import { collectErrors, shots } from "./app.mjs";
import { startNodes } from "./nodes.mjs";

const MESSAGES = 60;
const BATCH = 5;
const CRASH_AFTER = 20;
const RESTART_AFTER = 40;
const FAULTS = [null, "hostile", "corrupt", null];
const CRASHING = 3;

let network;
let server;
let browser;

before(async () => {
  network = await startNodes(FAULTS);
  server = await serve(0);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
  await network?.stop();
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("a browser device loses nothing to hostile, corrupting and crashing nodes, and counts what they did", async () => {
  const page = await browser.newPage();
  const errors = collectErrors(page);
  await page.goto(`http://127.0.0.1:${server.address().port}/tests/e2e/package.html`);
  await page.locator("body[data-ready]").waitFor({ state: "attached" });
  const addresses = network.nodes.map((node) => node.websocket);
  // Every mailbox on all four nodes (replication 4), a write done at two acknowledgements.
  await page.evaluate(async (addresses) => {
    const { SyncManager } = window.phantom;
    const open = async (profile, device, name) => {
      const manager = await SyncManager.open(profile, device);
      await manager.createPersona(name);
      manager.connectNetwork(addresses, 4, 2);
      return manager;
    };
    window.grace = await open(`faults-grace-${Date.now()}`, "Grace's phone", "Grace");
    window.ada = await open(`faults-ada-${Date.now()}`, "Ada's phone", "Ada");
    window.adaKey = await grace.addContact(ada.contactCard());
    window.received = [];
  }, addresses);

  let failedFlushes = 0;
  const flush = async () => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await page.evaluate(() => grace.flushToNetwork());
      } catch (error) {
        // What did not reach its quorum stays queued, in order, for the next attempt.
        assert.ok(attempt < 30, `flushing keeps failing: ${error.message}`);
        failedFlushes += 1;
        await sleep(500);
      }
    }
  };
  const adaReads = (waitMs) => page.evaluate(async (waitMs) => {
    const events = await ada.syncMessages(waitMs);
    received.push(...events);
    return events.length;
  }, waitMs);
  const stored = () => page.evaluate(() => grace.networkStats().stored);

  const crashing = network.nodes[CRASHING];
  let crash = null;
  for (let sent = 0; sent < MESSAGES; sent += BATCH) {
    await page.evaluate(async ([from, count]) => {
      for (let i = from; i < from + count; i += 1) await grace.sendText(adaKey, `message ${i + 1}`);
    }, [sent, BATCH]);
    if (sent === CRASH_AFTER) {
      // Killed once this flush has stored its first envelope: the rest are in flight.
      const before = await stored();
      const flushing = flush();
      while (await stored() === before) await sleep(2);
      await crashing.crash();
      crash = { afterStored: await stored(), at: new Date().toISOString() };
      await flushing;
    } else {
      await flush();
    }
    if (sent === RESTART_AFTER) await crashing.start();
    await adaReads(0);
  }
  const bodies = () => page.evaluate(() => {
    const conversation = ada.conversations()[0];
    return conversation ? ada.messages(conversation.conversationId).map((m) => m.body) : [];
  });
  for (let round = 0; round < 60 && (await bodies()).length < MESSAGES; round += 1) {
    await adaReads(1000);
  }

  // Every event Ada saw, kept before the assertions so a failure can be read afterwards.
  await mkdir(shots, { recursive: true });
  await writeFile(`${shots}fault-events.json`, JSON.stringify(await page.evaluate(() => received), null, 1));
  const delivered = await bodies();
  const expected = Array.from({ length: MESSAGES }, (_, i) => `message ${i + 1}`);
  assert.deepEqual(delivered, expected, "every message, once, in order");
  const report = await page.evaluate(() => ({
    sender: grace.networkStats(),
    reader: ada.networkStats(),
    messageEvents: received.filter((event) => event.type === "message").length,
    refusedCodes: [...new Set(received.filter((e) => e.type === "refused").map((e) => e.code))],
  }));
  assert.equal(report.messageEvents, MESSAGES, "each message shown once");
  assert.ok(report.reader.duplicates > 0, "copies from several nodes and replays were dropped");
  assert.ok(report.reader.refused > 0, "the corrupting node's copies were refused");
  assert.deepEqual(errors, []);

  const summary = {
    network: FAULTS.map((fault, index) => ({
      node: index + 1,
      behaviour: index === CRASHING ? "honest; crashed (SIGKILL) while envelopes were written, restarted on its store" : fault ?? "honest",
    })),
    replication: { nodesPerMailbox: 4, writeQuorum: 2 },
    messages: MESSAGES,
    crash: { ...crash, restartedAfterMessage: RESTART_AFTER + BATCH },
    envelopesSent: report.sender.stored,
    flushesRetried: failedFlushes,
    delivered: delivered.length,
    duplicatesSuppressed: report.reader.duplicates,
    corruptionsDetected: report.reader.refused,
    refusedAs: report.refusedCodes,
    repairsSent: report.reader.repaired + report.sender.repaired,
    sender: report.sender,
    reader: report.reader,
  };
  await writeFile(`${shots}fault-report.json`, `${JSON.stringify(summary, null, 2)}\n`);
  const markdown = [
    "| Fault injection (browser device, 4 local nodes) | Count |",
    "| --- | ---: |",
    `| Messages Grace sent to Ada | ${MESSAGES} |`,
    `| Envelopes stored at quorum (messages and Grace's other envelopes) | ${summary.envelopesSent} |`,
    `| Node 4 crashed (SIGKILL) mid-flush, after this many of Grace's envelopes were stored; restarted after message ${RESTART_AFTER + BATCH} | ${crash.afterStored} |`,
    `| Flushes that failed and were retried | ${failedFlushes} |`,
    `| Messages delivered to Ada (each once, in order) | ${summary.delivered} / ${MESSAGES} |`,
    `| Duplicate copies suppressed at Ada | ${summary.duplicatesSuppressed} |`,
    `| Corrupted envelopes detected and refused at Ada (${summary.refusedAs.join(", ")}) | ${summary.corruptionsDetected} |`,
    `| Envelopes sent back to nodes that lacked them | ${summary.repairsSent} |`,
  ].join("\n");
  await writeFile(`${shots}fault-report.md`, `${markdown}\n`);
  console.log(markdown);
});
