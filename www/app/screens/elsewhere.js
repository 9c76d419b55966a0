// This device is open in another tab or window: one tab at a time drives it, so that no
// message is sent twice or lost. "Use here" moves it to this tab.
import { h, heading } from "../ui.js";

export function mount(root, { moved, useHere }) {
  const button = h("button", {
    type: "button",
    id: "use-here",
    onclick: async () => {
      button.disabled = true;
      button.textContent = "Moving…";
      await useHere();
    },
  }, "Use here");
  root.append(
    heading(moved ? "Moved to another tab" : "Open in another tab"),
    h("p", { id: "elsewhere-text" }, moved
      ? "This device is now used in another tab or window. This tab stopped so that nothing is sent twice."
      : "This device is already open in another tab or window. One tab at a time uses it, so that nothing is sent twice or lost."),
    h("p", {}, "Messages keep arriving in the tab that uses it. To use this tab instead, press Use here: the other tab stops and hands everything over."),
    h("p", {}, button));
}
