// One tab drives a profile at a time. The tab that has it holds a Web Lock named after the
// profile; another tab of the same profile shows that the device is open elsewhere, with
// "Use here". Pressing it asks the tab that has the profile to let go (over a
// BroadcastChannel): that tab stops its loops, shows that the device moved, and releases
// the lock. A tab that does not answer in time (frozen in the background, say) has its
// lock taken. Whatever the locks do, the vault's writer claim (`SyncManager.open` makes it)
// keeps a tab that lost the profile from writing anything afterwards.

const ANSWER_WITHIN_MS = 3000;
const TAKE_OVER_KEY = "phantom-sync:take-over";

export class ProfileLock {
  constructor(profile) {
    this.name = `phantom-sync/profile/${profile}`;
    this.channel = "BroadcastChannel" in globalThis ? new BroadcastChannel(this.name) : null;
    this.release = null;
    /** Called when another tab asks for the profile; must stop using it, then resolve. */
    this.onAsked = null;
    /** Called when the lock was taken from this tab without asking. */
    this.onLost = null;
    this.channel?.addEventListener("message", async (event) => {
      if (event.data?.type !== "release" || !this.release) return;
      await this.onAsked?.();
      this.letGo();
    });
  }

  /** Whether this browser can keep one tab per profile (Web Locks); without it, every tab drives. */
  static get supported() {
    return Boolean(globalThis.navigator?.locks);
  }

  /**
   * Takes the profile if no other tab has it; whether it did. A page that has just been
   * closed or reloaded lets go as it unloads, so a taken profile is asked for a few times.
   */
  async tryAcquire() {
    if (!ProfileLock.supported) return true;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (await this.#request({ ifAvailable: true })) return true;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return false;
  }

  /** Takes the profile from the tab that has it: asks it to let go, then takes it anyway. */
  async takeOver() {
    if (!ProfileLock.supported) return;
    this.channel?.postMessage({ type: "release" });
    const patience = new AbortController();
    const timer = setTimeout(() => patience.abort(), ANSWER_WITHIN_MS);
    const granted = await this.#request({ signal: patience.signal });
    clearTimeout(timer);
    if (!granted) {
      // The other tab did not let go: its writes fail from our claim on, so take the lock.
      await this.#request({ steal: true });
    }
  }

  /** Lets another tab have the profile. */
  letGo() {
    const release = this.release;
    this.release = null;
    release?.();
  }

  #request(options) {
    return new Promise((resolve) => {
      const held = navigator.locks.request(this.name, options, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise((release) => {
          this.release = release;
        });
      });
      held.catch(() => {
        // A steal from another tab ends this tab's hold; a request that was never granted
        // (superseded by our own steal) ends quietly.
        if (this.release) {
          this.release = null;
          this.onLost?.();
        }
        resolve(false);
      });
    });
  }
}

/** The page takes the profile over as it loads again ("Use here" in a tab that had a device). */
export function takeOverAfterReload() {
  sessionStorage.setItem(TAKE_OVER_KEY, "1");
  location.reload();
}

/** Whether this load was asked to take the profile over; asks once. */
export function askedToTakeOver() {
  const asked = sessionStorage.getItem(TAKE_OVER_KEY) === "1";
  sessionStorage.removeItem(TAKE_OVER_KEY);
  return asked;
}
