// Contacts: add one from their contact card (scan its QR code or paste its code), or show
// your own card for them to add you.
import { scanButton } from "../camera.js";
import { fail, h, heading, say, statusLine, svgNode } from "../ui.js";

/** Damage a pasted or scanned card can have: the person hears one plain sentence for all of it. */
const UNREADABLE_CARD = new Set([
  "bad_magic", "truncated", "trailing_bytes", "unsupported_version", "field_too_long",
  "invalid_value", "invalid_utf8", "unsafe_text", "roster_bad_signature",
]);

export const add = {
  mount(root, app) {
    const { manager } = app.device;
    const status = statusLine("contact-status");
    const video = h("video", { id: "contact-camera", muted: true, playsinline: true, "aria-label": "Camera view" });

    async function addCard(code) {
      try {
        const key = await manager.addContact(code);
        const chat = manager.conversations().find((c) => c.peerKey === key);
        app.go(chat ? `chat/${chat.conversationId}` : "chats");
      } catch (error) {
        fail(status, UNREADABLE_CARD.has(error?.code) ? "not_a_contact_card" : error);
      }
    }

    const camera = scanButton(video, status, {
      label: "Scan a contact card",
      prompt: "Point the camera at the contact card.",
      prefix: "PHCONTACT:",
      found: addCard,
    });
    root.append(
      heading("New chat"),
      h("p", {}, "Add a contact from their contact card: scan the QR code on their device, or paste the code they sent you."),
      h("div", { class: "camera" }, video),
      camera.button,
      h("form", {
        class: "card",
        onsubmit: (event) => {
          event.preventDefault();
          addCard(root.querySelector("#contact-code").value.trim());
        },
      },
      h("p", { class: "field" },
        h("label", { for: "contact-code" }, "Contact card code"),
        h("input", { id: "contact-code", placeholder: "PHCONTACT:…", autocomplete: "off", spellcheck: "false", required: true })),
      h("button", { type: "submit" }, "Add contact")),
      status);
    return { unmount: camera.stop };
  },
};

export const card = {
  mount(root, app) {
    const { manager } = app.device;
    const status = statusLine("card-status");
    const code = manager.contactCard();
    root.append(
      heading("My contact card"),
      h("p", {}, `Contacts who add this card can write to ${manager.displayName} on every one of your devices.`),
      svgNode(manager.contactCardSvg(), "Your contact card QR code"),
      h("p", { class: "field" },
        h("label", { for: "my-card" }, "Card code, to send instead"),
        h("textarea", { id: "my-card", readonly: true, rows: 4 }, code)),
      h("button", {
        type: "button",
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(code);
            say(status, "Card code copied.");
          } catch {
            fail(status, "Copying is not allowed here: select the code and copy it.");
          }
        },
      }, "Copy card code"),
      h("p", {}, "Fingerprint ", h("code", {}, manager.fingerprint)),
      status);
  },
};
