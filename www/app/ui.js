// Small DOM helpers and the words people read when something goes wrong.

/**
 * Builds an element: `h("button", { type: "button", onclick }, "Send")`. Props starting
 * with `on` become listeners, `dataset` and `class` are set as such, the rest as attributes.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "class") element.className = value;
    else if (name === "hidden") element.hidden = Boolean(value);
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((child) => child !== undefined && child !== null && child !== false));
  return element;
}

/** A screen's heading: focused when the screen opens, so keyboards and readers start there. */
export function heading(text, level = "h1") {
  return h(level, { tabindex: "-1", class: "screen-title" }, text);
}

/** A labelled input: `<label>` then the control, tied by id. */
export function field(id, label, props = {}, hint) {
  const described = hint ? `${id}-hint` : undefined;
  return h("p", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("small", { id: described }, hint) : null,
    h("input", { id, name: id, "aria-describedby": described, ...props }));
}

/** A status line that screen readers announce; `say` and `fail` fill it. */
export function statusLine(id) {
  return h("p", { id, class: "status", role: "status", "aria-live": "polite" });
}

export function say(line, text) {
  line.className = "status ok";
  line.textContent = text;
}

export function fail(line, error) {
  line.className = "status error";
  line.textContent = explain(error);
}

/** Turns SVG markup made by the wasm QR renderer (our own code, not user input) into a node. */
export function svgNode(markup, label) {
  const box = h("div", { class: "qr", role: "img", "aria-label": label });
  const parsed = new DOMParser().parseFromString(markup, "image/svg+xml").documentElement;
  box.append(document.importNode(parsed, true));
  return box;
}

// What happened, and what to do next, for each error code a person can meet.
const PLAIN = {
  invitation_expired: "This code has expired. Show a new code on your other device and scan again.",
  invitation_used: "Another device already used this code. Show a new code and scan again.",
  invitation_corrupted: "That code could not be read. Scan it again, or copy the whole link code.",
  not_a_link_code: "That is not a link code. Link codes start with PHSYNC: — copy it again from your other device.",
  invalid_link_code: "That is not a working link code: it was damaged or mistyped. Copy it again from your other device, or scan its QR code.",
  link_code_incomplete: "That link code is too short: part of it is missing. Copy the whole code from your other device, or scan its QR code.",
  unsupported_version: "This was made by a different version of the app. Update the app on all your devices, then try again.",
  words_mismatch: "The words did not match, so nothing was shared. Start the link again.",
  words_rejected: "The words did not match, so nothing was shared. Start the link again.",
  peer_cancelled: "The other device cancelled the link. Start again when you are ready.",
  network_lost: "The other device stopped answering. Check that both are online, then start again.",
  device_rejected: "The new device could not be added: its keys could not be used. On the new device, press Start again to clear it, then link it again.",
  unusable_device_keys: "The new device could not be added: its keys could not be used. On the new device, press Start again to clear it, then link it again.",
  import_failed: "This device could not store the persona. Free some storage, then link again.",
  wrong_pin: "That PIN is not right. Try again.",
  pin_too_short: "A PIN needs at least 6 digits. Choose a longer one.",
  pin_required: "Enter this device's PIN to go on.",
  not_connected: "This device is not connected to the network. Check the connection or the network nodes in Settings.",
  no_nodes: "No network node answers. Check the connection or the network nodes in Settings.",
  quorum_not_reached: "Too few network nodes answered, so the message was not stored. It will be sent again.",
  network_setup: "The network could not be reached. Check the network nodes in Settings.",
  invalid_address: "A network node address is not valid. Fix it in Settings.",
  text_too_long: "The message is too long. Shorten it and send again.",
  own_persona: "That is your own contact card. Ask your contact for theirs.",
  device_revoked: "This device was removed from your persona. Link it again to use it.",
  last_device: "This is your persona's only device. Deleting its data deletes the persona.",
  persona_exists: "This device already holds a persona.",
  code_for_other_device: "This code is for your other device to scan. A new device shows its code for your phone; your phone shows its code for a new device.",
  invalid_device_name: "Give this device a name.",
  empty_display_name: "Enter your name.",
  unsafe_text: "The name has characters that could disguise it. Use plain letters.",
  field_too_long: "That is too long. Shorten it.",
  vault_locked: "This device is locked. Unlock it with your PIN.",
  quota_exceeded: "This browser is out of storage for the app. Free some space, then try again.",
  device_key_missing: "This browser lost the key that opens this device's data. Delete the data in Settings and link again.",
  no_qr_code: "No QR code in view yet. Hold the code steady in the frame.",
  qr_unreadable: "The QR code could not be read. Move closer or hold it steady.",
  unknown_word: "One of those words is not on the word list. Check the spelling.",
  wrong_word_count: "Enter exactly three words.",
  not_a_contact_card: "That is not a contact card this app can read. Ask your contact to show their card again, and copy all of it: it starts with PHCONTACT:.",
  open_elsewhere: "This device is open in another tab, which uses it now. Press Use here to use this tab instead.",
  not_authority: "Only the device that created your persona adds and removes devices. Do it there, or enter your recovery code in Settings to make this device the one that does.",
  recovery_word_count: "A recovery code has 24 words. Check that you typed all of them.",
  recovery_unknown_word: "One of those words is not in recovery codes. Check the spelling against what you wrote down.",
  recovery_checksum: "Those words do not add up: one is mistyped or out of order. Check them against what you wrote down.",
  recovery_code_of_another_persona: "That recovery code belongs to another persona. Use the one you wrote down for this persona.",
  roster_disputed: "Your contact's device lists disagree and no device is on both, so nothing was sent. Ask them to settle it on the device that adds their devices.",
  inbox_not_yet_known: "This device is still learning where your persona now receives messages. Try again in a minute.",
  not_disputed: "There is nothing to settle: your device list is not disputed.",
  outbox_full: "Too many messages are waiting to be sent. Connect to the network so they can go, then send again.",
};

/** A sentence a person can act on, for an error or a failure code. */
export function explain(error) {
  if (typeof error === "string") return PLAIN[error] ?? error;
  const code = error?.code;
  if (code === "too_many_attempts") {
    return `Too many wrong PINs. Try again in ${error.retryAfterSecs ?? "a few"} seconds.`;
  }
  if (code && PLAIN[code]) return PLAIN[code];
  const message = error?.message ?? String(error);
  return code ? `${message} (${code})` : message;
}

export function formatTime(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * Replaces a list's items only when `signature` changed, keeping keyboard focus on the
 * item (by its `data-key`) that had it, so live updates never throw a keyboard user out.
 */
export function renderList(list, signature, items) {
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  const focused = document.activeElement?.closest?.("[data-key]");
  const key = focused && list.contains(focused) ? focused.dataset.key : null;
  const tag = document.activeElement?.tagName;
  list.replaceChildren(...items());
  if (key !== null) {
    const again = list.querySelector(`[data-key="${CSS.escape(key)}"]`);
    (again?.querySelector(tag?.toLowerCase() ?? "a") ?? again)?.focus();
  }
}
