// Link a device, on the device that holds the persona: show a QR code (it rotates every
// minute and each stays valid for three) or scan the one the new device shows, then the
// asking device's name and five word triples — the person picks the one the new device
// shows — then approve and follow the persona and the history on their way.
import { codeReader, rotatingCode } from "../link-code.js";
import { explain, fail, h, heading, say, statusLine } from "../ui.js";

export function mount(root, app) {
  const { device } = app;
  const { manager } = device;
  const body = h("div", { class: "link-step" });
  const status = statusLine("link-status");
  let shown = null;
  let stopRotating = null;
  let camera = null;
  let framesAtLink = 0;
  // Set when this device may not link (it holds no authority): the pairing state then
  // belongs to this device's own linking, and must not turn the refusal into "Linked."
  let refused = false;

  // Shown above everything once a second device answered the code: someone else saw it.
  const intruders = h("p", { class: "status error", id: "turned-away", role: "alert", hidden: true });
  root.append(heading("Link a new device"), intruders, body, status);

  function warnOfIntruders() {
    const names = manager.turnedAway;
    intruders.hidden = names.length === 0;
    intruders.textContent = names.length === 0 ? "" : `Another device (${names.map((n) => `“${n}”`).join(", ")}) also tried to use this code and was turned away. If that was not you, someone else has seen your code: read all three words with care, and choose “None of these” if you are unsure.`;
  }

  function stopShowing() {
    stopRotating?.();
    stopRotating = null;
    camera?.stop();
    camera = null;
  }

  function invite() {
    stopShowing();
    try {
      stopRotating = rotatingCode(body, status, {
        generate: () => manager.generatePairingInvitation(),
        steps: [
          "On the new device, open this app and choose “Link this device”.",
          "Scan this code with it, or paste the link code.",
          "Pick the three words the new device shows.",
        ],
        stillShowing: () => manager.state === "inviting",
        actions: [
          h("button", { type: "button", class: "secondary", id: "scan-device-code", onclick: scanDeviceCode }, "Scan the new device's code"),
          h("button", { type: "button", class: "secondary", onclick: () => app.go("devices") }, "Cancel"),
        ],
      });
    } catch (error) {
      refused = true;
      fail(status, error);
      return;
    }
    refused = false;
    shown = "inviting";
  }

  // The other way round: the new device shows a code and this device's camera reads it.
  function scanDeviceCode() {
    stopShowing();
    if (manager.state === "inviting") manager.cancel().catch(() => {});
    camera = codeReader(status, {
      label: "Scan with the camera",
      prompt: "Point the camera at the code on the new device.",
      use: answer,
    });
    body.replaceChildren(
      h("p", {}, "On the new device, open this app and choose “Link this device”: it shows a code. Scan it only on a screen you are holding."),
      ...camera.elements,
      h("button", { type: "button", class: "secondary", onclick: invite }, "Show a code instead"),
      h("button", { type: "button", class: "secondary", onclick: () => app.go("devices") }, "Cancel"));
    shown = "scan";
  }

  async function answer(code) {
    camera?.stop();
    try {
      manager.answerDeviceCode(code);
      say(status, "Code read. Waiting for the new device to answer…");
      update();
      await device.flush();
    } catch (error) {
      fail(status, error);
    }
  }

  function choose() {
    stopShowing();
    const choice = manager.wordChoice;
    if (!choice) return;
    const pin = h("p", { class: "field", hidden: true },
      h("label", { for: "approve-pin" }, "This device's PIN, to approve"),
      h("input", { id: "approve-pin", type: "password", inputmode: "numeric", autocomplete: "current-password" }));
    manager.approvalNeedsPin().then((needed) => { pin.hidden = !needed; }, () => {});
    const candidates = choice.candidates.map((words, index) => h("button", {
      type: "button",
      class: "words",
      dataset: { words: words.join(" ") },
      onclick: () => approve(index, pin.querySelector("input").value || undefined),
    }, words.join(" ")));
    body.replaceChildren(
      h("p", { class: "lead" }, h("strong", { id: "request-device" }, choice.deviceName), " asks to join your persona."),
      h("p", {}, "Which three words does it show? The choices differ by one word: pick one only if all three words are the same."),
      h("div", { class: "candidates", role: "group", "aria-label": "Word choices" }, candidates),
      pin,
      h("p", { class: "actions" },
        h("button", { type: "button", class: "danger", id: "none-match", onclick: refuse }, "None of these"),
        h("button", { type: "button", class: "secondary", onclick: cancel }, "Cancel")));
    shown = "awaiting_approval";
    candidates[0]?.focus();
  }

  async function approve(index, pin) {
    try {
      await manager.approve(index, pin);
      framesAtLink = manager.historyFramesSent;
    } catch (error) {
      // Wrong words end the link (the new device is told below); a wrong PIN does not.
      fail(status, error);
    }
    try {
      await device.flush();
    } catch (error) {
      fail(status, error);
    }
    update();
  }

  async function refuse() {
    try {
      manager.reject();
      await device.flush();
    } catch (error) {
      fail(status, error);
    }
    update();
  }

  async function cancel() {
    try {
      await manager.cancel();
      await device.flush();
    } catch (error) {
      fail(status, error);
    }
    app.go("devices");
  }

  function progress(text, done) {
    body.replaceChildren(
      h("p", { class: "lead", id: "link-progress" }, text),
      done ? h("p", {}, "The new device shows this fingerprint; check that it matches: ",
        h("code", { id: "source-fingerprint" }, manager.fingerprint ?? "")) : null,
      done ? h("p", { id: "history-sent" }) : null,
      done ? h("button", { type: "button", onclick: () => app.go("devices") }, "Done") : null);
  }

  function update() {
    if (refused) return;
    warnOfIntruders();
    const state = manager.state;
    if (state === "inviting" && shown !== "inviting") invite();
    else if (state === "negotiating" && shown !== state) {
      progress("Code read. Waiting for the new device to answer…", false);
      shown = state;
    } else if (state === "awaiting_approval" && shown !== state) choose();
    else if (state === "transferring" && shown !== state) {
      progress("Approved. Sending your persona, sealed for the new device…", false);
      shown = state;
    } else if (state === "completed") {
      if (shown !== state) {
        progress("The new device is linked. It now receives your messages, and your history is on its way to it.", true);
        say(status, "Linked.");
        shown = state;
      }
      const sent = manager.historyFramesSent - framesAtLink;
      body.querySelector("#history-sent").textContent = sent
        ? `History: ${sent} block(s) sent over a direct connection; the rest travels through the network.`
        : "History: sent through the network.";
    } else if ((state === "failed" || state === "cancelled") && shown !== state && shown !== "scan") {
      stopShowing();
      const reason = state === "failed" ? explain(manager.failureReason) : "The link was cancelled.";
      body.replaceChildren(
        h("p", { class: "lead" }, "Not linked."),
        h("button", { type: "button", onclick: invite }, "Show a new code"));
      fail(status, reason);
      shown = state;
    }
  }

  if (!manager.linkInProgress) invite();
  else update();
  return {
    update,
    unmount() {
      stopShowing();
      if (manager.state === "inviting") manager.cancel().catch(() => {});
    },
  };
}
