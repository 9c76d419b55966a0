// This tab's device: a SyncManager on the profile's own vault, the network it reaches,
// and the two loops that carry traffic — the pairing's (while a link is under way) and
// the persona's messages and history (once it holds a persona). Screens listen for its
// events and read the manager; they never poll the network themselves.
import init, { SyncManager } from "../../pkg/phantom_sync.js";

const NODES_KEY = "phantom-sync:nodes";
const CUSTOM_NODES_KEY = "phantom-sync:custom-nodes";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The profile in the address (`?profile=work`), so one browser can hold several devices. */
export function profileFromAddress() {
  const asked = new URLSearchParams(location.search).get("profile") ?? "default";
  return /^[a-z0-9][a-z0-9-]{0,31}$/i.test(asked) ? asked.toLowerCase() : "default";
}

/** The browser's own name: "Chromium", "Firefox", … (what a person calls it). */
function browserName() {
  const brands = navigator.userAgentData?.brands?.map((brand) => brand.brand) ?? [];
  const named = brands.find((brand) => !/not.?a.?brand/i.test(brand) && brand !== "Chromium");
  if (named) return named;
  if (brands.includes("Chromium")) return "Chromium";
  const agent = navigator.userAgent;
  if (/Firefox\//.test(agent)) return "Firefox";
  if (/Edg\//.test(agent)) return "Edge";
  if (/Chrome\//.test(agent)) return "Chrome";
  if (/Safari\//.test(agent)) return "Safari";
  return "Browser";
}

/** A first name for this device; the person can change it before it holds a persona. */
function suggestedName() {
  const platform = navigator.userAgentData?.platform || navigator.platform || "this computer";
  return `${browserName()} on ${platform.replace(/^Linux.*/, "Linux")}`.slice(0, 64);
}

/**
 * The nodes to reach: those set in Settings, else the ones the server that served the
 * app names (`/network.json`), else the last ones it named (the app may start offline).
 */
export async function networkNodes() {
  const custom = localStorage.getItem(CUSTOM_NODES_KEY);
  if (custom) return { nodes: JSON.parse(custom), source: "settings" };
  try {
    const response = await fetch("/network.json", { cache: "no-store" });
    if (response.ok) {
      const network = await response.json();
      // Both kinds: the device picks its transport from what the list offers.
      const nodes = [...(network.websocket ?? []), ...(network.webrtc ?? [])];
      if (nodes.length) {
        localStorage.setItem(NODES_KEY, JSON.stringify(nodes));
        return { nodes, source: "server" };
      }
    }
  } catch {
    // Offline, or served without a network: fall back to the last known nodes.
  }
  const known = localStorage.getItem(NODES_KEY);
  return { nodes: known ? JSON.parse(known) : [], source: known ? "saved" : "none" };
}

export function saveCustomNodes(nodes) {
  if (nodes.length) localStorage.setItem(CUSTOM_NODES_KEY, JSON.stringify(nodes));
  else localStorage.removeItem(CUSTOM_NODES_KEY);
}

/** The vault (SyncManager profile) that app profile `profile` opens. */
export function vaultName(profile) {
  return `app-${profile}`;
}

export class Device extends EventTarget {
  static async open(profile) {
    await init();
    const manager = await SyncManager.open(vaultName(profile), suggestedName());
    return new Device(profile, manager);
  }

  constructor(profile, manager) {
    super();
    this.profile = profile;
    this.manager = watched(manager, () => this.wake());
    this.woken = null;
    this.nodes = [];
    this.connected = false;
    this.networkProblem = null;
    /** The latest history progress of a catch-up on this device. */
    this.history = null;
    /** Taken off the persona's roster: stored, so a reopened device still knows it. */
    this.revoked = manager.revoked;
    this.stopped = false;
    /** What each loop is doing now, so that stopping waits for it. */
    this.running = { pairing: null, sync: null };
  }

  /** Joins the network through `nodes`; without nodes the app still opens, offline. */
  connect(nodes) {
    this.nodes = nodes;
    if (!nodes.length) {
      this.setProblem("not_connected");
      return;
    }
    try {
      this.manager.connectNetwork(nodes);
      this.connected = true;
      this.setProblem(null);
    } catch (error) {
      this.setProblem(error);
    }
  }

  setProblem(problem) {
    this.networkProblem = problem;
    this.emit("network", { problem });
  }

  /** Ends the loops' idle waits: something a loop waits for may have changed. */
  wake() {
    this.woken?.resolve();
    this.woken = null;
  }

  /** Waits until the device has something due (`pollTimeout`) or is woken. */
  idle() {
    if (!this.woken) {
      let resolve;
      const promise = new Promise((done) => (resolve = done));
      this.woken = { promise, resolve };
    }
    const due = this.manager.pollTimeout;
    return due === undefined ? this.woken.promise : Promise.race([this.woken.promise, sleep(due)]);
  }

  /** After a failed step: waits as long as the device says before trying again. */
  backOff() {
    return sleep(this.manager.pollTimeout ?? 1000);
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  get pairing() {
    return this.manager.pairingActive;
  }

  get hasPersona() {
    return !this.manager.locked && Boolean(this.manager.fingerprint);
  }

  start() {
    this.pairingLoop();
    this.syncLoop();
  }

  /**
   * Stops both loops once what each is doing has ended: another tab uses this device now.
   * Its vault refuses this tab's writes from then on anyway; stopping keeps the tab quiet.
   */
  async stop() {
    this.stopped = true;
    this.wake();
    await Promise.allSettled(Object.values(this.running).filter(Boolean));
  }

  /** An error that means another tab took this device: the loops end and the app says so. */
  movedAway(error) {
    if (error?.code !== "open_elsewhere") return false;
    if (!this.stopped) {
      this.stopped = true;
      this.emit("elsewhere");
    }
    return true;
  }

  /** Sends what the pairing has waiting; errors go to the screen that asked. */
  async flush() {
    if (!this.connected) throw Object.assign(new Error("not connected"), { code: "not_connected" });
    return this.manager.flushToNetwork();
  }

  async pairingLoop() {
    while (!this.stopped) {
      if (!this.connected || !this.pairing) {
        await this.idle();
        continue;
      }
      this.running.pairing = this.pairingStep();
      await this.running.pairing;
      this.running.pairing = null;
    }
  }

  async pairingStep() {
    // A new device's request or confirmation that a reload or a failed put cut off leaves
    // before anything is read; with nothing waiting this costs nothing. (The device that
    // shows the code sends as it acts, from its screens; a failure here is tried again at
    // the next step and must not keep the loop from reading.)
    if (this.manager.words) {
      try {
        await this.flush();
      } catch (error) {
        if (this.movedAway(error)) return;
      }
    }
    let messages = [];
    try {
      messages = await this.manager.pollNetwork(2000);
    } catch (error) {
      if (this.movedAway(error)) return;
      this.emit("pairing", { error });
      await this.backOff();
    }
    for (const bytes of messages) await this.receive(bytes);
    // A step that waited too long has ended in its typed state by now.
    this.emit("pairing", {});
  }

  /** One pairing message; what it made this device send (even on a refusal) goes out. */
  async receive(bytes) {
    const outcome = {};
    try {
      outcome.meaning = await this.manager.receive(bytes);
    } catch (error) {
      outcome.error = error;
    }
    try {
      await this.flush();
    } catch (error) {
      outcome.error ??= error;
    }
    if (!this.movedAway(outcome.error)) this.emit("pairing", outcome);
  }

  async syncLoop() {
    while (!this.stopped) {
      if (!this.connected || this.revoked || !this.hasPersona || this.manager.rosterEpoch === undefined) {
        await this.idle();
        continue;
      }
      this.running.sync = this.syncStep();
      await this.running.sync;
      this.running.sync = null;
    }
  }

  async syncStep() {
    try {
      const events = await this.manager.syncMessages(1500);
      if (this.networkProblem) this.setProblem(null);
      for (const event of events) {
        if (event.type === "history_progress") this.history = event;
        if (event.type === "revoked") this.revoked = true;
      }
      if (events.length) this.emit("sync", { events });
    } catch (error) {
      if (this.movedAway(error)) return;
      if (error?.code === "device_revoked") this.revoked = true;
      this.setProblem(error);
      await this.backOff();
    }
  }
}

/**
 * The manager, as screens and loops use it, calling `changed` after each of its methods
 * (once its promise settles, for async ones): a screen that starts a link or unlocks the
 * vault wakes the loops waiting for that, with no polling.
 */
function watched(manager, changed) {
  return new Proxy(manager, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      return (...args) => {
        const result = value.apply(target, args);
        if (result instanceof Promise) result.finally(changed).catch(() => {});
        else changed();
        return result;
      };
    },
  });
}
