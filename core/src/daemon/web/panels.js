// The side panels over the History, Live and Insights views, as the URL
// names them: `task=<unit>` (its history across runs, `failed=1` failures
// only) and `cmp=<run id|prev>` (the open run compared with another). Also
// the run detail's buttons that open them.

import { h, replace } from "./dom.js";
import { Drawer } from "./drawer.js";
import { renderCompare } from "./compare.js";
import { renderTaskHistory } from "./task-history.js";

export class Panels {
  /**
   * `go(changes)` navigates; `href(changes)` is the link of the current
   * route with `changes`.
   */
  constructor({ go, href }) {
    this.go = go;
    this.href = href;
    this.drawer = new Drawer(() => go({ task: "", failed: "", cmp: "" }));
    this.key = "";
    this.token = 0;
    this.route = null;
    // The run detail's buttons (detail.js places them under the run's header).
    this.compareButton = h("button", { type: "button", class: "btn small", "data-action": "compare", title: "Compare this run with the one before it (c)", text: "Compare with previous run" });
    this.compareButton.addEventListener("click", () => go({ task: "", failed: "", cmp: "prev" }));
    this.historyButton = h("button", { type: "button", class: "btn small", "data-action": "task-history", title: "Every execution of the selected unit across runs (h)" });
    this.historyButton.addEventListener("click", () => this.route?.unit && go({ task: this.route.unit, failed: "", cmp: "" }));
    this.actions = h("div", { class: "run-actions" }, this.compareButton, this.historyButton);
  }

  /** Follows the route in the run detail's buttons: "History of <selected unit>". */
  updateActions(route) {
    this.route = route;
    this.historyButton.hidden = !route.unit;
    replace(this.historyButton, "History of ", h("code", { text: route.unit }));
  }

  /**
   * Opens, changes or closes the panel the route names. `run` is the open
   * run (null in the Insights view), `project` the project key the
   * insights filter by ("" for every repository).
   */
  async sync(route, { run, project }) {
    this.last = [route, { run, project }];
    this.updateActions(route);
    const key = route.task ? `task|${route.task}|${project}|${route.failed}|${run?.id ?? ""}` : route.cmp && run ? `cmp|${run.id}|${route.cmp}` : "";
    if (key === this.key) return;
    this.key = key;
    const token = ++this.token;
    const isCurrent = () => token === this.token;
    if (!key) {
      this.drawer.close();
      return;
    }
    if (route.task) {
      const task = route.task;
      const body = this.drawer.open("task", ["History of ", h("code", { "data-field": "panel-task", text: task })]);
      await renderTaskHistory(body, {
        task,
        project,
        failedOnly: route.failed === "1",
        currentRun: run?.id ?? "",
        hrefRun: (id) => this.href({ view: "history", run: id, unit: task, q: "", seq: "", cmp: "" }),
        onFailedOnly: (on) => this.go({ failed: on ? "1" : "" }),
        isCurrent,
      });
      return;
    }
    const body = this.drawer.open("compare", ["Compare run ", h("code", { text: run.id })]);
    await renderCompare(body, {
      run,
      other: route.cmp,
      hrefRun: (id) => this.href({ view: "history", run: id, unit: "", q: "", seq: "", cmp: "" }),
      hrefTask: (unit) => this.href({ task: unit, failed: "", cmp: "" }),
      onOther: (id) => this.go({ cmp: id }),
      isCurrent,
    });
  }

  /** Draws the open panel again (the time zone changed). */
  redraw() {
    if (!this.key || !this.last) return;
    this.key = "";
    this.sync(...this.last).catch(() => {});
  }

  /** Closes the panel (Esc); whether one was open. */
  closeIfOpen(route) {
    if (!route.task && !route.cmp) return false;
    this.go({ task: "", failed: "", cmp: "" });
    return true;
  }
}
