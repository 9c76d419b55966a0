// The lock screen: a vault protected by a PIN stays closed until the PIN opens it.
import { fail, field, h, heading, statusLine } from "../ui.js";

export function mount(root, app) {
  const status = statusLine("lock-status");
  root.append(
    heading("Locked"),
    h("p", {}, "This device's data is encrypted. Enter your PIN to open it."),
    h("form", {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        const input = root.querySelector("#unlock-pin");
        const button = event.submitter;
        button.disabled = true;
        status.textContent = "Opening…";
        try {
          await app.device.manager.unlock(input.value);
          input.value = "";
          app.go("chats");
        } catch (error) {
          fail(status, error);
          input.select();
        } finally {
          button.disabled = false;
        }
      },
    },
    field("unlock-pin", "PIN", { type: "password", inputmode: "numeric", autocomplete: "current-password", required: true }),
    h("button", { type: "submit" }, "Unlock")),
    status,
    h("p", { class: "hint" }, "Forgot the PIN? Delete this device's data from the browser's site settings and link it again from your phone."));
}
