// Linking this device to a persona: show a code for the phone to scan — a phone's camera
// reads a laptop's screen better than the other way round — or scan the code the phone
// shows (or paste its link code); show the three words to pick there, wait for the
// approval, then follow the history as it arrives.
import { codeReader, rotatingCode } from "../link-code.js";
import { explain, fail, h, heading, say, statusLine } from "../ui.js";

export function mount(root, app) {
  const { device } = app;
  const { manager } = device;
  const body = h("div", { class: "link-step" });
  const status = statusLine("linking-status");
  let shown = null;
  let camera = null;
  let stopRotating = null;

  // Shown above everything once a second phone answered the code: someone else saw it.
  const intruders = h("p", { class: "status error", id: "turned-away", role: "alert", hidden: true });
  root.append(heading("Link this device"), intruders, body, status);

  function warnOfIntruders() {
    const names = manager.turnedAway;
    intruders.hidden = names.length === 0;
    intruders.textContent = names.length === 0 ? "" : `Another phone (${names.map((n) => `“${n}”`).join(", ")}) also scanned this code and was turned away. If that was yours, the phone that got here first is someone else's: press Cancel.`;
  }

  // The codes shown are withdrawn first: until then this device counts as joining, and
  // the app would keep it on this screen.
  function backButton() {
    return h("button", {
      type: "button",
      class: "secondary",
      onclick: async () => {
        stopShowing();
        if (manager.state === "inviting") await manager.cancel().catch(() => {});
        app.go("welcome");
      },
    }, "Back");
  }

  function stopShowing() {
    stopRotating?.();
    stopRotating = null;
    camera?.stop();
  }

  function showCode() {
    stopShowing();
    try {
      stopRotating = rotatingCode(body, status, {
        generate: () => manager.generateDeviceCode(),
        steps: [
          "On your phone, open this app, then Devices, then “Link a new device”.",
          "Choose “Scan the new device's code” and point the phone at this code.",
          "Pick on the phone the three words this device then shows.",
        ],
        stillShowing: () => manager.state === "inviting",
        actions: [
          h("button", { type: "button", class: "secondary", id: "scan-instead", onclick: scan }, "Scan my phone's code instead"),
          backButton(),
        ],
      });
      shown = "code";
    } catch (error) {
      fail(status, error);
      scan();
    }
  }

  function scan() {
    stopShowing();
    if (manager.state === "inviting") manager.cancel().catch(() => {});
    const reader = codeReader(status, { label: "Scan with the camera", prompt: "Point the camera at the QR code.", use: accept });
    camera = reader;
    body.replaceChildren(
      h("p", {}, "On the device that holds your persona, open Devices and choose “Link a new device”. Then scan the QR code it shows."),
      ...reader.elements,
      h("button", { type: "button", class: "secondary", id: "show-code-instead", onclick: showCode }, "Show a code for my phone to scan"),
      backButton());
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
    stopShowing();
    const scannedBy = manager.scannedBy;
    body.replaceChildren(
      scannedBy ? h("p", { class: "lead" }, h("strong", { id: "scanned-by" }, scannedBy),
        " scanned this device's code. If that is not your phone, press Cancel.") : null,
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
    warnOfIntruders();
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
        // Read before a new code replaces the ended link, and its reason with it.
        const reason = state === "failed" ? explain(manager.failureReason) : "The link was cancelled. A new code is shown: scan it to start again.";
        showCode();
        shown = state;
        fail(status, reason);
      }
    } else if (shown === null) {
      showCode();
    }
  }

  update();
  if (device.manager.resumeError) fail(status, device.manager.resumeError);
  return {
    update,
    unmount() {
      stopShowing();
      if (manager.state === "inviting") manager.cancel().catch(() => {});
    },
  };
}
