// One conversation: its latest messages (older ones from the vault on request), a box to
// write in, and read marks: what is on screen while the page is visible counts as read,
// on every device of the persona.
import { SyncManager } from "../../../pkg/phantom_sync.js";
import { fail, formatTime, h, renderList, statusLine } from "../ui.js";

const EARLIER_PAGE = 50;

/** Who wrote a message and its id: a contact's message may share an id with one of ours. */
const identity = (m) => `${m.sender === "contact" ? "c" : "o"}:${m.id}`;

export function mount(root, app, conversationId) {
  const { device } = app;
  const { manager } = device;
  const chat = manager.conversations().find((c) => c.conversationId === conversationId);
  if (!chat) {
    app.go("chats");
    return {};
  }
  const status = statusLine("chat-status");
  const list = h("ol", { class: "messages", id: "messages", "aria-live": "polite", "aria-label": "Messages" });
  const count = h("output", { id: "message-count" });
  let earlier = [];
  /** Other versions of messages shown here (the same writer and id, other words). */
  let conflicts = [];
  const input = h("input", { id: "compose", autocomplete: "off", required: true, "aria-describedby": "chat-status", oninput: checkLength });
  const sendButton = h("button", { type: "submit" }, "Send");
  const maxBytes = SyncManager.maxTextBytes();
  const encoder = new TextEncoder();

  const disputed = h("p", { class: "status error", id: "contact-disputed", hidden: !chat.disputed },
    `${chat.title}'s list of devices has two versions signed with their key: someone else may have their recovery code. Messages go only to the devices both versions name until ${chat.title} settles it.`);
  root.append(
    h("p", {}, h("a", { href: "#/chats", class: "back" }, "← Chats")),
    h("h1", { tabindex: "-1", class: "screen-title", id: "chat-title" }, chat.title),
    disputed,
    h("p", { class: "earlier" },
      h("button", { type: "button", id: "show-earlier", class: "secondary", onclick: showEarlier }, "Show earlier messages"),
      " ", count),
    list,
    h("form", { class: "compose", onsubmit: send },
      h("label", { for: "compose" }, `Message to ${chat.title}`),
      input,
      sendButton),
    status);

  /** One limit, the core's: a message over it is not cut, the person is told. */
  function checkLength() {
    const bytes = encoder.encode(input.value).length;
    const over = bytes > maxBytes;
    sendButton.disabled = over;
    if (over) {
      status.className = "status error";
      status.textContent = `This message is too long to send: ${Math.ceil(bytes / 1024)} KB, and a message can be at most ${maxBytes / 1024} KB. Shorten it or send it in parts.`;
    } else if (status.dataset.length === "over") {
      status.textContent = "";
    }
    status.dataset.length = over ? "over" : "";
  }

  async function send(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    try {
      await manager.sendText(chat.peerKey, text);
      input.value = "";
      update();
    } catch (error) {
      fail(status, error);
    }
  }

  async function showEarlier() {
    try {
      // During a catch-up this conversation's history is asked for before the others.
      manager.prioritizeHistory(conversationId);
      const oldest = earlier[0] ?? manager.messages(conversationId)[0];
      if (!oldest) return;
      earlier = [...await manager.earlierMessages(conversationId, oldest.id, EARLIER_PAGE), ...earlier];
      update();
      list.firstElementChild?.scrollIntoView();
    } catch (error) {
      fail(status, error);
    }
  }

  let marking = false;
  async function markRead() {
    const unread = manager.conversations().find((c) => c.conversationId === conversationId)?.unread ?? 0;
    if (!unread || marking || document.visibilityState !== "visible") return;
    marking = true;
    try {
      await manager.markRead(conversationId);
    } catch (error) {
      fail(status, error);
    } finally {
      marking = false;
    }
  }

  function refreshConflicts() {
    manager.conflicts(conversationId).then((found) => {
      if (found.length === conflicts.length) return;
      conflicts = found;
      update();
    }, () => {});
  }

  function update() {
    disputed.hidden = !manager.conversations().find((c) => c.conversationId === conversationId)?.disputed;
    const recent = manager.messages(conversationId);
    const shown = new Set(recent.map(identity));
    const messages = [...earlier.filter((m) => !shown.has(identity(m))), ...recent];
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const signature = [...messages.map(identity), conflicts.length].join();
    renderList(list, signature, () => messages.map((message) => h("li", {
      class: message.sender === "contact" ? "theirs" : "mine",
      dataset: { key: identity(message), id: message.id, sender: message.sender },
    },
    h("small", {}, message.sender === "own_device" ? `${message.senderName} (your other device)` : message.senderName),
    h("span", { class: "body" }, message.body),
    h("time", { datetime: new Date(message.sentAt).toISOString() }, formatTime(message.sentAt)),
    conflicts.filter((c) => identity(c) === identity(message)).map((other) => h("p", { class: "conflict" },
      `⚠ This message also arrived with other words: “${other.body}”. Shown above is the version your devices recorded; ${message.sender === "contact" ? message.senderName : "someone"} may have tried to change it.`)))));
    refreshConflicts();
    if (atBottom) list.scrollTop = list.scrollHeight;
    manager.messageCount(conversationId).then((n) => { count.value = `${n} message(s) on this device`; }, () => {});
    markRead();
  }

  const onVisible = () => markRead();
  document.addEventListener("visibilitychange", onVisible);
  update();
  root.querySelector(".compose")?.scrollIntoView({ block: "nearest" });
  return {
    update,
    unmount() {
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}
