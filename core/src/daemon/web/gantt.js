// The Gantt (waterfall) of a run's units over time, drawn in plain SVG
// from the daemon's per-unit summaries (`…/units`: one request, however
// many events the run has) and the run's STOP/RESUME markers. The
// arithmetic is gantt-layout.js (node-tested); this draws it.
//
// One row per unit: the glyph and name, a lighter "waiting" stretch
// (queued, not yet started) and the bar from start to last event in the
// status colour, with the status in words beside it (never colour alone;
// failed and blocked bars are also hatched). Stopped intervals are shaded
// across every row, their reason in the tooltip. Rows are buttons with a
// roving tab stop: ↑/↓/Home/End move, Enter or Space selects the unit.

import { h, s, replace } from "./dom.js";
import { formatDuration, getZone, localClock, plural, utcText } from "./format.js";
import { LABEL_W, ROW_H, layoutGantt, statusTextPlace } from "./gantt-layout.js";
import { nodeGlyph, nodeStatusLabel, settledStatus } from "./status.js";

const AXIS_H = 36;
const NAME_MAX = 22;
/** Statuses whose bars are hatched too (a pattern, not only a colour). */
const HATCHED = new Set(["failed", "blocked"]);

const truncate = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** Ids of SVG patterns must be unique in the document. */
let instances = 0;

/** An axis label in the chosen time mode. */
function tickLabel(t, step, t0) {
  if (getZone() === "relative") return t === t0 ? "0s" : `+${formatDuration(t - t0)}`;
  const clock = localClock(new Date(t));
  return step >= 60000 ? clock.slice(0, 5) : clock;
}

/** `10:02:03` in the chosen mode, for labels. */
function clockText(ms) {
  return ms == null ? "time unknown" : localClock(new Date(ms));
}

/** A Gantt view bound to one container element. */
export class GanttView {
  constructor(container, { onSelect, onHover } = {}) {
    this.container = container;
    this.onSelect = onSelect ?? (() => {});
    // Hovering or focusing a row lights the unit elsewhere (the graph's neighbours).
    this.onHover = onHover ?? (() => {});
    this.selected = "";
    this.order = "start";
    this.data = null;
    this.rowEls = new Map();
    this.id = `gantt${(instances += 1)}`;
    this.observer = null;
    this.lastWidth = 0;
    this.ticker = null;
  }

  /**
   * Draws `units` (the `…/units` summaries) for `run` with its STOP/RESUME
   * `markers`; `levels` (the graph's, when any) for the by-level order and
   * for graph units that have no event yet.
   */
  render({ units, run, markers, levels }) {
    const settled = (units ?? []).map((u) => ({ ...u, status: settledStatus(u.status, run?.status) }));
    this.data = { units: settled, run, markers: markers ?? new Map(), levels: levels ?? [] };
    this.draw();
    if (!this.observer && typeof ResizeObserver === "function") {
      this.observer = new ResizeObserver(() => {
        if (this.container.clientWidth !== this.lastWidth) this.draw();
      });
      this.observer.observe(this.container);
    }
    // A running run's open bars grow with the clock.
    clearInterval(this.ticker);
    this.ticker = run?.status === "running" ? setInterval(() => this.draw(), 5000) : null;
  }

  /** New summaries, run row or markers (live); keeps order, selection and focus. */
  update(changes) {
    if (!this.data) return;
    this.render({ ...this.data, ...changes });
  }

  /** Sorts rows by first event ("start") or by graph level ("level"). */
  setOrder(order) {
    this.order = order === "level" ? "level" : "start";
    this.draw();
  }

  draw() {
    if (!this.data) return;
    const width = this.container.clientWidth || 800;
    this.lastWidth = this.container.clientWidth;
    const labelW = Math.round(Math.max(120, Math.min(LABEL_W, width * 0.26)));
    const { units, run, markers, levels } = this.data;
    const g = layoutGantt({ units, run, markers, width, now: Date.now(), order: this.order, levels, labelW });
    this.layout = g;
    const focusedUnit = this.container.contains(document.activeElement) ? document.activeElement.getAttribute("data-unit") : null;
    const scroller = this.container.querySelector(".gantt-scroll");
    const scrollTop = scroller ? scroller.scrollTop : 0;

    if (g.rows.length === 0) {
      replace(this.container, h("div", { class: "gantt-empty", "data-empty": "gantt" }, "No unit has an event yet: the waterfall fills in as units run."));
      this.rowEls = new Map();
      return;
    }

    const span = g.t1 - g.t0;
    const reasons = g.stops.map((st) => st.reason ?? "no reason given").join("; ");
    const summary = `Waterfall of ${plural(g.rows.length, "unit")} over ${formatDuration(span)}${g.stops.length ? `, stopped ${g.stops.length === 1 ? "once" : `${g.stops.length} times`} (${reasons})` : ""}`;
    const pattern = (id, cls) =>
      s("pattern", { id, patternUnits: "userSpaceOnUse", width: 6, height: 6, patternTransform: "rotate(45)" }, s("rect", { class: cls, width: 2, height: 6 }));

    // The axis: tick labels, and the stopped stretches named.
    const axis = s("svg", { class: "gantt-axis", width: g.width, height: AXIS_H, "aria-hidden": "true" });
    const stopText = (stop) => {
      const reason = stop.reason ?? "no reason given";
      const length = stop.open ? `${formatDuration(stop.to - stop.from)} so far, not resumed` : formatDuration(stop.to - stop.from);
      return `Stopped ${clockText(stop.from)}${stop.open ? "" : `–${clockText(stop.to)}`} (${length}). Reason: ${reason}.${stop.attempt ? ` Ends attempt ${stop.attempt}.` : ""}`;
    };
    for (const stop of g.stops) {
      // The tooltip lives on the axis: over the rows, clicks go to the rows.
      axis.append(
        s(
          "g",
          { class: "axis-stop", "data-stop": stop.seq },
          s("title", { text: stopText(stop) }),
          s("rect", { class: "stop-band", x: stop.x, y: 0, width: stop.w, height: AXIS_H }),
          s("text", {
            class: "stop-word",
            x: stop.x + stop.w / 2,
            y: 11,
            "text-anchor": "middle",
            text: stop.w > 96 ? (stop.open ? "STOPPED" : `STOPPED ${formatDuration(stop.to - stop.from)}`) : "STOP",
          }),
        ),
      );
    }
    for (const tick of g.ticks) {
      axis.append(
        s("line", { class: "tick", x1: tick.x, x2: tick.x, y1: AXIS_H - 6, y2: AXIS_H }),
        s("text", { class: "tick-label", x: tick.x, y: AXIS_H - 10, "text-anchor": "middle", text: tickLabel(tick.t, g.step, g.t0) }),
      );
    }
    axis.append(s("text", { class: "axis-title", x: 10, y: AXIS_H - 10, text: getZone() === "relative" ? "since start" : getZone() === "utc" ? "UTC" : "local time" }));
    axis.append(s("line", { class: "axis-line", x1: 0, x2: g.width, y1: AXIS_H - 0.5, y2: AXIS_H - 0.5 }));

    const height = Math.max(g.height, ROW_H);
    const svg = s(
      "svg",
      { class: "gantt-rows", width: g.width, height, role: "group", "aria-label": summary, "data-gantt": "1" },
      s("title", { text: summary }),
      s("defs", {}, pattern(`${this.id}-stop`, "hatch-stop"), pattern(`${this.id}-bad`, "hatch-bad")),
    );
    const grid = s("g", { class: "grid", "aria-hidden": "true" });
    for (const tick of g.ticks) grid.append(s("line", { class: "grid-line", x1: tick.x, x2: tick.x, y1: 0, y2: height }));
    grid.append(s("line", { class: "label-edge", x1: g.x0 - 0.5, x2: g.x0 - 0.5, y1: 0, y2: height }));
    svg.append(grid);

    // Stopped stretches across every row, under the bars and their words:
    // shaded and hatched, the reason in the tooltip.
    const stops = s("g", { class: "stops" });
    for (const stop of g.stops) {
      stops.append(
        s(
          "g",
          { class: `stop${stop.open ? " open" : ""}`, "data-stop": stop.seq, "data-reason": stop.reason ?? "" },
          s("title", { text: stopText(stop) }),
          s("rect", { class: "stop-band", x: stop.x, y: 0, width: stop.w, height }),
          s("rect", { class: "stop-hatch", x: stop.x, y: 0, width: stop.w, height, fill: `url(#${this.id}-stop)` }),
          s("line", { class: "stop-edge", x1: stop.x, x2: stop.x, y1: 0, y2: height }),
        ),
      );
    }
    svg.append(stops);
    if (g.nowX != null) {
      svg.append(s("line", { class: "now-line", x1: g.nowX, x2: g.nowX, y1: 0, y2: height, "aria-hidden": "true" }));
      axis.append(s("text", { class: "now-word", x: g.nowX - 3, y: 11, "text-anchor": "end", text: "now" }));
    }
    const rows = s("g", { class: "rows" });
    this.rowEls = new Map();
    const tabStop = g.rows.some((r) => r.unit === this.selected) ? this.selected : g.rows[0].unit;
    for (const row of g.rows) {
      const el = this.row(row, g, labelW);
      el.setAttribute("tabindex", row.unit === tabStop ? "0" : "-1");
      this.rowEls.set(row.unit, el);
      rows.append(el);
    }
    svg.append(rows);


    // One scroll box: the axis sticks to its top and scrolls sideways with the rows.
    replace(this.container, h("div", { class: "gantt-scroll" }, axis, svg));
    this.container.querySelector(".gantt-scroll").scrollTop = scrollTop;
    this.select(this.selected, { scroll: false });
    if (focusedUnit && this.rowEls.has(focusedUnit)) this.rowEls.get(focusedUnit).focus({ preventScroll: true });
  }

  row(row, g, labelW) {
    const status = row.status ?? "pending";
    const label = nodeStatusLabel(status);
    // A unit seen at one instant (a single event) has no duration to show.
    const duration = row.from != null && row.to != null && (row.to > row.from || row.live) ? formatDuration(Math.max(0, row.to - (row.started ?? row.from))) : "";
    const retries = row.retries > 0 ? ` · ${plural(row.retries, "retry", "retries")}` : "";
    // The words shown beside the bar; the accessible name starts with
    // what is visible (the unit and these words), then adds the times.
    const words = `${label}${duration ? ` · ${duration}${row.live ? "…" : ""}` : ""}${retries}`;
    const when = row.from != null ? `, from ${clockText(row.from)} to ${row.live ? "now" : clockText(row.to)}` : ", no events yet";
    const aria = `${row.unit} ${words}${when}${row.events ? `, ${plural(row.events, "event")}` : ""}`;
    const el = s("g", {
      class: `gantt-row status-${status}`,
      transform: `translate(0,${row.y})`,
      role: "button",
      "aria-pressed": "false",
      "aria-label": aria,
      "data-unit": row.unit,
      "data-status": status,
    });
    const title = [
      `${row.unit} — ${label}`,
      row.from != null ? `first event ${utcText(new Date(row.from))} (seq ${row.first_seq})` : "no events yet",
      row.to != null && !row.live ? `last event ${utcText(new Date(row.to))} (seq ${row.last_seq})` : row.live ? "still running" : "",
      row.started != null && row.started > row.from ? `waited ${formatDuration(row.started - row.from)} before it started` : "",
      row.events ? plural(row.events, "event") : "",
    ]
      .filter(Boolean)
      .join("\n");
    el.append(
      s("title", { text: title }),
      s("rect", { class: "row-bg", x: 0, y: 0, width: g.width, height: ROW_H }),
      s(
        "text",
        { class: "row-label", x: 10, y: ROW_H / 2 + 4.5 },
        s("tspan", { class: `glyph g-${status}`, "aria-hidden": "true", text: `${nodeGlyph(status)} ` }),
        s("tspan", { class: "name", text: truncate(row.unit, Math.max(8, Math.floor((labelW - 34) / 7.2))) }),
      ),
    );
    if (row.wait) el.append(s("rect", { class: `wait st-${status}`, x: row.wait.x, y: 8, width: row.wait.w, height: ROW_H - 16, rx: 2 }));
    if (row.bar) {
      el.append(s("rect", { class: `bar st-${status}${row.live ? " live" : ""}`, x: row.bar.x, y: 5, width: row.bar.w, height: ROW_H - 10, rx: 3 }));
      if (HATCHED.has(status)) {
        el.append(s("rect", { class: "bar-hatch", x: row.bar.x, y: 5, width: row.bar.w, height: ROW_H - 10, rx: 3, fill: `url(#${this.id}-bad)` }));
      }
    }
    const place = statusTextPlace(row, g.x1, (words.length + 2) * 6.6, labelW);
    el.append(
      s(
        "text",
        { class: `row-status${place.inside ? " inside" : ""}`, x: place.x, y: ROW_H / 2 + 4, "text-anchor": place.anchor, "data-field": "status" },
        s("tspan", { "aria-hidden": "true", text: `${nodeGlyph(status)} ` }),
        s("tspan", { text: words }),
      ),
    );

    el.addEventListener("click", () => this.choose(row.unit));
    el.addEventListener("mouseenter", () => this.onHover(row.unit));
    el.addEventListener("mouseleave", () => this.onHover(""));
    el.addEventListener("focus", () => this.onHover(row.unit));
    el.addEventListener("blur", () => this.onHover(""));
    el.addEventListener("keydown", (ev) => this.key(ev, row.unit));
    return el;
  }

  /** A click or Enter: selects the unit, or clears the selection when it was selected. */
  choose(unit) {
    this.onSelect(unit === this.selected ? "" : unit);
  }

  key(ev, unit) {
    const order = [...this.rowEls.keys()];
    const at = order.indexOf(unit);
    let next = -1;
    if (ev.key === "ArrowDown" || ev.key === "j") next = Math.min(order.length - 1, at + 1);
    else if (ev.key === "ArrowUp" || ev.key === "k") next = Math.max(0, at - 1);
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = order.length - 1;
    else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      ev.stopPropagation();
      this.choose(unit);
      return;
    } else return;
    ev.preventDefault();
    // j/k move here, not between runs.
    ev.stopPropagation();
    this.focusRow(order[next]);
  }

  focusRow(unit) {
    const el = this.rowEls.get(unit);
    if (!el) return;
    for (const other of this.rowEls.values()) other.setAttribute("tabindex", "-1");
    el.setAttribute("tabindex", "0");
    el.focus({ preventScroll: true });
    this.reveal(el);
  }

  /** Scrolls the rows box so that `el` is in view. */
  reveal(el) {
    const box = this.container.querySelector(".gantt-scroll");
    if (!box) return;
    const y = this.layout.rows.find((r) => r.unit === el.getAttribute("data-unit"))?.y ?? 0;
    // Row y is below the sticky axis.
    if (y < box.scrollTop) box.scrollTop = y;
    else if (y + ROW_H + AXIS_H > box.scrollTop + box.clientHeight) box.scrollTop = y + ROW_H + AXIS_H - box.clientHeight;
  }

  /** Marks the selected unit's row ("" clears) and brings it into view. */
  select(unit, { scroll = true } = {}) {
    this.selected = unit ?? "";
    for (const [id, el] of this.rowEls) {
      const on = id === this.selected;
      el.classList.toggle("selected", on);
      el.setAttribute("aria-pressed", String(on));
    }
    this.container.classList.toggle("has-selection", this.selected !== "");
    const el = this.rowEls.get(this.selected);
    if (el) {
      if (!this.container.contains(document.activeElement)) {
        for (const other of this.rowEls.values()) other.setAttribute("tabindex", "-1");
        el.setAttribute("tabindex", "0");
      }
      if (scroll) this.reveal(el);
    }
  }

  /** Stops observing and ticking. */
  destroy() {
    this.observer?.disconnect();
    this.observer = null;
    clearInterval(this.ticker);
    this.ticker = null;
  }
}
