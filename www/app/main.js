// The app shell: opens this tab's device, picks the screen, keeps the navigation and the
// network line current, and offers an update when a new version has been cached.
import { Device, networkNodes, profileFromAddress } from "./device.js";
import { askedToTakeOver, ProfileLock, takeOverAfterReload } from "./one-tab.js";
import { explain, h } from "./ui.js";
import * as elsewhere from "./screens/elsewhere.js";
import * as welcome from "./screens/welcome.js";
import * as lock from "./screens/lock.js";
import * as linkSource from "./screens/link-source.js";
import * as linkTarget from "./screens/link-target.js";
import * as chats from "./screens/chats.js";
import * as conversation from "./screens/conversation.js";
import * as contacts from "./screens/contacts.js";
import * as devices from "./screens/devices.js";
import * as settings from "./screens/settings.js";
import * as recovery from "./screens/recovery.js";

const screens = {
  welcome, lock, link: linkSource, linking: linkTarget, chats, chat: conversation,
  "add-contact": contacts.add, card: contacts.card, devices, settings, recovery,
};
const $ = (id) => document.getElementById(id);

const profile = profileFromAddress();
const tab = new ProfileLock(profile);

/** This tab does not drive the device (another does, or did since): say so, offer "Use here". */
function showElsewhere(moved) {
  const root = $("screen");
  root.replaceChildren();
  root.dataset.screen = "elsewhere";
  document.body.dataset.screen = "elsewhere";
  $("nav").hidden = true;
  elsewhere.mount(root, { moved, useHere: async () => takeOverAfterReload() });
  document.title = "Open in another tab — Phantom Net";
  root.querySelector(".screen-title")?.focus();
  document.body.dataset.ready = "true";
}

if (askedToTakeOver()) {
  await tab.takeOver();
} else if (!(await tab.tryAcquire())) {
  showElsewhere(false);
  // This tab waits for the person to press "Use here", which reloads it to take over.
  await new Promise(() => {});
}

let device;
try {
  device = await Device.open(profile);
} catch (error) {
  $("screen").replaceChildren(h("h1", {}, "This browser cannot open the app"),
    h("p", { class: "status error" }, explain(error)),
    h("p", {}, "Use a current browser with storage allowed for this site, then reload."));
  throw error;
}
if (profile !== "default") $("profile").textContent = `profile ${profile}`;

let movedAway = false;
/** Another tab uses this device now: stop, say so, and let that tab have it. */
async function handOver() {
  if (movedAway) return;
  movedAway = true;
  await device.stop();
  showElsewhere(true);
}
tab.onAsked = handOver;
tab.onLost = handOver;
device.addEventListener("elsewhere", handOver);

const app = {
  device,
  /** Opens a screen by its address (`chats`, `chat/ID`, …). */
  go(route) {
    if (location.hash === `#/${route}`) render();
    else location.hash = `#/${route}`;
  },
};

let current = null;

/** The screen this device can show: locked, no persona yet, or the one asked for. */
function choose() {
  const [name = "", argument] = location.hash.replace(/^#\/?/, "").split("/");
  const manager = device.manager;
  if (manager.locked) return ["lock"];
  // A new device whose keys the other device refused holds a persona it cannot use.
  if (manager.failureReason === "device_rejected") return ["linking"];
  if (!manager.fingerprint) {
    if (manager.joining) return ["linking"];
    return [name === "linking" ? "linking" : "welcome"];
  }
  return screens[name] && !["welcome", "lock"].includes(name) ? [name, argument] : ["chats"];
}

function render() {
  if (movedAway) return;
  const [name, argument] = choose();
  const key = `${name}/${argument ?? ""}`;
  const nav = $("nav");
  nav.hidden = !device.hasPersona;
  for (const link of nav.querySelectorAll("a")) {
    const here = link.dataset.screen === name || (name === "chat" && link.dataset.screen === "chats");
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (current?.key === key) {
    current.view.update?.();
    return;
  }
  current?.view.unmount?.();
  const root = $("screen");
  root.replaceChildren();
  root.dataset.screen = name;
  const view = screens[name].mount(root, app, argument) ?? {};
  current = { key, view };
  document.body.dataset.screen = name;
  const title = root.querySelector(".screen-title");
  document.title = title ? `${title.textContent} — Phantom Net` : "Phantom Net";
  title?.focus();
}

function showNetwork() {
  $("removed").hidden = !device.revoked;
  const line = $("network");
  const problem = device.networkProblem;
  line.hidden = !problem;
  line.textContent = problem ? explain(problem) : "";
}

window.addEventListener("hashchange", render);
device.addEventListener("network", showNetwork);
for (const type of ["pairing", "sync"]) {
  device.addEventListener(type, () => {
    render();
    showNetwork();
  });
}

const { nodes } = await networkNodes();
device.connect(nodes);
device.start();
render();
showNetwork();
registerServiceWorker();
document.body.dataset.ready = "true";

/** Caches the app for offline starts; a new version waits until the person restarts. */
async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    const registration = await navigator.serviceWorker.register("sw.js", { updateViaCache: "none" });
    let accepted = false;
    const offer = (worker) => {
      if (!worker || !navigator.serviceWorker.controller) return;
      $("update").hidden = false;
      $("update-now").onclick = () => {
        accepted = true;
        worker.postMessage({ type: "skip-waiting" });
      };
    };
    offer(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      worker?.addEventListener("statechange", () => {
        if (worker.state === "installed") offer(worker);
      });
    });
    // The first install also takes control; only an accepted update reloads the page.
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (!accepted) return;
      accepted = false;
      location.reload();
    });
    app.checkForUpdate = () => registration.update();
  } catch (error) {
    console.warn("offline start unavailable:", error);
  }
}
