// The demo page: in-page devices, each a SyncManager with its own vault (a separate
// IndexedDB profile). Phone A and Laptop are two devices of one persona, linked by the
// same steps a phone and a laptop take; Grace is a contact with a persona of her own.
// When the demo server names a local DHT network (/network.json), every message travels
// through its mailboxes — the phone and Grace over WebSocket, the laptop over
// WebRTC-direct; otherwise an in-page router plays the pairing mailboxes (messaging needs
// the network). Either way the network log shows each message.
import init, { SyncManager } from "../pkg/phantom_sync.js";

const $ = (id) => document.getElementById(id);
const PROFILES = { phone: "demo-phone", laptop: "demo-laptop", contact: "demo-contact" };

await init();
const phone = await SyncManager.open(PROFILES.phone, "Phone A");
const laptop = await SyncManager.open(PROFILES.laptop, "Laptop");
const contact = await SyncManager.open(PROFILES.contact, "Grace's phone");
const names = new Map([[phone, "Phone A"], [laptop, "Laptop"], [contact, "Grace"]]);
let expiryTimer;

const network = await fetch("/network.json")
  .then((response) => (response.ok ? response.json() : null))
  .catch(() => null);
const useNetwork = Boolean(network?.websocket?.length);
if (useNetwork) {
  const laptopTransport = network.webrtc.length ? "WebRTC-direct" : "WebSocket";
  phone.connectNetwork(network.websocket);
  laptop.connectNetwork(network.webrtc.length ? network.webrtc : network.websocket);
  contact.connectNetwork(network.websocket);
  $("network-mode").textContent =
    `through a local DHT of ${network.websocket.length} nodes (phone: WebSocket, laptop: ${laptopTransport})`;
  listen(phone);
  listen(laptop);
} else {
  $("network-mode").textContent = "through an in-page router (no local network running)";
  $("create-contact").disabled = true;
  say("contact-message", "Messaging needs the local network: start the demo with scripts/demo.sh.");
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
    // A step that waited too long has ended in its typed state by now.
    refresh();
    if (device.failureReason) showFailure(device);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Each device with a persona sends what waits and reads its inbox, over and over.
async function syncMessages(device) {
  for (;;) {
    if (device.rosterEpoch === undefined) {
      await sleep(300);
      continue;
    }
    try {
      const events = await device.syncMessages(1500);
      for (const event of events) log(`${event.via === "direct" ? "WebRTC" : "DHT"} → ${names.get(device)}: ${describe(event)}`);
      if (device === laptop) showHistory(events);
      if (events.length) renderChats();
    } catch (error) {
      log(`${names.get(device)}: ${error.message}`);
      await sleep(1000);
    }
  }
}

/** The laptop's history catch-up as a progress bar: blocks, messages, rate, time left. */
function showHistory(events) {
  const progress = events.filter((event) => event.type === "history_progress").pop();
  if (!progress) return;
  const box = document.getElementById("laptop-history");
  box.hidden = false;
  const bar = document.getElementById("laptop-history-bar");
  bar.max = progress.bytesTotal || 1;
  bar.value = progress.bytesDone;
  const rate = progress.bytesPerSecond > 0 ? `, ${(progress.bytesPerSecond / 1024).toFixed(0)} KiB/s` : "";
  const left = progress.complete ? " — complete"
    : Number.isFinite(progress.secondsRemaining) ? `, about ${Math.ceil(progress.secondsRemaining)} s left` : "";
  document.getElementById("laptop-history-status").textContent =
    `${progress.messagesDone} of ${progress.messagesTotal} messages, block ${progress.blocksDone} of ${progress.blocksTotal} (over ${progress.via === "direct" ? "WebRTC" : "the DHT"}${rate})${left}`;
}

function describe(event) {
  switch (event.type) {
    case "message": return `message from ${event.senderName}`;
    case "read_state": return `read on another device (${event.unread} unread)`;
    case "contact_added": return `contact ${event.displayName} added`;
    case "roster_changed": return `roster epoch ${event.epoch}`;
    case "device_linked": return `new device linked: ${event.name}`;
    case "history_offered": return "history offered by another device of this persona";
    case "history_progress":
      return `history: ${event.messagesDone}/${event.messagesTotal} messages, block ${event.blocksDone}/${event.blocksTotal}${event.complete ? " — complete" : ""}`;
    case "refused": return `envelope refused (${event.code})`;
    case "history_channel_requested": return "asked for a direct WebRTC channel for the history";
    case "history_channel_accepted": return "the direct history channel was answered";
    case "history_channel_failed": return `direct channel failed (${event.code}); the DHT carries the history`;
    default: return event.type;
  }
}

/** The first conversation of a device (the demo has one contact), if any. */
function firstConversation(device) {
  if (device.rosterEpoch === undefined) return undefined;
  return device.conversations()[0];
}

function renderMessages(list, messages) {
  list.replaceChildren(...messages.map((message) => {
    const item = document.createElement("li");
    item.dataset.sender = message.sender;
    item.textContent = message.body;
    const from = document.createElement("small");
    from.textContent = message.senderName;
    item.prepend(from);
    return item;
  }));
  list.scrollTop = list.scrollHeight;
}

function renderChat(device, prefix) {
  if (device.rosterEpoch === undefined) return;
  $(`${prefix}-epoch`).textContent = device.rosterEpoch;
  $(`${prefix}-devices`).textContent = device.devices()
    .map((d) => d.name + (d.thisDevice ? " (this device)" : "")).join(", ");
  const conversation = firstConversation(device);
  show(`${prefix}-chat`);
  if (!conversation) return;
  $(`${prefix}-peer`).textContent = conversation.title;
  $(`${prefix}-unread`).textContent = conversation.unread;
  $(`${prefix}-unread`).dataset.count = conversation.unread;
  const recent = device.messages(conversation.conversationId);
  const shown = new Set(recent.map((message) => message.id));
  const earlier = (earlierShown.get(prefix) ?? []).filter((message) => !shown.has(message.id));
  renderMessages($(`${prefix}-messages`), [...earlier, ...recent]);
  device.messageCount(conversation.conversationId).then((count) => {
    $(`${prefix}-count`).textContent = `${count} message(s) on this device`;
  }, () => {});
}

/** Older messages a device was asked to show, read from its vault, per device. */
const earlierShown = new Map();

/** Shows 50 more messages from before the oldest one shown: they come from the vault, and
 * during a catch-up this conversation's history is asked for before the others. */
async function showEarlier(device, prefix) {
  const conversation = firstConversation(device);
  if (!conversation) return;
  try {
    const id = conversation.conversationId;
    if (device === laptop) laptop.prioritizeHistory(id);
    const shown = earlierShown.get(prefix) ?? [];
    const oldest = shown[0] ?? device.messages(id)[0];
    if (!oldest) return;
    const earlier = await device.earlierMessages(id, oldest.id, 50);
    earlierShown.set(prefix, [...earlier, ...shown]);
    renderChats();
    $(`${prefix}-messages`).scrollTop = 0;
  } catch (error) {
    report(prefix === "laptop" ? "target-message" : "source-message", error);
  }
}

function renderChats() {
  renderChat(phone, "phone");
  renderChat(laptop, "laptop");
  const conversation = firstConversation(contact);
  if (conversation) renderMessages($("contact-messages"), contact.messages(conversation.conversationId));
}

async function reply(device, prefix) {
  const conversation = firstConversation(device);
  const text = $(`${prefix}-text`).value.trim();
  if (!conversation || !text) return;
  try {
    await device.sendText(conversation.peerKey, text);
    $(`${prefix}-text`).value = "";
    renderChats();
    const sent = await device.flushToNetwork();
    log(`${names.get(device)} → DHT: ${sent} envelope(s) stored by a quorum of nodes`);
  } catch (error) {
    report(prefix === "laptop" ? "target-message" : "source-message", error);
  }
}

for (const [device, prefix] of [[phone, "phone"], [laptop, "laptop"]]) {
  $(`${prefix}-earlier`).addEventListener("click", () => showEarlier(device, prefix));
  $(`${prefix}-reply`).addEventListener("submit", async (event) => {
    event.preventDefault();
    await reply(device, prefix);
  });
  $(`${prefix}-read`).addEventListener("click", async () => {
    const conversation = firstConversation(device);
    if (!conversation) return;
    await device.markRead(conversation.conversationId);
    renderChats();
    await device.flushToNetwork();
  });
}

let adaKey;

$("create-contact").addEventListener("click", async () => {
  try {
    await contact.createPersona("Grace");
    $("create-contact").disabled = true;
    $("add-ada").disabled = !phone.fingerprint;
    say("contact-message", "Grace's persona is ready.");
  } catch (error) {
    report("contact-message", error);
  }
});

$("add-ada").addEventListener("click", async () => {
  try {
    $("contact-card").innerHTML = phone.contactCardSvg();
    show("contact-card");
    adaKey = await contact.addContact(phone.contactCard());
    show("contact-send");
    $("add-ada").disabled = true;
    say("contact-message", "Ada is a contact: her card lists her devices.");
  } catch (error) {
    report("contact-message", error);
  }
});

$("contact-send").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const key = adaKey ?? firstConversation(contact)?.peerKey;
    await contact.sendText(key, $("contact-text").value);
    $("contact-text").value = "";
    renderChats();
    const sent = await contact.flushToNetwork();
    log(`Grace → DHT: ${sent} envelope(s) stored by a quorum of nodes`);
  } catch (error) {
    report("contact-message", error);
  }
});

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

function showFailure(device) {
  const where = device === phone ? "source-message" : "target-message";
  const reasons = {
    invitation_expired: "The invitation expired. Show a new code to try again.",
    invitation_used: "Another device used this invitation first. Ask for a new code.",
    network_lost: "The other device stopped answering. Check the connection and try again.",
    words_rejected: "The words did not match, so nothing was shared.",
    peer_cancelled: "The other device cancelled.",
    import_failed: "The new device could not store the persona.",
  };
  report(where, `${reasons[device.failureReason] ?? "The link failed."} (${device.failureReason})`);
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
  show("phone-pin-form");
  show("phone-unlock-form", false);
  show("create-form", false);
  $("link-device").disabled = false;
}

$("phone-pin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    say("source-message", "Deriving the PIN key (about a second)…");
    await phone.setPin($("phone-new-pin").value);
    $("phone-new-pin").value = "";
    say("source-message", "Phone PIN set: approving a link now asks for it.");
  } catch (error) {
    report("source-message", error);
  }
});

$("phone-unlock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await phone.unlock($("phone-unlock-pin").value);
    $("phone-unlock-pin").value = "";
    showPhonePersona();
    say("source-message", "Unlocked.");
  } catch (error) {
    report("source-message", error);
  }
});

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
        renderChats();
        break;
      case "link_completed":
        say(where, "Laptop is linked: it is on the roster now.");
        renderChats();
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
    $("add-ada").disabled = contact.rosterEpoch === undefined;
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
    // A fresh code every minute; each stays valid for three, so a slow scan still works.
    const rotateAt = Date.now() + 60_000;
    expiryTimer = setInterval(() => {
      if (Date.now() >= rotateAt && phone.state === "inviting") showInvitation();
      else tick();
    }, 1000);
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
  phone.approvalNeedsPin().then((needed) => show("approve-pin-field", needed));
  list.firstElementChild?.focus();
}

async function approve(index) {
  try {
    await phone.approve(index, $("approve-pin").value || undefined);
    $("approve-pin").value = "";
    show("choice", false);
    say("source-message", "Approved: sending the persona, sealed for the laptop.");
    refresh();
  } catch (error) {
    // A wrong PIN leaves the choice open; wrong words end the link.
    if (phone.state !== "awaiting_approval") show("choice", false);
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

for (const [device, id, where] of [[phone, "source-cancel", "source-message"], [laptop, "target-cancel", "target-message"]]) {
  $(id).addEventListener("click", async () => {
    try {
      await device.cancel();
      show("choice", false);
      if (device === laptop) show("target-words", false);
      say(where, "Cancelled; the other device is told.");
    } catch (error) {
      report(where, error);
    }
    await route();
  });
}

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
else if (phone.locked) {
  show("phone-unlock-form");
  show("create-form", false);
}
if (contact.fingerprint) {
  $("create-contact").disabled = true;
  const known = firstConversation(contact);
  $("add-ada").disabled = Boolean(known) || !phone.fingerprint;
  show("contact-send", Boolean(known));
}
renderChats();
if (laptop.fingerprint) {
  showLaptopPersona();
  say("target-message", "This laptop opened its vault by itself: the persona survived the reload.");
} else if (laptop.state === "awaiting_approval" && laptop.words) {
  $("words").textContent = laptop.words.join(" ");
  show("target-words");
  say("target-message", "Picked up after the reload: still waiting for the phone to approve.");
} else if (laptop.locked) {
  show("unlock-form");
  show("paste-form", false);
  say("target-message", "This laptop's vault is locked with a PIN.");
}
if (useNetwork) for (const device of [phone, laptop, contact]) syncMessages(device);
refresh();
document.body.dataset.ready = "true";
