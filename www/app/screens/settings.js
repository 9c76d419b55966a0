// Settings: this device, its PIN and lock, the network it reaches, updates, and unlinking.
import { networkNodes, saveCustomNodes } from "../device.js";
import { fail, field, h, heading, say, statusLine } from "../ui.js";

export function mount(root, app) {
  const { device } = app;
  const { manager } = device;
  const status = statusLine("settings-status");
  const thisDevice = manager.devices().find((d) => d.thisDevice);
  const pinState = h("output", { id: "pin-state" });
  const lockButton = h("button", { type: "button", id: "lock-now", onclick: lockNow }, "Lock now");
  const removePin = h("button", { type: "button", class: "secondary", onclick: () => setPin(undefined) }, "Remove PIN");
  const nodes = h("textarea", { id: "nodes", rows: 4, spellcheck: "false" });

  async function showPin() {
    const hasPin = await manager.approvalNeedsPin().catch(() => false);
    pinState.value = hasPin ? "A PIN protects this device." : "No PIN: this browser opens the app by itself.";
    lockButton.disabled = !hasPin;
    removePin.hidden = !hasPin;
  }

  async function setPin(pin) {
    say(status, "Working… (deriving a key from the PIN takes about a second)");
    try {
      await manager.setPin(pin);
      say(status, pin ? "PIN set. Opening the app and approving links now ask for it." : "PIN removed.");
      root.querySelector("#new-pin").value = "";
      root.querySelector("#repeat-pin").value = "";
    } catch (error) {
      fail(status, error);
    }
    showPin();
  }

  function lockNow() {
    manager.lock();
    app.go("lock");
  }

  let unlinkArmed = false;
  async function unlink(event) {
    const button = event.currentTarget;
    if (!unlinkArmed) {
      unlinkArmed = true;
      button.textContent = manager.devices().length > 1
        ? (manager.holdsAuthority
          ? "Really unlink? Your other devices keep everything, but adding or removing devices will then need your recovery code."
          : "Really unlink? Your other devices keep everything.")
        : "Really delete? This is your persona's only device: the persona is gone for good.";
      return;
    }
    button.disabled = true;
    try {
      await manager.unlink();
      location.hash = "";
      location.reload();
    } catch (error) {
      fail(status, error);
      button.disabled = false;
    }
  }

  root.append(
    heading("Settings"),
    h("section", { class: "card", "aria-labelledby": "settings-device" },
      h("h2", { id: "settings-device" }, "This device"),
      h("dl", {},
        h("dt", {}, "Device"), h("dd", { id: "settings-device-name" }, thisDevice?.name ?? manager.deviceName),
        h("dt", {}, "Persona"), h("dd", {}, manager.displayName),
        h("dt", {}, "Fingerprint"), h("dd", {}, h("code", {}, manager.fingerprint))),
      h("p", {}, manager.holdsAuthority
        ? "This device adds and removes your devices. "
        : "Another of your devices adds and removes your devices. ",
      h("a", { href: "#/recovery", id: "recovery-link" }, manager.holdsAuthority ? "Show the recovery code" : "Enter the recovery code"))),
    h("section", { class: "card", "aria-labelledby": "settings-pin" },
      h("h2", { id: "settings-pin" }, "PIN lock"),
      h("p", {}, pinState),
      h("form", {
        onsubmit: (event) => {
          event.preventDefault();
          const pin = root.querySelector("#new-pin").value;
          if (pin !== root.querySelector("#repeat-pin").value) {
            fail(status, "The two PINs differ. Type the same PIN twice.");
            return;
          }
          setPin(pin);
        },
      },
      field("new-pin", "New PIN (at least 6 digits)", { type: "password", inputmode: "numeric", autocomplete: "new-password", minlength: 6, required: true }),
      field("repeat-pin", "The same PIN again", { type: "password", inputmode: "numeric", autocomplete: "new-password", minlength: 6, required: true }),
      h("button", { type: "submit" }, "Set PIN")),
      h("p", { class: "actions" }, lockButton, removePin)),
    h("section", { class: "card", "aria-labelledby": "settings-network" },
      h("h2", { id: "settings-network" }, "Network"),
      networkCounts(manager),
      h("p", {}, "The DHT nodes this device reaches, one address per line. Leave empty to use the ones the app was served with."),
      h("p", { class: "field" }, h("label", { for: "nodes" }, "Node addresses"), nodes),
      h("button", {
        type: "button",
        onclick: () => {
          saveCustomNodes(nodes.value.split("\n").map((line) => line.trim()).filter(Boolean));
          location.reload();
        },
      }, "Save and reconnect")),
    h("section", { class: "card", "aria-labelledby": "settings-updates" },
      h("h2", { id: "settings-updates" }, "App"),
      h("p", {}, "Version ", h("code", { id: "app-version" }, self.APP_VERSION ?? "development")),
      h("button", {
        type: "button",
        class: "secondary",
        onclick: async () => {
          try {
            await app.checkForUpdate?.();
            say(status, "Checked. If a new version is ready, a bar at the top offers it.");
          } catch (error) {
            fail(status, error);
          }
        },
      }, "Check for updates")),
    h("section", { class: "card danger-zone", "aria-labelledby": "settings-unlink" },
      h("h2", { id: "settings-unlink" }, "Unlink this device"),
      h("p", {}, "Takes this device off your persona and deletes everything it stored in this browser."),
      h("button", { type: "button", class: "danger", id: "unlink", onclick: unlink }, "Unlink this device")),
    status);

  showPin();
  networkNodes().then(({ nodes: list, source }) => {
    nodes.value = source === "settings" ? list.join("\n") : "";
    nodes.placeholder = list.join("\n");
  });
}

/** What the nodes did with this device's envelopes since the app opened. */
function networkCounts(manager) {
  let stats;
  try {
    stats = manager.networkStats();
  } catch {
    return h("p", { id: "network-stats" }, "Not connected to the network yet.");
  }
  let waiting = { envelopes: 0, historyBlocks: 0 };
  try {
    waiting = manager.outboxSize();
  } catch {
    // No persona here yet: nothing of its own waits.
  }
  const rows = [
    ["Sent (stored by enough nodes)", stats.stored],
    ["Waiting to send (kept across reloads)", waiting.envelopes],
    ["History blocks still to send", waiting.historyBlocks],
    ["Sends that failed and will be tried again", stats.notStored],
    ["Received", stats.fetched],
    ["Duplicate copies dropped", stats.duplicates],
    ["Copies returned to nodes that lacked them", stats.repaired],
    ["Refused as altered or unreadable", stats.refused],
  ];
  return h("dl", { id: "network-stats" }, ...rows.flatMap(([label, count]) => [h("dt", {}, label), h("dd", {}, String(count))]));
}
