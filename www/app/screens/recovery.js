// The recovery code: shown on the device that adds and removes devices (right after the
// persona is created, and from Settings); typed on another device to make it that one.
import { fail, h, heading, say, statusLine } from "../ui.js";

export function mount(root, app) {
  const { manager } = app.device;
  const status = statusLine("recovery-status");
  const code = manager.recoveryCode;
  if (code) {
    const words = code.split(" ");
    root.append(
      heading("Your recovery code"),
      h("p", {}, "Only this device can add and remove your devices. If you lose it, these 24 words let another of your devices take over. Write them down in this order and keep them somewhere safe, away from your devices. Anyone who has them can take over your persona."),
      h("ol", { class: "recovery-words", id: "recovery-words", "aria-label": "Recovery code" },
        ...words.map((word) => h("li", {}, h("code", {}, word)))),
      h("button", { type: "button", id: "recovery-done", onclick: () => app.go("chats") }, "I have written it down"),
      status);
    return;
  }
  const input = h("textarea", { id: "recovery-input", rows: 4, spellcheck: "false", autocomplete: "off", autocapitalize: "none" });
  root.append(
    heading("Recovery code"),
    h("p", {}, "Another of your devices adds and removes your devices: the one that created your persona. Lost it? Type the 24 words you wrote down when you created your persona, and this device takes over. Then remove the lost device under Devices."),
    h("form", {
      onsubmit: async (event) => {
        event.preventDefault();
        const button = event.submitter;
        button.disabled = true;
        try {
          await manager.takeAuthority(input.value);
          input.value = "";
          say(status, "This device now adds and removes your devices. Remove the lost one under Devices.");
        } catch (error) {
          fail(status, error);
        }
        button.disabled = false;
      },
    },
    h("p", { class: "field" }, h("label", { for: "recovery-input" }, "Recovery code (24 words)"), input),
    h("button", { type: "submit", id: "take-authority" }, "Make this device the one that adds devices")),
    status);
}
