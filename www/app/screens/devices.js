// The persona's devices: the signed roster, its epoch, this device marked; remove others.
import { fail, formatTime, h, heading, renderList, say, statusLine } from "../ui.js";

export function mount(root, app) {
  const { device } = app;
  const { manager } = device;
  const status = statusLine("devices-status");
  const list = h("ul", { class: "device-list", id: "device-list", "aria-label": "Devices" });
  const epoch = h("output", { id: "roster-epoch" });
  const revoked = h("p", { class: "status error", hidden: true },
    "This device was removed from your persona. It receives nothing new. Delete its data in Settings, or link it again.");
  const authority = manager.holdsAuthority;
  const disputed = h("div", { class: "status error", id: "roster-disputed", hidden: true },
    h("p", {}, "Two different lists of your devices are signed with your persona's key: someone else has your recovery code, or another of your devices took over adding devices. Nothing is sent to a device that only one of the lists names."),
    authority
      ? h("button", { type: "button", id: "settle-roster", onclick: settle }, "Sign my device list again")
      : h("p", {}, "Settle it on the device that adds and removes your devices."));
  root.append(
    heading("Devices"),
    h("p", {}, "These devices hold your persona. The list is signed by your persona key; its version (epoch) grows with every change: ", epoch, "."),
    revoked, disputed, list,
    authority
      ? h("a", { class: "button", href: "#/link", id: "link-new-device" }, "Link a new device")
      : h("p", { id: "not-authority" }, "Devices are added and removed on the device that created your persona. Lost it? ",
        h("a", { href: "#/recovery" }, "Enter your recovery code"), " to make this device the one that does."),
    status);

  async function settle(event) {
    event.currentTarget.disabled = true;
    try {
      await manager.settleRoster();
      say(status, "Your device list is signed again, with a new inbox; your contacts and devices follow it. If it happens again, someone has your recovery code: start a new persona.");
      update();
    } catch (error) {
      fail(status, error);
    }
    event.currentTarget.disabled = false;
  }

  async function remove(entry, button) {
    if (button.dataset.confirm !== "true") {
      button.dataset.confirm = "true";
      button.textContent = `Really remove ${entry.name}?`;
      return;
    }
    try {
      await manager.revokeDevice(entry.deviceId);
      say(status, `${entry.name} was removed. It reads nothing sent from now on.`);
      update();
    } catch (error) {
      fail(status, error);
    }
  }

  /** When a device was last in use, as far as this one has heard. */
  function activity(entry) {
    if (entry.thisDevice) return "Active now";
    if (entry.lastActive === undefined) return "Not heard from since it was added";
    const at = new Date(entry.lastActive);
    const today = at.toDateString() === new Date().toDateString();
    return `Last active ${today ? "today" : at.toLocaleDateString()} at ${formatTime(entry.lastActive)}`;
  }

  function update() {
    epoch.value = manager.rosterEpoch ?? "";
    revoked.hidden = !device.revoked;
    disputed.hidden = !manager.rosterDisputed;
    const entries = manager.devices();
    const signature = JSON.stringify([manager.rosterEpoch, device.revoked, entries.map((e) => [e.deviceId, e.lastActive])]);
    renderList(list, signature, () => entries.map((entry) => {
      const button = entry.thisDevice || device.revoked || !authority ? null : h("button", {
        type: "button",
        class: "danger",
        "aria-label": `Remove ${entry.name}`,
        onclick: (event) => remove(entry, event.currentTarget),
      }, "Remove");
      return h("li", { dataset: { key: entry.deviceId, device: entry.deviceId, thisDevice: String(entry.thisDevice) } },
        h("span", { class: "title" }, entry.name),
        entry.thisDevice ? h("span", { class: "tag" }, "This device") : null,
        h("small", {}, `Added ${new Date(entry.addedAt * 1000).toLocaleDateString()} · ${activity(entry)}`),
        button);
    }));
  }

  update();
  return { update };
}
