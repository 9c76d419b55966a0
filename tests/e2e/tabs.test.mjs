// Nothing lost, whatever the page goes through. The adversaries are the accidents a person
// causes: a second tab of the same device, and a page reloaded or closed at a random
// moment while it sends and receives. Every message a page showed as sent must reach the
// other side exactly once, and both sides must still read each other afterwards.
// The crash test's seed is printed; CRASH_SEED=N runs the same sequence again.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";

import { serve } from "../../scripts/serve.mjs";
import { launchChromium } from "./browser.mjs";
import { createPersona, onScreen, openApp, shots } from "./app.mjs";

const results = new URL("../../test-results/", import.meta.url).pathname;
const CRASH_ITERATIONS = Number(process.env.CRASH_ITERATIONS ?? 50);
const LINK_ITERATIONS = Number(process.env.CRASH_LINKS ?? 10);

let server;
let base;
let browser;

before(async () => {
  assert.ok(process.env.PHANTOM_NETWORK, "the app needs the local network: run scripts/test.sh");
  await mkdir(shots, { recursive: true });
  server = await serve(0);
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** A small seeded generator (mulberry32): the same seed, the same run. */
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many messages of a conversation on screen read exactly `text`. */
function copiesOf(page, text) {
  return page.locator("#messages li .body").evaluateAll(
    (bodies, wanted) => bodies.filter((body) => body.textContent === wanted).length, text);
}

/** Grace adds Ada from her card; both open their conversation. Returns its id. */
async function graceAddsAda(ada, grace) {
  await ada.evaluate(() => { location.hash = "#/card"; });
  await onScreen(ada, "card");
  const card = await ada.locator("#my-card").inputValue();
  await grace.getByRole("link", { name: "New chat" }).click();
  await grace.getByLabel("Contact card code").fill(card);
  await grace.getByRole("button", { name: "Add contact" }).click();
  await onScreen(grace, "chat");
  const conversation = new URL(grace.url()).hash.split("/")[2];
  await grace.locator("#compose").fill("Hello Ada");
  await grace.getByRole("button", { name: "Send" }).click();
  await ada.evaluate(() => { location.hash = "#/chats"; });
  await ada.locator("#chat-list a").first().waitFor({ timeout: 30_000 });
  await ada.evaluate((id) => { location.hash = `#/chat/${id}`; }, conversation);
  await onScreen(ada, "chat");
  await ada.locator("#messages .body", { hasText: "Hello Ada" }).waitFor({ timeout: 30_000 });
  return conversation;
}

/** Waits until `page` shows every text of `texts`; returns how many copies of each it shows. */
async function arrived(page, texts, timeout = 90_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const counts = await Promise.all(texts.map((text) => copiesOf(page, text)));
    if (counts.every((count) => count > 0) || Date.now() > deadline) return counts;
    await page.waitForTimeout(500);
  }
}

async function sendOn(page, text) {
  await page.locator("#compose").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

test("a second tab of a device shows it is open elsewhere, and Use here moves it with nothing lost", async () => {
  const adaContext = await browser.newContext();
  const graceContext = await browser.newContext();
  const { page: first, errors } = await openApp(adaContext, base, "tabs-ada");
  await createPersona(first, "Ada's browser", "Ada");
  const { page: grace } = await openApp(graceContext, base, "tabs-grace");
  await createPersona(grace, "Grace's phone", "Grace");
  const conversation = await graceAddsAda(first, grace);

  const { page: second } = await openApp(adaContext, base, `tabs-ada#/chat/${conversation}`);
  await onScreen(second, "elsewhere");
  assert.match(await second.locator("h1").textContent(), /Open in another tab/);
  await second.screenshot({ path: `${shots}app-open-elsewhere.png`, fullPage: true });

  // The first tab still drives the device: it sends, and what it sends arrives.
  await sendOn(first, "from the first tab");
  await first.locator("#messages .body", { hasText: "from the first tab" }).waitFor();
  await second.getByRole("button", { name: "Use here" }).click();
  await onScreen(first, "elsewhere");
  assert.match(await first.locator("h1").textContent(), /Moved to another tab/);
  assert.equal(await first.locator("#compose").count(), 0, "the first tab can send nothing more");
  await first.screenshot({ path: `${shots}app-moved-to-another-tab.png`, fullPage: true });
  await onScreen(second, "chat");
  await sendOn(second, "from the second tab");
  await second.locator("#messages .body", { hasText: "from the second tab" }).waitFor();
  await sendOn(grace, "both seen");
  assert.deepEqual(await arrived(grace, ["from the first tab", "from the second tab"]), [1, 1]);
  assert.deepEqual(await arrived(second, ["both seen"]), [1]);

  // And back: the first tab takes the device again.
  await first.getByRole("button", { name: "Use here" }).click();
  await onScreen(second, "elsewhere");
  await onScreen(first, "chat");
  await sendOn(first, "back in the first tab");
  assert.deepEqual(await arrived(grace, ["back in the first tab"]), [1]);
  assert.deepEqual(errors, []);
  await adaContext.close();
  await graceContext.close();
});

test("a message sent 0 ms before a reload arrives once", async () => {
  const adaContext = await browser.newContext();
  const graceContext = await browser.newContext();
  const { page: ada } = await openApp(adaContext, base, "reload-ada");
  await createPersona(ada, "Ada's browser", "Ada");
  const { page: grace } = await openApp(graceContext, base, "reload-grace");
  await createPersona(grace, "Grace's phone", "Grace");
  await graceAddsAda(ada, grace);

  await sendOn(ada, "just before the reload");
  await ada.locator("#messages .body", { hasText: "just before the reload" }).waitFor();
  await ada.reload();
  await ada.locator("body[data-ready]").waitFor();
  assert.deepEqual(await arrived(grace, ["just before the reload"]), [1]);
  await adaContext.close();
  await graceContext.close();
});

test("a page reloaded or closed at random moments while it sends and receives loses nothing", async () => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`crash test seed ${seed} (CRASH_SEED=${seed} repeats it)`);
  const random = seeded(seed);
  const adaContext = await browser.newContext();
  const graceContext = await browser.newContext();
  let { page: ada } = await openApp(adaContext, base, "crash-ada");
  await createPersona(ada, "Ada's browser", "Ada");
  const { page: grace } = await openApp(graceContext, base, "crash-grace");
  await createPersona(grace, "Grace's phone", "Grace");
  const conversation = await graceAddsAda(ada, grace);

  const shownSent = [];
  const notShown = [];
  const fromGrace = [];
  const counts = { reloads: 0, closes: 0, sends: 0, receives: 0 };
  for (let i = 0; i < CRASH_ITERATIONS; i += 1) {
    const delay = Math.floor(random() * 300);
    if (random() < 0.6) {
      counts.sends += 1;
      const text = `Ada ${i}`;
      await sendOn(ada, text);
      await ada.waitForTimeout(delay);
      if (await copiesOf(ada, text)) shownSent.push(text);
      else notShown.push(text);
    } else {
      counts.receives += 1;
      const text = `Grace ${i}`;
      await sendOn(grace, text);
      await grace.locator("#messages .body", { hasText: text }).waitFor();
      fromGrace.push(text);
      await ada.waitForTimeout(delay);
    }
    if (random() < 0.5) {
      counts.reloads += 1;
      await ada.reload();
    } else {
      counts.closes += 1;
      await ada.close();
      ({ page: ada } = await openApp(adaContext, base, `crash-ada#/chat/${conversation}`));
    }
    await ada.locator("body[data-ready]").waitFor();
    await onScreen(ada, "chat");
  }

  const atGrace = await arrived(grace, shownSent);
  const unshownAtGrace = await Promise.all(notShown.map((text) => copiesOf(grace, text)));
  const atAda = await arrived(ada, fromGrace);
  // Both still read each other.
  await sendOn(grace, "still readable?");
  await sendOn(ada, "yes, all of it");
  const finalAtAda = await arrived(ada, ["still readable?"]);
  const finalAtGrace = await arrived(grace, ["yes, all of it"]);
  const report = {
    seed,
    iterations: CRASH_ITERATIONS,
    ...counts,
    shownAsSent: shownSent.length,
    arrived: atGrace.filter((n) => n === 1).length,
    lost: atGrace.filter((n) => n === 0).length,
    duplicated: atGrace.filter((n) => n > 1).length + atAda.filter((n) => n > 1).length,
    notShownYetArrived: unshownAtGrace.filter((n) => n > 0).length,
    notShownAndNotSent: unshownAtGrace.filter((n) => n === 0).length,
    receivedByAda: fromGrace.length,
    receivedByAdaArrived: atAda.filter((n) => n === 1).length,
    receivedByAdaLost: atAda.filter((n) => n === 0).length,
    bothStillDecrypt: finalAtAda[0] === 1 && finalAtGrace[0] === 1,
  };
  await mkdir(results, { recursive: true });
  await writeFile(`${results}crash-report.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${results}crash-report.md`, [
    "| seed | iterations | reloads | closes | sent (shown) | arrived once | lost | duplicated | received by Ada | lost on the way in | both still decrypt |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${seed} | ${report.iterations} | ${report.reloads} | ${report.closes} | ${report.shownAsSent} | ${report.arrived} | ${report.lost} | ${report.duplicated} | ${report.receivedByAda} | ${report.receivedByAdaLost} | ${report.bothStillDecrypt ? "yes" : "no"} |`,
    "",
  ].join("\n"));
  console.log(JSON.stringify(report));
  assert.equal(report.lost, 0, `lost: ${shownSent.filter((_, n) => atGrace[n] === 0)}`);
  assert.equal(report.duplicated, 0, "each message once");
  assert.ok(unshownAtGrace.every((n) => n <= 1), "a message not shown as sent arrives at most once");
  assert.equal(report.receivedByAdaLost, 0);
  assert.ok(report.bothStillDecrypt, "both sides still read each other");
  await adaContext.close();
  await graceContext.close();
});

/** Closes `page` or reloads it (as `random` picks); returns the page now showing `profile`. */
async function crash(page, context, profile, random, counts) {
  if (random() < 0.5) {
    counts.reloads += 1;
    await page.reload();
    await page.locator("body[data-ready]").waitFor();
    return page;
  }
  counts.closes += 1;
  await page.close();
  return (await openApp(context, base, profile)).page;
}

async function goTo(page, route, screen = route) {
  await page.evaluate((hash) => { location.hash = hash; }, `#/${route}`);
  await onScreen(page, screen);
}

test("new devices reloaded or closed at random moments while they link and import the history lose nothing", async () => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`linking crash test seed ${seed} (CRASH_SEED=${seed} repeats it)`);
  const random = seeded(seed);
  const phoneContext = await browser.newContext();
  const graceContext = await browser.newContext();
  let { page: phone } = await openApp(phoneContext, base, "crash-link-phone");
  await createPersona(phone, "Ada's phone", "Ada");
  const { page: grace } = await openApp(graceContext, base, "crash-link-grace");
  await createPersona(grace, "Grace's phone", "Grace");
  const conversation = await graceAddsAda(phone, grace);
  // A history in several blocks, so an import has moments to be cut in.
  const history = ["Hello Ada"];
  for (let n = 0; n < 12; n += 1) {
    const text = `History ${n} `.padEnd(3000, "·");
    history.push(text);
    await sendOn(grace, text);
    await grace.locator("#messages .body", { hasText: `History ${n} ` }).waitFor();
  }
  const onPhone = await arrived(phone, history);
  assert.ok(onPhone.every((n) => n === 1), `the phone holds the history once: ${onPhone}`);

  const counts = { links: 0, reloads: 0, closes: 0, beforeApproval: 0, duringImport: 0, phoneDuringSend: 0 };
  const problems = [];
  for (let i = 0; i < LINK_ITERATIONS; i += 1) {
    counts.links += 1;
    const profile = `crash-link-laptop-${seed}-${i}`;
    const laptopContext = await browser.newContext();
    let { page: laptop } = await openApp(laptopContext, base, profile);
    await laptop.getByLabel("This device's name").fill(`Laptop ${i}`);
    await laptop.getByRole("button", { name: "Link this device" }).click();
    await onScreen(laptop, "linking");
    await goTo(phone, "chats");
    await goTo(phone, "link");
    await phone.locator("#link-code").waitFor({ state: "attached" });
    await laptop.getByRole("button", { name: "Scan my phone's code instead" }).click();
    await laptop.getByLabel("Or paste the link code").fill(await phone.locator("#link-code").textContent());
    await laptop.getByRole("button", { name: "Use this code" }).click();
    await laptop.locator("#words").waitFor({ timeout: 30_000 });
    const words = (await laptop.locator("#words").textContent()).trim();

    const moment = random();
    console.log(`link ${i}: moment ${moment.toFixed(2)}`);
    if (moment < 0.3) {
      // Cut while it waits for the approval: it must come back to the same words.
      counts.beforeApproval += 1;
      laptop = await crash(laptop, laptopContext, profile, random, counts);
      await laptop.locator("#words").waitFor({ timeout: 30_000 });
      assert.equal((await laptop.locator("#words").textContent()).trim(), words);
    }
    await phone.locator(`button.words[data-words="${words}"]`).click({ timeout: 60_000 });
    if (moment >= 0.3 && moment < 0.7) {
      counts.duringImport += 1;
      await laptop.waitForTimeout(Math.floor(random() * 3000));
      laptop = await crash(laptop, laptopContext, profile, random, counts);
    }
    await phone.locator("#history-sent").waitFor({ timeout: 60_000 });
    if (moment >= 0.7) {
      counts.phoneDuringSend += 1;
      await phone.waitForTimeout(Math.floor(random() * 1500));
      phone = await crash(phone, phoneContext, "crash-link-phone", random, counts);
    }

    // The new device shows the whole history once, and both ways still read.
    try {
      await laptop.locator("#nav").waitFor({ timeout: 60_000 });
      await goTo(laptop, "chats");
      await laptop.locator("#chat-list a").first().waitFor({ timeout: 60_000 });
      await goTo(laptop, `chat/${conversation}`, "chat");
      const imported = await arrived(laptop, history);
      if (!imported.every((n) => n === 1)) problems.push({ link: i, imported });
      await sendOn(laptop, `From laptop ${i}`);
      await sendOn(grace, `To laptop ${i}`);
      const [atGrace] = await arrived(grace, [`From laptop ${i}`]);
      const [atLaptop] = await arrived(laptop, [`To laptop ${i}`]);
      if (atGrace !== 1 || atLaptop !== 1) problems.push({ link: i, atGrace, atLaptop });
    } catch (error) {
      await laptop.screenshot({ path: `${results}crash-link-${i}.png`, fullPage: true });
      problems.push({ link: i, moment, error: error.message.split("\n")[0] });
    }
    await laptopContext.close();
  }
  const report = { seed, ...counts, historyMessages: history.length, problems };
  await mkdir(results, { recursive: true });
  await writeFile(`${results}crash-link-report.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${results}crash-link-report.md`, [
    "| seed | links | reloads | closes | new device cut while awaiting approval | while importing | phone cut while sending the history | history messages | problems |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    `| ${seed} | ${counts.links} | ${counts.reloads} | ${counts.closes} | ${counts.beforeApproval} | ${counts.duringImport} | ${counts.phoneDuringSend} | ${history.length} | ${problems.length} |`,
    "",
  ].join("\n"));
  console.log(JSON.stringify(report));
  assert.deepEqual(problems, [], "every new device holds the history once and reads and is read");
  await phoneContext.close();
  await graceContext.close();
});

test("rough edges: long messages, a garbage card, read chat rows, the box to write in, settings on a phone", async () => {
  const adaContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const graceContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const { page: ada } = await openApp(adaContext, base, "edges-ada");
  await createPersona(ada, "Ada's phone", "Ada");
  const { page: grace } = await openApp(graceContext, base, "edges-grace");
  await createPersona(grace, "Grace's laptop", "Grace");

  // A garbage card: one plain sentence, no codes.
  await grace.getByRole("link", { name: "New chat" }).click();
  await grace.getByLabel("Contact card code").fill("PHCONTACT:NOTACARDATALL");
  await grace.getByRole("button", { name: "Add contact" }).click();
  const refusal = grace.locator(".status.error");
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /not a contact card this app can read/);
  assert.doesNotMatch(await refusal.textContent(), /bad_magic|magic|bytes needed|\(/);
  await grace.screenshot({ path: `${shots}app-garbage-card.png`, fullPage: true });

  await grace.evaluate(() => { location.hash = "#/chats"; });
  await onScreen(grace, "chats");
  const conversation = await graceAddsAda(ada, grace);
  // The box to write in is above the navigation bar on a phone and on a laptop.
  for (const page of [ada, grace]) {
    if (page === grace) await grace.evaluate((id) => { location.hash = `#/chat/${id}`; }, conversation);
    await onScreen(page, "chat");
    const send = await page.getByRole("button", { name: "Send" }).boundingBox();
    const nav = await page.locator("#nav").boundingBox();
    assert.ok(send.y + send.height <= nav.y, `Send (${send.y}+${send.height}) is above the bar (${nav.y})`);
  }
  await ada.screenshot({ path: `${shots}app-conversation-phone.png` });
  await grace.screenshot({ path: `${shots}app-conversation-laptop.png` });

  // 5,000 characters go whole; past the core's 32 KiB the person is told and nothing is cut.
  const long = "abcdefghij".repeat(500);
  await sendOn(ada, long);
  assert.deepEqual(await arrived(grace, [long]), [1]);
  await ada.locator("#compose").fill("x".repeat(40_000));
  await ada.locator("#chat-status", { hasText: "too long to send" }).waitFor();
  assert.equal(await ada.getByRole("button", { name: "Send" }).isDisabled(), true);
  assert.equal((await ada.locator("#compose").inputValue()).length, 40_000, "nothing cut");
  await ada.screenshot({ path: `${shots}app-message-too-long.png` });
  await ada.locator("#compose").fill("");

  // A read chat row keeps its shape: the last message under the name, the time at the right.
  await sendOn(grace, "read me");
  await ada.evaluate(() => { location.hash = "#/chats"; });
  await onScreen(ada, "chats");
  await ada.locator("#chat-list .last", { hasText: "read me" }).waitFor({ timeout: 30_000 });
  await ada.locator("#chat-list a").first().click();
  await onScreen(ada, "chat");
  await ada.evaluate(() => { location.hash = "#/chats"; });
  await ada.locator('#chat-list .badge[data-count="0"]').waitFor({ state: "attached", timeout: 30_000 });
  const title = await ada.locator("#chat-list .title").boundingBox();
  const last = await ada.locator("#chat-list .last").boundingBox();
  const time = await ada.locator("#chat-list time").boundingBox();
  assert.ok(last.y >= title.y + title.height - 1, "the last message sits under the name");
  assert.ok(time.x > last.x + last.width / 2, "the time stays at the right");
  await ada.screenshot({ path: `${shots}app-chats-read.png` });

  // Settings on a phone: each count on one line.
  await ada.evaluate(() => { location.hash = "#/settings"; });
  await onScreen(ada, "settings");
  const lines = await ada.locator("#network-stats dd").evaluateAll((cells) => cells.map((cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
  }));
  assert.ok(lines.length > 0 && lines.every((count) => count === 1), `one line each: ${lines}`);
  await ada.screenshot({ path: `${shots}app-settings-phone.png`, fullPage: true });
  await adaContext.close();
  await graceContext.close();
});
