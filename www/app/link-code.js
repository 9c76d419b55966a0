// A code for the other device to scan — the phone's invitation or the new device's own
// code: the QR code, a countdown to the next one (a new code every minute, each working
// for three), and the link code to paste instead of scanning.
import { scanButton } from "./camera.js";
import { fail, h, say, svgNode } from "./ui.js";

const ROTATE_MS = 60_000;

/**
 * Shows in `body` the `steps` to follow, the code `generate()` makes, and `actions`
 * (buttons) below it; makes a new code every minute while `stillShowing()`. Throws what
 * the first `generate()` throws; a later one that fails says so in `status`. Returns
 * `stop()`, which ends the rotation.
 */
export function rotatingCode(body, status, { generate, steps, stillShowing, actions }) {
  let timer = null;
  const show = () => {
    clearInterval(timer);
    const invitation = generate();
    const countdown = h("output", { id: "expires-in" });
    const copy = h("button", {
      type: "button",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(invitation.linkCode);
          say(status, "Link code copied.");
        } catch {
          fail(status, "Copying is not allowed here: select the code and copy it.");
        }
      },
    }, "Copy link code");
    const again = () => {
      try {
        show();
      } catch (error) {
        fail(status, error);
      }
    };
    body.replaceChildren(
      h("ol", { class: "steps" }, steps.map((step) => h("li", {}, step))),
      svgNode(invitation.svg, "Pairing QR code"),
      h("p", {}, "A new code appears in ", countdown, " (each works for three minutes). ",
        h("button", { type: "button", id: "rotate", onclick: again }, "New code")),
      h("details", {}, h("summary", {}, "Link code, to paste instead of scanning"),
        h("code", { id: "link-code", class: "code" }, invitation.linkCode), copy),
      ...actions);
    const rotateAt = Date.now() + ROTATE_MS;
    const tick = () => {
      // The code changes every minute: the countdown is to the next one.
      const left = Math.max(0, Math.round((Math.min(rotateAt, invitation.expiresAt * 1000) - Date.now()) / 1000));
      countdown.value = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (Date.now() >= rotateAt && stillShowing()) again();
    };
    tick();
    timer = setInterval(tick, 1000);
  };
  show();
  return () => clearInterval(timer);
}

/**
 * A camera view and a paste field for a link code the other device shows; `use(code)` is
 * called with the first code read or pasted. Returns the elements and `stop()` for the
 * camera.
 */
export function codeReader(status, { label, prompt, use }) {
  const video = h("video", { id: "camera", muted: true, playsinline: true, "aria-label": "Camera view" });
  const camera = scanButton(video, status, { label, prompt, prefix: "PHSYNC:", found: use });
  const paste = h("form", {
    class: "card",
    onsubmit: async (event) => {
      event.preventDefault();
      await use(paste.querySelector("#paste-code").value.trim());
    },
  },
  h("p", { class: "field" },
    h("label", { for: "paste-code" }, "Or paste the link code"),
    h("input", { id: "paste-code", placeholder: "PHSYNC:…", autocomplete: "off", spellcheck: "false" })),
  h("button", { type: "submit" }, "Use this code"));
  return { elements: [h("div", { class: "camera" }, video), camera.button, paste], stop: camera.stop };
}
