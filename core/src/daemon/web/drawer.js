// A side panel over the page (a task's history, a run comparison): a
// non-modal dialog on the right, its content named by the URL, closed by
// its × button or Esc, which give the keyboard back where it was.

import { h, replace } from "./dom.js";

export class Drawer {
  /** `onClose()` asks for the route without the panel (the URL is the state). */
  constructor(onClose) {
    this.onClose = onClose ?? (() => {});
    this.title = h("h2", { id: "drawer-title", class: "drawer-title", tabindex: "-1" });
    const close = h("button", { type: "button", class: "btn small", "data-action": "close-drawer", "aria-label": "Close the panel (Esc)", title: "Close (Esc)", text: "×" });
    close.addEventListener("click", () => this.onClose());
    this.body = h("div", { class: "drawer-body" });
    this.el = h(
      "aside",
      { class: "drawer", role: "dialog", "aria-modal": "false", "aria-labelledby": "drawer-title", hidden: true, "data-panel": "" },
      h("div", { class: "drawer-head" }, this.title, h("span", { class: "spacer" }), close),
      this.body,
    );
    this.el.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        ev.preventDefault();
        ev.stopPropagation();
        this.onClose();
      }
    });
    document.body.append(this.el);
    this.key = "";
    this.opener = null;
  }

  /**
   * Shows the panel `kind` under `title` and returns its body to fill;
   * the keyboard moves to the title when the panel opens (not when the
   * same panel only changes, e.g. its filter).
   */
  open(kind, title) {
    const opening = this.el.hidden;
    if (opening) this.opener = document.activeElement;
    this.el.setAttribute("data-panel", kind);
    replace(this.title, title);
    this.el.hidden = false;
    document.body.classList.add("with-drawer");
    if (opening || this.kind !== kind) this.title.focus();
    this.kind = kind;
    return this.body;
  }

  /** Hides the panel; the keyboard goes back to what opened it, when it is still there. */
  close() {
    if (this.el.hidden) return;
    const hadFocus = this.el.contains(document.activeElement);
    this.el.hidden = true;
    this.kind = "";
    this.key = "";
    document.body.classList.remove("with-drawer");
    replace(this.body);
    if (hadFocus && this.opener?.isConnected) this.opener.focus?.();
    this.opener = null;
  }

  get isOpen() {
    return !this.el.hidden;
  }
}
