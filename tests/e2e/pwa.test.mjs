// The app end to end, as people use it: Ada's phone, Ada's laptop and Grace's phone are
// separate browser contexts (the laptop in a Chromium whose fake camera plays a video of
// the phone's QR code), and every message travels through the local DHT network that
// scripts/test.sh starts. Screenshots of each screen land in test-results/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { serve } from "../../scripts/serve.mjs";
import { launchChromium, launchPersistentChromium } from "./browser.mjs";
import {
  assertAccessible, cameraFrameOfQr, createPersona, onScreen, openApp, readerSees, shots, unreadBadge,
} from "./app.mjs";
import { rgbaToY4m } from "./y4m.mjs";

let server;
let base;
let browser;
const laterBrowsers = [];
/** A new app version the server publishes once a test asks for it. */
let publishedVersion = null;

before(async () => {
  assert.ok(process.env.PHANTOM_NETWORK, "the app needs the local network: run scripts/test.sh");
  await mkdir(shots, { recursive: true });
  server = await serve(0, (path, body) => {
    if (path !== "/www/app-version.js" || !publishedVersion) return null;
    return Buffer.from(body.toString().replace(/APP_VERSION = "[^"]*"/, `APP_VERSION = "${publishedVersion}"`));
  });
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  for (const other of laterBrowsers) await other.close();
  await browser?.close();
  server?.close();
});

/**
 * A Chromium whose fake camera films `rgba` (a 640×480 frame), saved as `name`.y4m in
 * test-results/; closed after the tests.
 */
async function cameraFilming(name, rgba) {
  const video = `${shots}${name}.y4m`;
  await writeFile(video, rgbaToY4m(640, 480, rgba));
  const cameraBrowser = await launchChromium([
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    `--use-file-for-fake-video-capture=${video}`,
  ]);
  laterBrowsers.push(cameraBrowser);
  return cameraBrowser;
}

/** Saves a screenshot of the screen, after checking every control on it has a name. */
async function shot(page, name) {
  await assertAccessible(page);
  await page.screenshot({ path: `${shots}app-${name}.png`, fullPage: true });
}

/** Grace adds Ada from the card Ada's phone shows and writes to her. */
async function graceWritesToAda(grace, phone, texts) {
  await go(phone, "card");
  const card = await phone.locator("#my-card").inputValue();
  assert.match(card, /^PHCONTACT:/);
  await shot(phone, "contact-card");
  await grace.getByRole("link", { name: "New chat" }).click();
  await onScreen(grace, "add-contact");
  await grace.getByLabel("Contact card code").fill(card);
  await shot(grace, "new-chat");
  await grace.getByRole("button", { name: "Add contact" }).click();
  await onScreen(grace, "chat");
  for (const text of texts) await send(grace, text);
}

/** Opens a screen the way the app's own links do. */
async function go(page, route) {
  await page.evaluate((hash) => { location.hash = hash; }, `#/${route}`);
  await onScreen(page, route.split("/")[0]);
}

async function send(page, text) {
  await page.locator("#compose").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator("#messages li .body", { hasText: text }).waitFor();
}

test("a laptop scans the phone's QR code, catches up on the history, and shares messages and read marks", async () => {
  const phoneContext = await browser.newContext();
  const graceContext = await browser.newContext();
  const { page: phone, errors: phoneErrors } = await openApp(phoneContext, base, "ada-phone");
  await shot(phone, "welcome");
  await createPersona(phone, "Ada's phone", "Ada");
  await shot(phone, "chats-empty");
  const { page: grace, errors: graceErrors } = await openApp(graceContext, base, "grace");
  await createPersona(grace, "Grace's phone", "Grace");

  // History the laptop will catch up on: Grace writes before the laptop exists.
  const history = ["Hi Ada, it's Grace.", "Lunch on Friday?", "Bring the photos!"];
  await graceWritesToAda(grace, phone, history);
  await go(phone, "chats");
  await phone.locator('#chat-list .badge[data-count="3"]').waitFor({ timeout: 30_000 });

  // The phone shows a QR code; a video of it becomes the laptop's camera.
  await phone.getByRole("link", { name: "Devices" }).click();
  await onScreen(phone, "devices");
  await phone.getByRole("link", { name: "Link a new device" }).click();
  await onScreen(phone, "link");
  await phone.locator(".qr svg").waitFor();
  assert.match(await phone.locator("#expires-in").textContent(), /^[0-3]:\d\d$/);
  await shot(phone, "link-qr");
  const cameraBrowser = await cameraFilming("camera-of-phone-qr", await cameraFrameOfQr(phone));
  const laptopContext = await cameraBrowser.newContext();
  const { page: laptop, errors: laptopErrors } = await openApp(laptopContext, base, "ada-laptop");
  await laptop.getByLabel("This device's name").fill("Ada's laptop");
  await laptop.getByRole("button", { name: "Link this device" }).click();
  await onScreen(laptop, "linking");
  // The laptop offers its own code first; this laptop scans the phone's instead.
  await laptop.locator(".qr svg").waitFor();
  await laptop.getByRole("button", { name: "Scan my phone's code instead" }).click();
  await shot(laptop, "linking-scan");
  // The frames are read in a Worker, off the page's thread.
  const scanner = laptop.waitForEvent("worker");
  await laptop.getByRole("button", { name: "Scan with the camera" }).click();
  assert.match((await scanner).url(), /\/scan-worker\.js$/);
  await laptop.locator("#words").waitFor({ timeout: 30_000 });
  const words = (await laptop.locator("#words").textContent()).trim();
  assert.match(words, /^\S+ \S+ \S+$/);
  await shot(laptop, "linking-words");

  // Ada picks the laptop's words on the phone.
  await phone.locator("#request-device").waitFor({ timeout: 30_000 });
  assert.equal(await phone.locator("#request-device").textContent(), "Ada's laptop");
  assert.equal(await phone.locator("button.words").count(), 5);
  await shot(phone, "link-pick-words");
  await phone.locator(`button.words[data-words="${words}"]`).click();
  await phone.locator("#history-sent").waitFor({ timeout: 30_000 });
  await shot(phone, "link-done");
  const shownOnSource = await phone.locator("#source-fingerprint").textContent();

  // The laptop holds the persona and catches up on the history.
  await laptop.locator("#fingerprint").waitFor({ timeout: 30_000 });
  assert.equal(await laptop.locator("#fingerprint").textContent(), shownOnSource, "both show one fingerprint");
  await go(phone, "settings");
  const fingerprint = await phone.locator("dd code").textContent();
  // The phone has sent and read through the network: the settings count it.
  const counts = await phone.locator("#network-stats dd").allTextContents();
  assert.equal(counts.length, 8);
  assert.ok(Number(counts[0]) > 0 && Number(counts[4]) > 0, `sent and received: ${counts}`);
  assert.equal(await laptop.locator("#fingerprint").textContent(), fingerprint);
  await laptop.locator('.link-step[data-complete="true"]').waitFor({ timeout: 60_000 });
  assert.match(await laptop.locator("#history-status").textContent(), /Complete: 3 message/);
  assert.equal(await laptop.locator("#history-bar").evaluate((bar) => bar.value === bar.max), true);
  await shot(laptop, "linking-history-complete");
  await laptop.getByRole("button", { name: "Open chats" }).click();
  await onScreen(laptop, "chats");
  await laptop.locator('#chat-list .badge[data-count="3"]').waitFor({ timeout: 30_000 });

  // Grace writes again: both of Ada's devices show it, unread.
  await send(grace, "Are you there, Ada?");
  await go(phone, "chats");
  for (const device of [phone, laptop]) {
    await device.locator("#chat-list .last", { hasText: "Are you there, Ada?" }).waitFor({ timeout: 30_000 });
    assert.equal(await unreadBadge(device), 4);
  }
  await shot(laptop, "chats-unread");

  // Reading on the laptop clears the phone's badge.
  await laptop.locator("#chat-list a").first().click();
  await onScreen(laptop, "chat");
  for (const text of [...history, "Are you there, Ada?"]) {
    await laptop.locator("#messages .body", { hasText: text }).waitFor();
  }
  await phone.locator('#chat-list .badge[data-count="0"]').waitFor({ state: "attached", timeout: 30_000 });
  await send(laptop, "Here, on my laptop.");
  await shot(laptop, "conversation");
  await grace.locator("#messages .body", { hasText: "Here, on my laptop." }).waitFor({ timeout: 30_000 });
  await phone.locator("#chat-list .last", { hasText: "Here, on my laptop." }).waitFor({ timeout: 30_000 });
  assert.equal(await unreadBadge(phone), 0);

  // The roster on both devices; each marks itself.
  for (const [device, name] of [[phone, "Ada's phone"], [laptop, "Ada's laptop"]]) {
    await device.getByRole("link", { name: "Devices" }).click();
    await onScreen(device, "devices");
    await device.locator("#device-list li").nth(1).waitFor();
    assert.equal(await device.locator("#roster-epoch").textContent(), "2");
    assert.equal(await device.locator('#device-list li[data-this-device="true"] .title').textContent(), name);
  }
  // The phone heard the laptop write a moment ago; it marks itself active now.
  await phone.locator('#device-list li[data-this-device="false"] small', { hasText: "Last active today at" }).waitFor({ timeout: 30_000 });
  assert.match(await phone.locator('#device-list li[data-this-device="true"] small').textContent(), /Active now/);
  await shot(phone, "devices");

  // A reload opens the laptop's vault by itself; a PIN then locks it.
  await laptop.reload();
  await laptop.locator("body[data-ready]").waitFor();
  await onScreen(laptop, "devices");
  await laptop.getByRole("link", { name: "Settings" }).click();
  await onScreen(laptop, "settings");
  await laptop.getByLabel("New PIN (at least 6 digits)").fill("246813");
  await laptop.getByLabel("The same PIN again").fill("246813");
  await laptop.getByRole("button", { name: "Set PIN" }).click();
  await laptop.locator("#settings-status", { hasText: "PIN set" }).waitFor({ timeout: 30_000 });
  await shot(laptop, "settings");
  await laptop.getByRole("button", { name: "Lock now" }).click();
  await onScreen(laptop, "lock");
  await laptop.getByLabel("PIN").fill("111111");
  await laptop.getByRole("button", { name: "Unlock" }).click();
  await laptop.locator("#lock-status", { hasText: "not right" }).waitFor({ timeout: 30_000 });
  await shot(laptop, "lock-wrong-pin");
  await laptop.reload();
  await onScreen(laptop, "lock");
  await laptop.waitForTimeout(1100);
  await laptop.getByLabel("PIN").fill("246813");
  await laptop.getByRole("button", { name: "Unlock" }).click();
  await onScreen(laptop, "chats");

  assert.deepEqual([...phoneErrors, ...graceErrors, ...laptopErrors], []);
  await Promise.all([phoneContext.close(), graceContext.close(), laptopContext.close()]);
});

test("a phone scans the code the new laptop shows and links it", async () => {
  // The laptop offers its own code first; a video of it becomes the phone's camera.
  const laptopContext = await browser.newContext();
  const { page: laptop, errors: laptopErrors } = await openApp(laptopContext, base, "shown-laptop");
  await laptop.getByLabel("This device's name").fill("Ada's new laptop");
  await laptop.getByRole("button", { name: "Link this device" }).click();
  await onScreen(laptop, "linking");
  await laptop.locator(".qr svg").waitFor();
  assert.match(await laptop.locator("#expires-in").textContent(), /^[0-3]:\d\d$/);
  await shot(laptop, "linking-shows-code");
  const cameraBrowser = await cameraFilming("camera-of-laptop-qr", await cameraFrameOfQr(laptop));
  const phoneContext = await cameraBrowser.newContext();
  const { page: phone, errors: phoneErrors } = await openApp(phoneContext, base, "scanning-phone");
  await createPersona(phone, "Ada's phone", "Ada");

  await go(phone, "link");
  await phone.getByRole("button", { name: "Scan the new device's code" }).click();
  await shot(phone, "link-scan-device-code");
  await phone.getByRole("button", { name: "Scan with the camera" }).click();

  // The laptop names the phone that scanned it and shows its words; the phone asks which.
  await laptop.locator("#scanned-by", { hasText: "Ada's phone" }).waitFor({ timeout: 30_000 });
  const words = (await laptop.locator("#words").textContent()).trim();
  assert.match(words, /^\S+ \S+ \S+$/);
  await shot(laptop, "linking-scanned-words");
  await phone.locator("#request-device", { hasText: "Ada's new laptop" }).waitFor({ timeout: 30_000 });
  assert.equal(await phone.locator("button.words").count(), 5);
  await phone.locator(`button.words[data-words="${words}"]`).click();
  await phone.locator("#history-sent").waitFor({ timeout: 30_000 });
  await laptop.locator("#fingerprint").waitFor({ timeout: 30_000 });
  assert.equal(
    await laptop.locator("#fingerprint").textContent(),
    await phone.locator("#source-fingerprint").textContent(),
    "both show one fingerprint",
  );
  await shot(laptop, "linking-shown-code-linked");
  assert.deepEqual([...laptopErrors, ...phoneErrors], []);
  await Promise.all([laptopContext.close(), phoneContext.close()]);
});

test("a contact card is added by scanning it with the camera", async () => {
  // Ada shows her card; a video of it becomes Grace's camera.
  const adaContext = await browser.newContext();
  const { page: ada, errors: adaErrors } = await openApp(adaContext, base, "card-ada");
  await createPersona(ada, "Ada's phone", "Ada");
  await go(ada, "card");
  const cameraBrowser = await cameraFilming("camera-of-contact-card", await cameraFrameOfQr(ada));
  const graceContext = await cameraBrowser.newContext();
  const { page: grace, errors: graceErrors } = await openApp(graceContext, base, "card-grace");
  await createPersona(grace, "Grace's phone", "Grace");
  await grace.getByRole("link", { name: "New chat" }).click();
  await onScreen(grace, "add-contact");
  await grace.getByRole("button", { name: "Scan a contact card" }).click();
  await onScreen(grace, "chat");
  await grace.getByRole("heading", { name: "Ada" }).waitFor();
  assert.deepEqual([...adaErrors, ...graceErrors], []);
  await Promise.all([adaContext.close(), graceContext.close()]);
});

test("the camera view outlines a code it cannot read yet, and asks to move closer to a far one and to hold a blurred one still", async () => {
  // A new laptop's code, filmed far away and out of focus.
  const filmContext = await browser.newContext();
  const { page: filmed, errors: filmedErrors } = await openApp(filmContext, base, "filmed-laptop");
  await filmed.getByLabel("This device's name").fill("A laptop far away");
  await filmed.getByRole("button", { name: "Link this device" }).click();
  await onScreen(filmed, "linking");
  await filmed.locator(".qr svg").waitFor();
  const cases = [
    // 110 pixels for 53 modules (quiet zone included): about 2 pixels each.
    { name: "far", look: { side: 110, blur: 1 }, hint: "move_closer", says: /move the camera closer/ },
    { name: "blurred", look: { side: 300, blur: 3 }, hint: "hold_still", says: /hold still/ },
  ];
  for (const { name, look, hint, says } of cases) {
    const frame = await cameraFrameOfQr(filmed, look);
    // The reader sees this frame's code without reading it, wherever it runs.
    const seen = await readerSees(filmed, frame);
    assert.deepEqual(seen.codes, [], `the ${name} code is not read`);
    assert.equal(seen.hint, hint);
    const cameraBrowser = await cameraFilming(`camera-of-${name}-qr`, frame);
    const phoneContext = await cameraBrowser.newContext();
    const { page: phone, errors: phoneErrors } = await openApp(phoneContext, base, `phone-filming-${name}`);
    await createPersona(phone, "Ada's phone", "Ada");
    await go(phone, "link");
    await phone.getByRole("button", { name: "Scan the new device's code" }).click();
    await phone.getByRole("button", { name: "Scan with the camera" }).click();
    await phone.getByRole("status").filter({ hasText: says }).waitFor({ timeout: 30_000 });
    // The outline lies over the code in the camera view.
    const outline = phone.locator(".code-outline.seen polygon");
    await outline.waitFor({ timeout: 30_000 });
    const [view, box] = [await phone.locator("#camera").boundingBox(), await outline.boundingBox()];
    const middle = (b) => [b.x + b.width / 2, b.y + b.height / 2];
    const [[vx, vy], [bx, by]] = [middle(view), middle(box)];
    assert.ok(Math.abs(vx - bx) < view.width * 0.05 && Math.abs(vy - by) < view.height * 0.05, "the outline is on the code, in the middle of the view");
    assert.ok(box.width < view.width * (look.side / 640) * 1.1, "the outline is the code's size");
    await shot(phone, `link-scan-${name}`);
    assert.deepEqual(phoneErrors, []);
    await phoneContext.close();
  }
  assert.deepEqual(filmedErrors, []);
  await filmContext.close();
});

test("a new device's code: a late phone's clock, a second phone (turned away and named), wrong words and the wrong device are refused", async () => {
  const context = await browser.newContext();
  const { page: laptop, errors } = await openApp(context, base, "shown-refusing-laptop");
  await laptop.getByLabel("This device's name").fill("New laptop");
  await laptop.getByRole("button", { name: "Link this device" }).click();
  await onScreen(laptop, "linking");
  await laptop.locator("#link-code").waitFor({ state: "attached" });
  const code = await laptop.locator("#link-code").textContent();

  // Another new device cannot answer it: the code is for a phone.
  const otherLaptop = await context.newPage();
  await otherLaptop.goto(`${base}/www/?profile=shown-other-laptop#/linking`);
  await onScreen(otherLaptop, "linking");
  await otherLaptop.getByRole("button", { name: "Scan my phone's code instead" }).click();
  await otherLaptop.getByLabel("Or paste the link code").fill(code);
  await otherLaptop.getByRole("button", { name: "Use this code" }).click();
  await otherLaptop.locator("#linking-status", { hasText: "for your other device to scan" }).waitFor();

  // A phone whose clock is past the code's three minutes refuses it before sending anything.
  const lateContext = await browser.newContext();
  await lateContext.clock.install({ time: new Date(Date.now() + 185_000) });
  const { page: late, errors: lateErrors } = await openApp(lateContext, base, "shown-late-phone");
  await createPersona(late, "Late phone", "Ada");
  await go(late, "link");
  await late.getByRole("button", { name: "Scan the new device's code" }).click();
  await late.getByLabel("Or paste the link code").fill(code);
  await late.getByRole("button", { name: "Use this code" }).click();
  await late.locator("#link-status", { hasText: "This code has expired" }).waitFor();
  await shot(late, "link-device-code-expired");
  assert.deepEqual(lateErrors, []);
  await lateContext.close();

  /** A phone holding a persona answers the laptop's code. */
  async function answer(profile, deviceName, name) {
    const { page } = await openApp(context, base, profile);
    await createPersona(page, deviceName, name);
    await go(page, "link");
    await page.getByRole("button", { name: "Scan the new device's code" }).click();
    await page.getByLabel("Or paste the link code").fill(code);
    await page.getByRole("button", { name: "Use this code" }).click();
    return page;
  }
  const phone = await answer("shown-refusing-phone", "Ada's phone", "Ada");
  await laptop.locator("#scanned-by", { hasText: "Ada's phone" }).waitFor({ timeout: 30_000 });
  const words = (await laptop.locator("#words").textContent()).trim();
  await phone.locator("button.words").first().waitFor({ timeout: 30_000 });

  // Someone else who saw the code answers it too: turned away, and the laptop names them.
  const stranger = await answer("shown-stranger", "Mallory's phone", "Mallory");
  await laptop.locator("#turned-away", { hasText: "Mallory's phone" }).waitFor({ timeout: 30_000 });
  await stranger.locator("#link-status", { hasText: "Another device already used this code" }).waitFor({ timeout: 30_000 });
  await shot(laptop, "linking-turned-away");

  const wrong = phone.locator(`button.words:not([data-words="${words}"])`).first();
  await wrong.click();
  await phone.locator("#link-status", { hasText: "did not match" }).waitFor();
  await laptop.locator("#linking-status", { hasText: "did not match" }).waitFor({ timeout: 30_000 });
  await shot(laptop, "linking-shown-code-refused");
  assert.deepEqual(errors, []);
  await context.close();
});

test("wrong words or a cut-off code refuse the link, in plain words on both devices", async () => {
  const context = await browser.newContext();
  const { page: phone, errors } = await openApp(context, base, "refusing-phone");
  await createPersona(phone, "Phone", "Ada");
  const laptop = await context.newPage();
  await laptop.goto(`${base}/www/?profile=refusing-laptop#/linking`);
  await onScreen(laptop, "linking");

  await go(phone, "link");
  await phone.locator("#link-code").waitFor({ state: "attached" });
  const first = await phone.locator("#link-code").textContent();
  await phone.getByRole("button", { name: "New code" }).click();
  const code = await phone.locator("#link-code").textContent();
  assert.notEqual(code, first, "a new code replaces the shown one");
  await laptop.getByRole("button", { name: "Scan my phone's code instead" }).click();
  await laptop.getByLabel("Or paste the link code").fill(code.slice(0, -12));
  await laptop.getByRole("button", { name: "Use this code" }).click();
  await laptop.locator("#linking-status", { hasText: "part of it is missing" }).waitFor();
  await shot(laptop, "linking-code-cut-off");
  for (const garbage of ["PHSYNC:this is not a code!", `PHSYNC:${"Q".repeat(157)}`]) {
    await laptop.getByLabel("Or paste the link code").fill(garbage);
    await laptop.getByRole("button", { name: "Use this code" }).click();
    await laptop.locator("#linking-status", { hasText: "damaged or mistyped" }).waitFor();
  }
  await shot(laptop, "linking-code-garbage");

  await laptop.getByLabel("Or paste the link code").fill(code);
  await laptop.getByRole("button", { name: "Use this code" }).click();
  const words = (await laptop.locator("#words").textContent()).trim();
  await phone.locator("button.words").first().waitFor({ timeout: 30_000 });
  // Someone else who saw the code answers it too: turned away, and the phone says so.
  const intruder = await context.newPage();
  await intruder.goto(`${base}/www/?profile=refusing-intruder#/linking`);
  await onScreen(intruder, "linking");
  await intruder.getByRole("button", { name: "Scan my phone's code instead" }).click();
  await intruder.getByLabel("Or paste the link code").fill(code);
  await intruder.getByRole("button", { name: "Use this code" }).click();
  await phone.locator("#turned-away", { hasText: "also tried to use this code" }).waitFor({ timeout: 30_000 });
  await intruder.locator("#linking-status", { hasText: "Another device already used this code" }).waitFor({ timeout: 30_000 });
  await shot(phone, "link-turned-away");
  const wrong = phone.locator(`button.words:not([data-words="${words}"])`).first();
  await wrong.click();
  await phone.locator("#link-status", { hasText: "did not match" }).waitFor();
  await laptop.locator("#linking-status", { hasText: "did not match" }).waitFor({ timeout: 30_000 });
  await shot(phone, "link-words-refused");
  assert.deepEqual(errors, []);
  await context.close();
});

test("the app installs, starts with the network off, and offers a new version", async () => {
  const profileDir = await mkdtemp(join(tmpdir(), "phantom-sync-install-"));
  const context = await launchPersistentChromium(profileDir);
  const { page, errors } = await openApp(context, base, "install");
  const cdp = await context.newCDPSession(page);
  const { url, errors: manifestErrors, data } = await cdp.send("Page.getAppManifest");
  assert.match(url, /manifest\.webmanifest$/);
  assert.deepEqual(manifestErrors, []);
  assert.equal(JSON.parse(data).name, "Phantom Net");
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === "activated");
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  assert.deepEqual(installabilityErrors, []);
  // The Content-Security-Policy lets the wasm compile but no script be made from a string.
  const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content");
  assert.match(policy, /script-src 'self' 'wasm-unsafe-eval';/);
  assert.doesNotMatch(policy, /'unsafe-eval'|'unsafe-inline'/);
  // From a task of the page's own (code evaluated by the test itself is exempt).
  const evalBlocked = await page.evaluate(() => new Promise((resolve) => setTimeout(() => {
    try {
      resolve(new Function("return 'ran'")() !== "ran");
    } catch (error) {
      resolve(error instanceof EvalError);
    }
  })));
  assert.equal(evalBlocked, true);

  await context.setOffline(true);
  await page.reload();
  await page.locator("body[data-ready]").waitFor();
  await onScreen(page, "welcome");
  await shot(page, "offline-start");
  await context.setOffline(false);

  // A new version: the waiting worker is offered, and accepting it restarts the app on it.
  const before = await page.evaluate(() => self.APP_VERSION);
  publishedVersion = `${before}-next`;
  await page.evaluate(async () => (await navigator.serviceWorker.ready).update());
  await page.locator("#update").waitFor();
  await shot(page, "update-ready");
  await page.getByRole("button", { name: "Restart now" }).click();
  await page.waitForFunction((next) => self.APP_VERSION === next, publishedVersion);
  await page.locator("body[data-ready]").waitFor();
  publishedVersion = null;
  assert.deepEqual(errors, []);
  await context.close();
  await rm(profileDir, { recursive: true, force: true });
});

/** Links a new device by pasting the phone's link code; `approve` picks the words. */
async function linkByCode(phone, laptop, approve) {
  await go(phone, "link");
  await phone.locator("#link-code").waitFor({ state: "attached" });
  await laptop.getByRole("button", { name: "Scan my phone's code instead" }).click();
  await laptop.getByLabel("Or paste the link code").fill(await phone.locator("#link-code").textContent());
  await laptop.getByRole("button", { name: "Use this code" }).click();
  const words = (await laptop.locator("#words").textContent()).trim();
  await phone.locator(`button.words[data-words="${words}"]`).waitFor({ timeout: 30_000 });
  await approve(phone.locator(`button.words[data-words="${words}"]`));
  await laptop.locator("#fingerprint").waitFor({ timeout: 30_000 });
  await laptop.getByRole("button", { name: "Open chats" }).click();
}

test("only the device that created the persona adds and removes devices, until the recovery code moves that to another", async () => {
  const context = await browser.newContext();
  const { page: phone, errors } = await openApp(context, base, "authority-phone");
  const words = await createPersona(phone, "Phone", "Ada");
  assert.equal(words.length, 24);
  const tablet = await context.newPage();
  await tablet.goto(`${base}/www/?profile=authority-tablet#/linking`);
  await onScreen(tablet, "linking");
  await linkByCode(phone, tablet, (rightWords) => rightWords.click());
  await onScreen(tablet, "chats");

  // The tablet holds no authority: no Remove buttons, no linking, and it says where to go.
  await go(tablet, "devices");
  await tablet.locator("#device-list li").nth(1).waitFor({ timeout: 30_000 });
  assert.equal(await tablet.locator("#device-list button").count(), 0);
  await tablet.locator("#not-authority", { hasText: "created your persona" }).waitFor();
  await shot(tablet, "devices-not-authority");
  await go(tablet, "link");
  await tablet.locator(".status.error", { hasText: "Only the device that created your persona" }).waitFor();

  // The phone is lost: on the tablet, a code off by one word is refused, the right one works.
  await go(tablet, "recovery");
  const typo = [...words];
  typo[7] = typo[7] === "abandon" ? "ability" : "abandon";
  await tablet.getByLabel("Recovery code (24 words)").fill(typo.join(" "));
  await tablet.getByRole("button", { name: "Make this device the one that adds devices" }).click();
  await tablet.locator("#recovery-status", { hasText: "do not add up" }).waitFor();
  await tablet.getByLabel("Recovery code (24 words)").fill(words.join("  ").toUpperCase());
  await tablet.getByRole("button", { name: "Make this device the one that adds devices" }).click();
  await tablet.locator("#recovery-status", { hasText: "now adds and removes" }).waitFor();
  await shot(tablet, "recovery-taken");
  await go(tablet, "devices");
  const removePhone = tablet.getByRole("button", { name: "Remove Phone" });
  await removePhone.click();
  await removePhone.click();
  await tablet.locator("#devices-status", { hasText: "was removed" }).waitFor({ timeout: 30_000 });
  await go(phone, "devices");
  await phone.locator("p.status.error", { hasText: "removed from your persona" }).waitFor({ timeout: 30_000 });
  // Reopened, the tablet still holds the authority.
  await tablet.reload();
  await onScreen(tablet, "devices");
  await tablet.locator("#link-new-device").waitFor();
  assert.deepEqual(errors, []);
  await context.close();
});

test("a PIN guards approval, and a device leaves by unlinking itself or being removed", async () => {
  const context = await browser.newContext();
  const { page: phone, errors } = await openApp(context, base, "keys-phone");
  await createPersona(phone, "Phone", "Ada");
  await go(phone, "settings");
  await phone.getByLabel("New PIN (at least 6 digits)").fill("135791");
  await phone.getByLabel("The same PIN again").fill("135791");
  await phone.getByRole("button", { name: "Set PIN" }).click();
  await phone.locator("#settings-status", { hasText: "PIN set" }).waitFor({ timeout: 30_000 });

  // Approving asks for the PIN; the whole choice works from the keyboard.
  const tablet = await context.newPage();
  await tablet.goto(`${base}/www/?profile=keys-tablet#/linking`);
  await onScreen(tablet, "linking");
  await linkByCode(phone, tablet, async (rightWords) => {
    await rightWords.focus();
    await phone.keyboard.press("Enter");
    await phone.locator("#link-status", { hasText: "Enter this device's PIN" }).waitFor();
    await phone.getByLabel("This device's PIN, to approve").fill("135791");
    await rightWords.focus();
    await phone.keyboard.press("Enter");
  });
  await onScreen(tablet, "chats");

  // The tablet unlinks itself once it sees itself on the roster (before that it is on no
  // roster, and unlinking only deletes it): the phone's roster drops it, and the tablet
  // starts afresh.
  await go(tablet, "devices");
  await tablet.locator("#roster-epoch", { hasText: "2" }).waitFor({ timeout: 30_000 });
  await go(tablet, "settings");
  await tablet.getByRole("button", { name: "Unlink this device" }).click();
  await tablet.getByRole("button", { name: /Really unlink/ }).click();
  await onScreen(tablet, "welcome");
  await go(phone, "devices");
  await phone.locator("#roster-epoch", { hasText: "3" }).waitFor({ timeout: 30_000 });
  assert.equal(await phone.locator("#device-list li").count(), 1);

  // A second device, removed from the phone's Devices screen, learns it was removed.
  const laptop = await context.newPage();
  await laptop.goto(`${base}/www/?profile=keys-laptop#/linking`);
  await onScreen(laptop, "linking");
  await linkByCode(phone, laptop, async (rightWords) => {
    await phone.getByLabel("This device's PIN, to approve").fill("135791");
    await rightWords.click();
  });
  await go(phone, "devices");
  await phone.locator("#device-list li").nth(1).waitFor({ timeout: 30_000 });
  await phone.getByRole("button", { name: "Remove Phone" }).count();
  const remove = phone.locator('#device-list li[data-this-device="false"] button');
  await remove.click();
  await remove.click();
  await phone.locator("#devices-status", { hasText: "was removed" }).waitFor({ timeout: 30_000 });
  await go(laptop, "devices");
  await laptop.locator("p.status.error", { hasText: "removed from your persona" }).waitFor({ timeout: 30_000 });
  await shot(laptop, "devices-removed");
  // Opened again, it still says so, on every screen.
  await laptop.reload();
  await onScreen(laptop, "devices");
  await laptop.locator("#removed", { hasText: "removed from your persona" }).waitFor();
  await go(laptop, "chats");
  assert.equal(await laptop.locator("#removed").isVisible(), true);
  await shot(laptop, "removed-after-reopening");
  assert.deepEqual(errors, []);
  await context.close();
});
