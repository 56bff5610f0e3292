// The one selected unit of a run, shared by the graph, the Gantt and the
// timeline. The URL (`unit=`) is its source of truth: a click or Enter in
// any view asks for a route change (`request`), and the route comes back
// here through `set`, which marks every attached view. So a reload or the
// back button restores the selection like any other part of the screen.

import { h } from "./dom.js";

/** The selection, and its "Selected unit: api · Clear selection" chip. */
export class UnitSelection {
  /** `request(unit)` changes the route ("" clears). */
  constructor(request) {
    this.request = request ?? (() => {});
    this.unit = "";
    this.views = new Set();
    this.name = h("code", { class: "selection-name", "data-field": "selected-unit" });
    const clear = h("button", { type: "button", class: "btn small", "data-action": "clear-selection", text: "Clear selection", title: "Show every unit again (Esc)" });
    clear.addEventListener("click", () => this.request(""));
    this.chip = h("span", { class: "selection", role: "status", hidden: true }, h("span", { class: "muted", text: "Selected" }), this.name, clear);
  }

  /** Adds a view with a `select(unit)` method; it is marked at once. */
  attach(view) {
    if (!view) return;
    this.views.add(view);
    view.select(this.unit);
  }

  /** Marks `unit` ("" for none) in every view and in the chip. */
  set(unit) {
    this.unit = unit ?? "";
    for (const view of this.views) view.select(this.unit);
    this.name.textContent = this.unit;
    this.chip.hidden = this.unit === "";
  }

  /** Forgets the views (the run was closed). */
  detach() {
    this.views.clear();
  }
}
