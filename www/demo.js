// The demo page: two in-page devices, each a SyncManager with its own vault (a separate
// IndexedDB profile), linked by the same steps a phone and a laptop take. When the demo
// server names a local DHT network (/network.json), their messages travel through its
// mailboxes — the phone over WebSocket, the laptop over WebRTC-direct; otherwise an
// in-page router plays the mailboxes. Either way the network log shows each message.
import init, { SyncManager } from "../pkg/phantom_sync.js";

const $ = (id) => document.getElementById(id);
const PROFILES = { phone: "demo-phone", laptop: "demo-laptop" };

await init();
const phone = await SyncManager.open(PROFILES.phone, "Phone A");
const laptop = await SyncManager.open(PROFILES.laptop, "Laptop");
const names = new Map([[phone, "Phone A"], [laptop, "Laptop"]]);
let expiryTimer;

const network = await fetch("/network.json")
  .then((response) => (response.ok ? response.json() : null))
  .catch(() => null);
const useNetwork = Boolean(network?.websocket?.length);
if (useNetwork) {
  const laptopTransport = network.webrtc.length ? "WebRTC-direct" : "WebSocket";
  phone.connectNetwork(network.websocket);
  laptop.connectNetwork(network.webrtc.length ? network.webrtc : network.websocket);
  $("network-mode").textContent =
    `through a local DHT of ${network.websocket.length} nodes (phone: WebSocket, laptop: ${laptopTransport})`;
  listen(phone);
  listen(laptop);
} else {
  $("network-mode").textContent = "through an in-page router (no local network running)";
}

function log(text) {
  const entry = document.createElement("li");
  entry.textContent = text;
  $("log").append(entry);
}

// Each device waits on its mailboxes and handles what arrives.
async function listen(device) {
  for (;;) {
    let messages = [];
    try {
      messages = await device.pollNetwork(3000);
    } catch (error) {
      log(`${names.get(device)}: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    for (const bytes of messages) {
      log(`DHT → ${names.get(device)}: ${bytes.length} bytes`);
      await deliver(device, bytes);
      await route();
    }
  }
}

function show(id, visible = true) { $(id).hidden = !visible; }

function report(where, error) {
  const text = error && error.code ? `${error.message} (${error.code})` : String(error);
  $(where).textContent = text;
  $(where).className = "error";
}

function say(where, text) {
  $(where).textContent = text;
  $(where).className = "ok";
}

function refresh() {
  $("source-state").value = phone.state + (phone.failureReason ? `: ${phone.failureReason}` : "");
  $("target-state").value = laptop.state + (laptop.failureReason ? `: ${laptop.failureReason}` : "");
  document.body.dataset.sourceState = phone.state;
  document.body.dataset.targetState = laptop.state;
}

function showPhonePersona() {
  $("source-name").textContent = phone.displayName;
  $("source-fingerprint").textContent = phone.fingerprint;
  show("source-persona");
  show("create-form", false);
  $("link-device").disabled = false;
}

function showLaptopPersona() {
  $("target-name").textContent = laptop.displayName;
  $("target-fingerprint").textContent = laptop.fingerprint;
  show("target-persona");
  show("target-words", false);
  show("unlock-form", false);
  show("vault-controls");
  show("paste-form", false);
  show("scan", false);
  show("camera", false);
}

// Sends every pending message: into the DHT, or straight to the other device.
async function route() {
  for (const [from, to] of [[phone, laptop], [laptop, phone]]) {
    if (useNetwork) {
      try {
        const sent = await from.flushToNetwork();
        if (sent) log(`${names.get(from)} → DHT: ${sent} message(s) stored by a quorum of nodes`);
      } catch (error) {
        report(from === phone ? "source-message" : "target-message", error);
      }
      continue;
    }
    for (let t = from.pollTransmit(); t; t = from.pollTransmit()) {
      log(`${names.get(from)} → ${names.get(to)}: ${t.bytes.length} bytes to mailbox ${t.mailbox.slice(0, 16)}…`);
      await deliver(to, t.bytes);
    }
  }
  refresh();
}

async function deliver(device, bytes) {
  const where = device === phone ? "source-message" : "target-message";
  try {
    switch (await device.receive(bytes)) {
      case "request_received":
        showChoice(device.wordChoice);
        break;
      case "persona_imported":
        showLaptopPersona();
        say(where, "Linked, and stored in this laptop's encrypted vault. The fingerprint matches the phone's.");
        break;
      case "link_completed":
        say(where, "Laptop is linked.");
        break;
      case "aborted":
        report(where, `The other device stopped the link: ${device.failureReason}`);
        break;
    }
  } catch (error) {
    report(where, error);
  }
}

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await phone.createPersona($("persona-name").value);
    showPhonePersona();
    say("source-message", "Persona created and stored in the phone's vault.");
  } catch (error) {
    report("source-message", error);
  }
});

function showInvitation() {
  try {
    const invitation = phone.generatePairingInvitation();
    $("qr").innerHTML = invitation.svg;
    $("link-code").textContent = invitation.linkCode;
    show("invitation");
    $("scan").disabled = laptop.locked || Boolean(laptop.fingerprint);
    clearInterval(expiryTimer);
    const tick = () => {
      const left = Math.max(0, Math.round(invitation.expiresAt - Date.now() / 1000));
      $("expires-in").value = left;
      if (left === 0) clearInterval(expiryTimer);
    };
    tick();
    expiryTimer = setInterval(tick, 1000);
    refresh();
  } catch (error) {
    report("source-message", error);
  }
}

$("link-device").addEventListener("click", showInvitation);
$("rotate").addEventListener("click", showInvitation);

function showChoice(choice) {
  clearInterval(expiryTimer);
  show("invitation", false);
  $("request-device").textContent = choice.deviceName;
  const list = $("candidates");
  list.replaceChildren();
  choice.candidates.forEach((words, index) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = words.join(" ");
    button.dataset.words = words.join(" ");
    button.addEventListener("click", () => approve(index));
    list.append(button);
  });
  show("choice");
  list.firstElementChild?.focus();
}

async function approve(index) {
  show("choice", false);
  try {
    phone.approve(index);
    say("source-message", "Approved: sending the persona, sealed for the laptop.");
    refresh();
  } catch (error) {
    report("source-message", error);
  }
  await route();
}

$("none-match").addEventListener("click", async () => {
  show("choice", false);
  try {
    phone.reject();
    report("source-message", "Link refused: the words did not match.");
  } catch (error) {
    report("source-message", error);
  }
  await route();
});

async function startLink(linkCode) {
  try {
    const words = laptop.acceptInvitation(linkCode);
    $("words").textContent = words.join(" ");
    show("target-words");
    say("target-message", "Waiting for the phone to approve…");
    refresh();
  } catch (error) {
    report("target-message", error);
  }
  await route();
}

// The laptop's "camera": the phone's QR code drawn into a 640×480 frame, then decoded by
// the wasm QR reader from raw pixels, as frames from getUserMedia would be.
$("scan").addEventListener("click", async () => {
  const svg = $("qr").innerHTML;
  const image = new Image();
  image.src = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
  await image.decode();
  const canvas = $("camera");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#777";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(image, 190, 90, 260, 260);
  URL.revokeObjectURL(image.src);
  show("camera");
  const frame = context.getImageData(0, 0, canvas.width, canvas.height);
  try {
    const code = SyncManager.scanFrame(frame.width, frame.height, frame.data);
    if (code) await startLink(code);
    else report("target-message", "No QR code in view; try again.");
  } catch (error) {
    report("target-message", error);
  }
});

$("paste-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await startLink($("paste-code").value);
});

$("unlock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await laptop.unlock($("unlock-pin").value);
    $("unlock-pin").value = "";
    showLaptopPersona();
    say("target-message", "Unlocked.");
  } catch (error) {
    report("target-message", error);
  }
});

$("pin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    say("target-message", "Deriving the PIN key (about a second)…");
    await laptop.setPin($("new-pin").value);
    $("new-pin").value = "";
    say("target-message", "PIN set: reload or lock, and the laptop asks for it.");
  } catch (error) {
    report("target-message", error);
  }
});

$("lock").addEventListener("click", () => {
  laptop.lock();
  show("target-persona", false);
  show("vault-controls", false);
  show("unlock-form");
  say("target-message", "Locked: the keys are gone from memory.");
  refresh();
});

$("reload").addEventListener("click", () => location.reload());
$("reset").addEventListener("click", async () => {
  await Promise.all(Object.values(PROFILES).map((profile) => SyncManager.deleteProfile(profile)));
  location.reload();
});

if (phone.fingerprint) showPhonePersona();
if (laptop.fingerprint) {
  showLaptopPersona();
  say("target-message", "This laptop opened its vault by itself: the persona survived the reload.");
} else if (laptop.locked) {
  show("unlock-form");
  show("paste-form", false);
  say("target-message", "This laptop's vault is locked with a PIN.");
}
refresh();
document.body.dataset.ready = "true";
