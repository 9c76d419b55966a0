// Linking this device to a persona: scan the QR code the other device shows (or paste its
// link code), show the three words to pick there, wait for the approval, then follow the
// history as it arrives.
import { scanButton } from "../camera.js";
import { explain, fail, h, heading, say, statusLine } from "../ui.js";

export function mount(root, app) {
  const { device } = app;
  const { manager } = device;
  const body = h("div", { class: "link-step" });
  const status = statusLine("linking-status");
  let shown = null;
  let camera = null;

  root.append(heading("Link this device"), body, status);

  function scan() {
    const video = h("video", { id: "camera", muted: true, playsinline: true, "aria-label": "Camera view" });
    camera?.stop();
    camera = scanButton("Scan with the camera", video, status, "Point the camera at the QR code.", accept);
    const paste = h("form", {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        await accept(root.querySelector("#paste-code").value.trim());
      },
    },
    h("p", { class: "field" },
      h("label", { for: "paste-code" }, "Or paste the link code"),
      h("input", { id: "paste-code", placeholder: "PHSYNC:…", autocomplete: "off", spellcheck: "false" })),
    h("button", { type: "submit" }, "Use this code"));
    body.replaceChildren(
      h("p", {}, "On the device that holds your persona, open Devices and choose “Link a new device”. Then scan the QR code it shows."),
      h("div", { class: "camera" }, video),
      camera.button, paste,
      h("button", { type: "button", class: "secondary", onclick: () => app.go("welcome") }, "Back"));
    shown = "scan";
  }

  async function accept(code) {
    camera?.stop();
    try {
      manager.acceptInvitation(code);
      say(status, "Code read. Now check the words.");
      update();
      await device.flush();
    } catch (error) {
      fail(status, error);
      update();
    }
  }

  function words() {
    body.replaceChildren(
      h("p", {}, "On your other device, pick these three words:"),
      h("p", { class: "big-words", id: "words", "aria-live": "polite" }, (manager.words ?? []).join(" ")),
      h("p", { class: "waiting" }, "Waiting for your other device to approve…"),
      h("button", {
        type: "button",
        class: "secondary",
        onclick: async () => {
          try {
            await manager.cancel();
            await device.flush();
          } catch (error) {
            fail(status, error);
          }
          update();
        },
      }, "Cancel"));
    shown = "words";
  }

  function history() {
    const bar = h("progress", { id: "history-bar", max: 1, value: 0, "aria-labelledby": "history-label" });
    body.replaceChildren(
      h("p", { class: "lead" }, "Linked to ", h("strong", {}, manager.displayName), "."),
      h("p", {}, "Fingerprint ", h("code", { id: "fingerprint" }, manager.fingerprint),
        " — the same as on your other device."),
      h("p", { id: "history-label" }, "Your history"),
      bar,
      h("p", { id: "history-status", "aria-live": "polite" }, "Waiting for your other device to send it…"),
      h("button", { type: "button", id: "linking-done", onclick: () => app.go("chats") }, "Open chats"));
    shown = "history";
  }

  function showProgress() {
    const progress = device.history;
    if (!progress) return;
    const bar = body.querySelector("#history-bar");
    bar.max = progress.bytesTotal || 1;
    bar.value = progress.bytesDone;
    const rate = progress.bytesPerSecond > 0 ? `, ${Math.round(progress.bytesPerSecond / 1024)} KiB/s` : "";
    const left = Number.isFinite(progress.secondsRemaining) && !progress.complete
      ? `, about ${Math.ceil(progress.secondsRemaining)} s left` : "";
    body.querySelector("#history-status").textContent = progress.complete
      ? `Complete: ${progress.messagesTotal} message(s).`
      : `${progress.messagesDone} of ${progress.messagesTotal} messages${rate}${left}.`;
    body.dataset.complete = String(Boolean(progress.complete));
  }

  function rejected() {
    const again = h("button", {
      type: "button",
      id: "link-start-again",
      onclick: async () => {
        again.disabled = true;
        try {
          await manager.unlink();
          location.hash = "#/linking";
          location.reload();
        } catch (error) {
          fail(status, error);
          again.disabled = false;
        }
      },
    }, "Start again");
    body.replaceChildren(
      h("p", {}, "Your other device did not add this one, so nothing would reach it here."),
      again);
    fail(status, explain(manager.failureReason));
    shown = "rejected";
  }

  function update() {
    const state = manager.state;
    if (state === "failed" && manager.failureReason === "device_rejected") {
      if (shown !== "rejected") rejected();
    } else if (manager.fingerprint) {
      if (shown !== "history") {
        history();
        say(status, "This device is linked and stored encrypted in this browser.");
      }
      showProgress();
    } else if (manager.linkInProgress && manager.words) {
      if (shown !== "words") words();
    } else if (state === "failed" || state === "cancelled") {
      if (shown !== state) {
        scan();
        shown = state;
        fail(status, state === "failed" ? explain(manager.failureReason) : "The link was cancelled. Scan a new code to start again.");
      }
    } else if (shown === null) {
      scan();
    }
  }

  update();
  if (device.manager.resumeError) fail(status, device.manager.resumeError);
  return {
    update,
    unmount() {
      camera?.stop();
    },
  };
}
