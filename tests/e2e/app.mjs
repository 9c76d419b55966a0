// Helpers for driving the app in Playwright: open a profile, walk its first screens, and
// read what a camera pointed at a QR code would see.
import assert from "node:assert/strict";

export const shots = new URL("../../test-results/", import.meta.url).pathname;

/**
 * Uncaught errors of a page. rust-libp2p's browser transports call event handlers they
 * already dropped when a WebSocket or data channel closes (upstream issues 5490 and 5636);
 * that error is known, harmless here, and not ours, so it is left out.
 */
export function collectErrors(page) {
  const errors = [];
  page.on("pageerror", (error) => {
    if (!error.message.includes("closure invoked recursively or after being dropped")) {
      errors.push(error);
    }
  });
  return errors;
}

/** Opens the app as device profile `profile` in `context` and waits until it is ready. */
export async function openApp(context, base, profile) {
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${base}/www/?profile=${profile}`);
  await page.locator("body[data-ready]").waitFor();
  return { page, errors };
}

export async function onScreen(page, name) {
  await page.locator(`body[data-screen="${name}"]`).waitFor();
}

/**
 * First run: names the device and creates a persona; the recovery code is shown, the person
 * writes it down (its words are returned), and the chat list opens.
 */
export async function createPersona(page, deviceName, name) {
  await onScreen(page, "welcome");
  await page.getByLabel("This device's name").fill(deviceName);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Create persona" }).click();
  await onScreen(page, "recovery");
  const words = await page.locator("#recovery-words li").allTextContents();
  await page.getByRole("button", { name: "I have written it down" }).click();
  await onScreen(page, "chats");
  return words;
}

/** The unread count a chat list shows for its only conversation. */
export async function unreadBadge(page) {
  return Number(await page.locator("#chat-list .badge").getAttribute("data-count"));
}

/**
 * What a 640×480 camera sees when pointed at the QR code on `page`: the code, as the page
 * draws it, `side` pixels wide (300 unless told) on a grey background, blurred by `blur`
 * pixels; RGBA bytes.
 */
export async function cameraFrameOfQr(page, { side = 300, blur = 0 } = {}) {
  const base64 = await page.locator(".qr svg").evaluate(async (svg, { side, blur }) => {
    const image = new Image();
    image.src = URL.createObjectURL(new Blob([svg.outerHTML], { type: "image/svg+xml" }));
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 480;
    const context = canvas.getContext("2d");
    context.fillStyle = "#808080";
    context.fillRect(0, 0, 640, 480);
    const [x, y] = [320 - side / 2, 240 - side / 2];
    context.fillStyle = "#ffffff";
    context.fillRect(x - side / 30, y - side / 30, side * (16 / 15), side * (16 / 15));
    // A lens out of focus, or a hand moving: the code softened by `blur` pixels.
    context.filter = blur ? `blur(${blur}px)` : "none";
    context.drawImage(image, x, y, side, side);
    const bytes = context.getImageData(0, 0, 640, 480).data;
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }, { side, blur });
  const rgba = Buffer.from(base64, "base64");
  assert.equal(rgba.length, 640 * 480 * 4);
  return rgba;
}

/**
 * Every control on the page has a name a screen reader can say, and the screen's heading
 * is where the keyboard starts.
 */
export async function assertAccessible(page) {
  const unnamed = await page.evaluate(() => [...document.querySelectorAll("input, textarea, button, a, video")]
    .filter((element) => element.offsetParent !== null || element.tagName === "VIDEO")
    .filter((element) => {
      if (element.getAttribute("aria-label") || element.getAttribute("aria-labelledby")) return false;
      if (element.labels?.length) return false;
      return !element.textContent.trim();
    })
    .map((element) => element.outerHTML.slice(0, 80)));
  assert.deepEqual(unnamed, [], "controls without an accessible name");
}

/**
 * What the app's QR reader makes of a 640×480 RGBA frame, read on `page` (which has the
 * app loaded): `lookAtFrame`'s view (the code, or where a code not read lies and a hint).
 */
export async function readerSees(page, rgba) {
  return page.evaluate(async (base64) => {
    const { SyncManager } = await import("/pkg/phantom_sync.js");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return SyncManager.lookAtFrame(640, 480, bytes);
  }, rgba.toString("base64"));
}
