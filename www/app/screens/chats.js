// The chat list: every conversation, the most recent first, with its unread count.
import { formatTime, h, heading, renderList } from "../ui.js";

export function mount(root, app) {
  const { device } = app;
  const list = h("ul", { class: "chat-list", id: "chat-list", "aria-label": "Conversations" });
  const empty = h("p", { class: "empty" }, "No chats yet. Add a contact from their contact card, or share yours.");
  const history = h("p", { class: "history-note", id: "chats-history", hidden: true });
  root.append(
    heading("Chats"),
    h("p", { class: "actions" },
      h("a", { class: "button", href: "#/add-contact" }, "New chat"),
      h("a", { class: "button secondary", href: "#/card" }, "My contact card")),
    history, list, empty);

  function update() {
    const conversations = device.manager.conversations();
    empty.hidden = conversations.length > 0;
    const signature = JSON.stringify(conversations.map((c) => [c.conversationId, c.unread, c.lastAt, c.title]));
    renderList(list, signature, () => conversations.map((chat) => {
      const unread = chat.unread > 0
        ? h("span", { class: "badge", dataset: { count: chat.unread }, "aria-label": `${chat.unread} unread` }, String(chat.unread))
        : h("span", { class: "badge", dataset: { count: 0 }, "aria-hidden": "true" }, "0");
      return h("li", { dataset: { key: chat.conversationId, conversation: chat.conversationId } },
        h("a", { href: `#/chat/${chat.conversationId}` },
          h("span", { class: "title" }, chat.title),
          unread,
          h("span", { class: "last" }, chat.lastBody ?? ""),
          chat.lastAt ? h("time", { datetime: new Date(chat.lastAt).toISOString() }, formatTime(chat.lastAt)) : null));
    }));
    const progress = device.history;
    history.hidden = !progress || progress.complete;
    if (progress && !progress.complete) {
      history.textContent = `Catching up on your history: ${progress.messagesDone} of ${progress.messagesTotal} messages.`;
    }
  }

  update();
  return { update };
}
