// The event timeline of one run: rows in seq order, colour plus text,
// STOP/RESUME boundary rows, attempt headers, the stopped stretch shaded.
// It opens at the tail and pages by seq (`after_seq`), never by offset:
// "Load earlier" (or scrolling to the top) reads the page before the first
// loaded event. Filters by type family and unit combine, over what is loaded.

import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { formatDuration, localClock, localDate, pageBefore, parseTime, plural, utcText } from "./format.js";
import { isEmptyQuery, matchesQuery, parseQuery } from "./search.js";
import { attemptOf, eventFamily, eventTone, isFailureType } from "./status.js";

/** Events read per page. */
export const PAGE = 250;
/** Events (rows) the page holds at most: scrolling further drops the far end. */
export const WINDOW = 750;

/** Payload keys worth a glance, in display order. */
const SUMMARY_KEYS = ["title", "reason", "attempt", "exit_code", "branch", "blocked_by", "provider", "url"];

/** A failure: a failing type, or any event that carries an error. */
const isFailure = (e) => isFailureType(e.type) || (typeof e.error === "string" && e.error !== "");

const isRedacted = (v) => typeof v === "string" && /^\[redacted\]$/i.test(v);

function valueText(v) {
  if (v == null) return "null";
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.map(valueText).join(", ");
  return JSON.stringify(v);
}

/** The timeline of one run, in `container`. */
export class Timeline {
  constructor(container, { run, segments, onUnitFilter, onRender }) {
    this.container = container;
    this.run = run;
    this.segments = segments;
    this.onUnitFilter = onUnitFilter ?? (() => {});
    this.onRender = onRender ?? (() => {});
    // The loaded window: events lo..hi (contiguous seqs), at most WINDOW.
    this.events = [];
    this.lo = 0; // first loaded seq (0: none)
    this.hi = 0; // last loaded seq
    this.seen = 0; // the last seq known to exist (loaded or announced live)
    this.filter = { family: "", unit: "", failures: false, query: "", hide: true, attempt: 0 };
    this.parsed = parseQuery("");
    this.loading = false;
    this.list = h("ol", { class: "tl-list", "aria-label": "Events in seq order" });
    // The scroll box is the log (focusable, so the keyboard scrolls it); new
    // rows are not announced one by one.
    this.scroller = h("div", { class: "timeline", tabindex: "0", role: "log", "aria-label": "Event timeline", "aria-live": "off", "data-timeline": "1" }, this.list);
    this.scroller.addEventListener("scroll", () => {
      if (this.loading) return;
      const { scrollTop, clientHeight, scrollHeight } = this.scroller;
      if (scrollTop < 40 && this.lo > 1) this.loadEarlier();
      else if (scrollTop + clientHeight > scrollHeight - 40 && this.hi < this.seen) this.loadLater();
    });
    replace(container, this.scroller);
  }

  /** Whether the window ends at the newest event. */
  atTail() {
    return this.hi >= this.seen;
  }

  /** Loads the tail and shows it, scrolled to the end. */
  async open() {
    const last = this.run.last_seq ?? 0;
    this.seen = last;
    if (last <= 0) {
      replace(this.list, h("li", { class: "empty", "data-empty": "events" }, h("h2", { text: "No events recorded for this run." })));
      // Events may still come (live); the first one replaces this notice.
    } else {
      await this.fetchBefore(last + 1);
    }
    // Events stored after the run row was read.
    await this.fetchAfter(Infinity);
    if (this.events.length) this.render();
    this.scroller.scrollTop = this.scroller.scrollHeight;
    if (typeof performance?.mark === "function") performance.mark("otto:timeline-tail");
  }

  /** Prepends the page before `beforeSeq`; trims the window's far end. */
  async fetchBefore(beforeSeq) {
    const { after_seq, limit } = pageBefore(beforeSeq, PAGE);
    if (limit <= 0) return;
    this.loading = true;
    try {
      const page = await api.events(this.run.id, { after_seq, limit });
      const fresh = page.events.filter((e) => this.lo === 0 || e.seq < this.lo);
      this.events = fresh.concat(this.events);
      if (this.events.length > WINDOW) this.events.length = WINDOW;
      this.bounds();
    } finally {
      this.loading = false;
    }
  }

  /** Appends up to `max` events after the window; trims its start. */
  async fetchAfter(max) {
    this.loading = true;
    try {
      let read = 0;
      while (read < max) {
        const limit = Math.min(1000, max - read);
        const page = await api.events(this.run.id, { after_seq: this.hi, limit: Number.isFinite(limit) ? limit : 1000 });
        const fresh = page.events.filter((e) => e.seq > this.hi);
        this.events.push(...fresh);
        read += fresh.length;
        if (this.events.length > WINDOW) this.events.splice(0, this.events.length - WINDOW);
        this.bounds();
        if (!page.has_more || fresh.length === 0) break;
      }
    } finally {
      this.loading = false;
    }
  }

  bounds() {
    if (this.events.length) {
      this.lo = this.events[0].seq;
      this.hi = this.events[this.events.length - 1].seq;
      this.seen = Math.max(this.seen, this.hi);
    }
  }

  /**
   * Redraws keeping the first row in view where it was on screen, so
   * rows added above or trimmed below (or the reverse) do not move it.
   */
  renderAnchored() {
    const top = this.scroller.getBoundingClientRect().top;
    const anchor = [...this.list.querySelectorAll("[data-seq]")].find((r) => r.getBoundingClientRect().bottom > top);
    const seq = anchor?.getAttribute("data-seq");
    const offset = anchor ? anchor.getBoundingClientRect().top - top : 0;
    this.render();
    const again = seq && this.list.querySelector(`[data-seq="${seq}"]`);
    if (again) this.scroller.scrollTop += again.getBoundingClientRect().top - top - offset;
  }

  /** Reads the page before the window (scrolled to the top, or the button). */
  async loadEarlier() {
    if (this.lo <= 1 || this.loading) return;
    await this.fetchBefore(this.lo);
    this.renderAnchored();
  }

  /** Reads the page after the window (scrolled to the bottom, or the button). */
  async loadLater() {
    if (this.atTail() || this.loading) return;
    await this.fetchAfter(PAGE);
    this.renderAnchored();
  }

  /**
   * Adds events that arrived live (a stream message). Seqs already seen
   * are ignored, so a reconnect that replays never duplicates a row. At
   * the tail the rows are added (the view follows only when the reader was
   * at the bottom); elsewhere the "newer events" row just counts them.
   */
  append(events, segments) {
    const fresh = events.filter((e) => e.seq > this.seen).sort((a, b) => a.seq - b.seq);
    if (segments) this.segments = segments;
    if (fresh.length === 0 && !segments) return;
    const wasAtTail = this.atTail();
    const atBottom = this.scroller.scrollTop + this.scroller.clientHeight >= this.scroller.scrollHeight - 30;
    if (wasAtTail && !segments && fresh.length && this.appendRows(fresh)) {
      if (atBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
      this.onRender();
      return;
    }
    if (fresh.length) {
      this.seen = fresh[fresh.length - 1].seq;
      this.run = { ...this.run, last_seq: Math.max(this.run.last_seq ?? 0, this.seen) };
      if (wasAtTail) {
        this.events.push(...fresh);
        if (atBottom && this.events.length > WINDOW) this.events.splice(0, this.events.length - WINDOW);
        this.bounds();
      }
    }
    if (atBottom && wasAtTail) {
      this.render();
      this.scroller.scrollTop = this.scroller.scrollHeight;
    } else {
      this.renderAnchored();
    }
  }

  /**
   * The fast path for live events at the tail: adds their rows to the end
   * instead of redrawing the window. Declines (false) when anything else
   * would change: a filter or search, a marker, a full window, no rows yet.
   */
  appendRows(fresh) {
    const f = this.filter;
    const plain = !f.family && !f.unit && !f.failures && !f.attempt && !(f.hide && this.searching());
    if (!plain || this.tail === undefined || this.events.length + fresh.length > WINDOW) return false;
    if (fresh.some((e) => this.segments.markers.has(e.seq) || e.type === "run.stopped" || e.type === "run.resumed")) return false;
    const rows = [];
    for (const e of fresh) {
      const time = parseTime(e.time);
      const day = time ? localDate(time) : "";
      if (day && day !== this.tail.date) {
        rows.push(h("li", { class: "date-row", text: day }));
        this.tail.date = day;
      }
      const row = this.eventRow(e, time, this.tail.stopped);
      if (!f.hide && this.searching() && matchesQuery(this.parsed, e)) row.classList.add("hit");
      rows.push(row);
    }
    this.events.push(...fresh);
    this.bounds();
    this.list.append(...rows);
    this.shown += fresh.length;
    for (const r of this.list.querySelectorAll("[aria-setsize]")) r.setAttribute("aria-setsize", String(this.seen));
    return true;
  }

  /** Type families and units present in the loaded events. */
  facets() {
    const families = new Set();
    const units = new Set();
    for (const e of this.events) {
      families.add(eventFamily(e.type));
      if (e.unit) units.add(e.unit);
    }
    return { families: [...families].sort(), units: [...units].sort() };
  }

  /** Applies a filter ({family, unit}; "" for any) and redraws. */
  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.parsed = parseQuery(this.filter.query);
    this.renderAnchored();
  }

  /** Whether a search is active. */
  searching() {
    return !isEmptyQuery(this.parsed);
  }

  /** Whether `e` passes the filters (the search only when it hides). */
  matches(e) {
    const { family, unit, failures, hide, attempt } = this.filter;
    return (
      (!attempt || attemptOf(this.segments.attempts, e.seq) === attempt) &&
      (!family || eventFamily(e.type) === family) &&
      (!unit || e.unit === unit) &&
      (!failures || isFailure(e)) &&
      (!hide || !this.searching() || matchesQuery(this.parsed, e))
    );
  }

  /**
   * Scrolls to the first failure of the loaded events and focuses it;
   * false when none is loaded.
   */
  jumpToFirstFailure() {
    const first = this.events.find(isFailure);
    const row = first && this.list.querySelector(`[data-seq="${first.seq}"]`);
    if (!row) return false;
    for (const r of this.list.querySelectorAll(".ev.target")) r.classList.remove("target");
    row.classList.add("target");
    row.setAttribute("tabindex", "-1");
    row.scrollIntoView({ block: "center" });
    row.focus({ preventScroll: true });
    return true;
  }

  render() {
    const { markers, folded, attempts } = this.segments;
    const rows = [];
    const filtering =
      this.filter.family !== "" ||
      this.filter.unit !== "" ||
      this.filter.failures ||
      this.filter.attempt > 0 ||
      (this.filter.hide && this.searching());
    const highlight = !this.filter.hide && this.searching();
    if (this.lo > 1) {
      const more = h("button", { type: "button", class: "btn small", "data-action": "earlier", text: "Load earlier events" });
      more.addEventListener("click", () => this.loadEarlier());
      rows.push(h("li", { class: "tl-more" }, more, h("span", { text: `${plural(this.lo - 1, "earlier event")} not loaded (seq 1–${this.lo - 1})` })));
    }
    let lastDate = "";
    // Rows of a window that starts mid-run still show the attempt they belong to.
    let attempt = 0;
    let stopped = false;
    let shown = 0;
    for (const e of this.events) {
      const n = attemptOf(attempts, e.seq);
      const marker = markers.get(e.seq);
      if (attempts.length > 1 && n !== attempt && !filtering) {
        rows.push(h("li", { class: "attempt-row", "data-attempt": n, text: `Attempt ${n} of ${attempts.length}` }));
      }
      attempt = n;
      if (marker?.kind === "stop") stopped = true;
      if (marker?.kind === "resume") stopped = false;
      if (folded.has(e.seq)) continue;
      if (!this.matches(e) && !marker) continue;
      if (marker && this.filter.attempt && marker.attempt !== this.filter.attempt) continue;
      const time = parseTime(e.time);
      const day = time ? localDate(time) : "";
      if (day && day !== lastDate) {
        rows.push(h("li", { class: "date-row", text: day }));
        lastDate = day;
      }
      const row = marker ? this.markerRow(e, marker, time) : this.eventRow(e, time, stopped && !marker);
      if (highlight && !marker && matchesQuery(this.parsed, e)) row.classList.add("hit");
      rows.push(row);
      if (!marker) shown += 1;
    }
    if (this.hi < this.seen) {
      const later = h("button", { type: "button", class: "btn small", "data-action": "later", text: "Load newer events" });
      later.addEventListener("click", () => this.loadLater());
      rows.push(h("li", { class: "tl-more" }, later, h("span", { "data-field": "newer", text: `${plural(this.seen - this.hi, "newer event")} not shown (seq ${this.hi + 1}–${this.seen})` })));
    }
    if (filtering && shown === 0) {
      const clear = h("button", { type: "button", class: "btn small", text: "Clear filters" });
      clear.addEventListener("click", () => this.onUnitFilter(""));
      rows.push(h("li", { class: "empty", "data-empty": "filter" }, h("p", { text: "No events match." }), clear));
    }
    replace(this.list, rows);
    this.shown = shown;
    // Where the last row left off, for appendRows(); none when the window
    // does not end at the tail (a "newer events" row sits there).
    this.tail = this.hi >= this.seen ? { date: lastDate, stopped } : undefined;
    this.onRender();
  }

  markerRow(e, marker, time) {
    const parts = [
      h("span", { class: "word", text: marker.kind === "stop" ? "STOP" : "RESUME" }),
      h("span", { class: "ev-time", title: `${utcText(time)} · seq ${e.seq}`, text: time ? localClock(time) : "time unknown" }),
    ];
    if (marker.kind === "stop") {
      parts.push(h("span", { class: "ev-v" }, h("span", { class: "ev-k", text: "Reason: " }), marker.reason ?? "no reason given"));
    } else {
      if (marker.gapMs != null) parts.push(h("span", { class: "ev-v", text: `after ${formatDuration(marker.gapMs)} stopped` }));
      if (marker.resumedFromSeq != null) parts.push(h("span", { class: "ev-v", text: `from seq ${marker.resumedFromSeq}` }));
    }
    if (marker.count > 1) parts.push(h("span", { class: "tag", text: `×${marker.count}` }));
    if (e.error) parts.push(h("span", { class: "ev-v", text: e.error }));
    return h("li", { class: `marker ${marker.kind}`, "data-seq": e.seq, "data-marker": marker.kind, "aria-posinset": e.seq, "aria-setsize": this.seen }, parts);
  }

  eventRow(e, time, inStop) {
    const bad = isFailureType(e.type);
    const main = [];
    if (e.unit) {
      const chip = h("button", { type: "button", class: "ev-unit", title: `Show only unit ${e.unit}`, text: e.unit });
      chip.addEventListener("click", () => this.onUnitFilter(e.unit));
      main.push(chip);
    }
    if (e.task != null) main.push(h("span", { class: "ev-v", text: `Task #${e.task}` }));
    if (e.pr != null) main.push(h("span", { class: "ev-v", text: `PR #${e.pr}` }));
    const p = e.payload && typeof e.payload === "object" && !Array.isArray(e.payload) ? e.payload : null;
    if (p) {
      for (const key of SUMMARY_KEYS) {
        if (!(key in p)) continue;
        const v = p[key];
        main.push(h("span", { class: "ev-v" }, h("span", { class: "ev-k", text: `${key} ` }), h("span", { class: isRedacted(v) ? "redacted" : null, text: valueText(v) })));
      }
      if (p._truncated === true) {
        main.push(h("span", { class: "redacted", text: `payload truncated (${p._original_bytes ?? "?"} bytes)` }));
      }
      if (Object.keys(p).length) {
        main.push(h("details", { class: "ev-payload" }, h("summary", { class: "ev-k", text: "payload" }), h("pre", { class: "mono", text: JSON.stringify(p, null, 2) })));
      }
    }
    const cls = `ev tone-${eventTone(e.type)}${bad ? " bad" : ""}${inStop ? " in-stop" : ""}`;
    return h(
      "li",
      { class: cls, "data-seq": e.seq, "data-type": e.type, "aria-posinset": e.seq, "aria-setsize": this.seen },
      h("span", { class: "ev-time", title: `${utcText(time)} · seq ${e.seq}`, text: time ? localClock(time) : "time unknown" }),
      h("span", { class: "ev-type", text: e.type }),
      h("span", { class: "ev-main" }, main),
      e.error ? h("pre", { class: "ev-error", text: e.error }) : null,
    );
  }
}
