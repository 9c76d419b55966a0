// First run: name this device, then create a new persona or link to an existing one.
import { field, fail, h, heading, statusLine } from "../ui.js";

export function mount(root, app) {
  const { manager } = app.device;
  const status = statusLine("welcome-status");
  const nameDevice = () => {
    manager.setDeviceName(root.querySelector("#device-name").value);
  };

  const create = h("form", {
    class: "card",
    onsubmit: async (event) => {
      event.preventDefault();
      const button = event.submitter;
      button.disabled = true;
      try {
        nameDevice();
        await manager.createPersona(root.querySelector("#persona-name").value.trim());
        app.go("recovery");
      } catch (error) {
        fail(status, error);
        button.disabled = false;
      }
    },
  },
  h("h2", {}, "Start a new persona"),
  h("p", {}, "Your persona is who you are to your contacts. It lives end-to-end encrypted on your devices, with no server."),
  field("persona-name", "Your name", { required: true, maxlength: 64, autocomplete: "name" }),
  h("button", { type: "submit" }, "Create persona"));

  const link = h("section", { class: "card", "aria-labelledby": "link-existing" },
    h("h2", { id: "link-existing" }, "Link to your persona"),
    h("p", {}, "Already use Phantom Net on another device? Make this browser one of its devices: scan the QR code it shows, check three words, and your chats arrive here."),
    h("button", {
      type: "button",
      onclick: () => {
        try {
          nameDevice();
          app.go("linking");
        } catch (error) {
          fail(status, error);
        }
      },
    }, "Link this device"));

  root.append(
    heading("Welcome"),
    field("device-name", "This device's name", { value: manager.deviceName, required: true, maxlength: 64 },
      "Your other devices and your contacts' apps show it."),
    create, link, status);
}
