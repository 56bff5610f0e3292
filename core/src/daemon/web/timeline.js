// The event timeline of one run: rows in seq order, colour plus text,
// STOP/RESUME boundary rows, attempt headers, the stopped stretch shaded.
// It opens at the tail (or around a permalinked seq) and pages by seq
// (`before_seq` newest first, `after_seq`), never by offset: "Load
// earlier" (or scrolling to the top) reads the page before the first
// loaded event. Filters (type family, unit, failures, a hiding search)
// are the server's: a filtered window is read with the events API's
// `type`/`unit`/`failed`/`q`, paged the same way, so every match of a huge
// run can be reached. ↑/↓ (or j/k) move between rows; live events that
// arrive while the reader is scrolled away show as an "N new events" pill.

import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { formatDuration, formatOffset, isRelative, localClock, localDate, parseTime, plural, utcText } from "./format.js";
import { isFailure, passes, sameParams, serverParams } from "./filter.js";
import { isEmptyQuery, matchesQuery, parseQuery } from "./search.js";
import { attemptOf, eventFamily, eventTone, isFailureType } from "./status.js";

/** Events read per page. */
export const PAGE = 250;
/** Events (rows) the page holds at most: scrolling further drops the far end. */
export const WINDOW = 750;

/** Payload keys worth a glance, in display order. */
const SUMMARY_KEYS = ["title", "reason", "attempt", "exit_code", "branch", "blocked_by", "provider", "url"];

const isRedacted = (v) => typeof v === "string" && /^\[redacted\]$/i.test(v);

function valueText(v) {
  if (v == null) return "null";
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.map(valueText).join(", ");
  return JSON.stringify(v);
}

/** The timeline of one run, in `container`. */
export class Timeline {
  constructor(container, { run, segments, runEvents, onUnitFilter, onRender, hrefFor }) {
    this.container = container;
    this.run = run;
    // The run's `run.*` events (all of them, kept up to date live): a
    // filtered window still shows its STOP/RESUME rows from these.
    this.runEvents = runEvents ?? [];
    // The permalink of an event (the row's time links to it), when given.
    this.hrefFor = hrefFor ?? null;
    // The permalinked event, highlighted wherever it is drawn.
    this.target = 0;
    // Live events that arrived while the reader was away from the tail.
    this.unseen = 0;
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
    // The events-API parameters the window is read with (null: every
    // event); then the window holds matches only, not contiguous seqs, and
    // whether matches lie beyond either end is the server's `has_more`.
    this.remote = null;
    this.moreBefore = false;
    this.moreAfter = false;
    // The server's count of matches (filtered windows).
    this.total = 0;
    // Bumped when the window is read anew: answers for an older one are dropped.
    this.gen = 0;
    // The match "next / previous match" last went to.
    this.matchAt = 0;
    this.loading = false;
    this.list = h("ol", { class: "tl-list", "aria-label": "Events in seq order" });
    // The scroll box is the log (focusable, so the keyboard scrolls it); new
    // rows are not announced one by one.
    this.scroller = h("div", { class: "timeline", tabindex: "0", role: "log", "aria-label": "Event timeline", "aria-live": "off", "data-timeline": "1" }, this.list);
    // Whether the reader is following the newest rows. Kept from the last
    // scroll, not recomputed from geometry when events arrive: the box
    // changes size under the reader (the waterfall above it loads late, the
    // window is resized), and a reader at the bottom stays there.
    this.stuck = true;
    new ResizeObserver(() => {
      if (this.stuck) this.scroller.scrollTop = this.scroller.scrollHeight;
    }).observe(this.scroller);
    this.scroller.addEventListener("scroll", () => {
      this.stuck = this.atBottom();
      if (this.unseen && this.atTail() && this.atBottom()) this.clearPill();
      if (this.loading) return;
      const { scrollTop, clientHeight, scrollHeight } = this.scroller;
      if (scrollTop < 40 && this.hasEarlier()) this.loadEarlier();
      else if (scrollTop + clientHeight > scrollHeight - 40 && !this.atTail()) this.loadLater();
    });
    this.scroller.addEventListener("keydown", (ev) => this.onKey(ev));
    this.pill = h("button", { type: "button", class: "new-pill", "data-action": "new-events", hidden: true });
    this.pill.addEventListener("click", () => this.jumpToTail());
    replace(container, this.scroller, this.pill);
  }

  /** Whether the scroll box shows its last row. */
  atBottom() {
    return this.scroller.scrollTop + this.scroller.clientHeight >= this.scroller.scrollHeight - 30;
  }

  /** Counts live events the reader has not seen, on the pill. */
  notePill(n) {
    this.unseen += n;
    this.pill.textContent = `↓ ${plural(this.unseen, "new event")}`;
    this.pill.hidden = false;
  }

  clearPill() {
    this.unseen = 0;
    this.pill.hidden = true;
  }

  /** The pill's action: the newest events, scrolled to the end. */
  async jumpToTail() {
    this.clearPill();
    if (!this.atTail()) {
      this.reset();
      await this.loadTail();
      this.render();
    }
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /**
   * ↑/↓ (and j/k) move the focus between rows; past the first or last
   * loaded row they load the page beyond. Handled here so the page's own
   * j/k (between runs) does not fire.
   */
  onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    const down = ev.key === "ArrowDown" || ev.key === "j";
    const up = ev.key === "ArrowUp" || ev.key === "k";
    if (ev.target instanceof HTMLElement && ev.target.closest("input, select, textarea, details")) return;
    if ((ev.key === "n" || ev.key === "N") && this.searching()) {
      ev.preventDefault();
      this.findMatch(ev.key === "n" ? 1 : -1);
      return;
    }
    if (!down && !up) return;
    const rows = [...this.list.querySelectorAll("li[data-seq]")];
    if (!rows.length) return;
    ev.preventDefault();
    const current = document.activeElement?.closest?.("li[data-seq]");
    let at = current ? rows.indexOf(current) : -1;
    if (at < 0) {
      // From the scroll box: the first (or last) row in view.
      const box = this.scroller.getBoundingClientRect();
      const visible = rows.filter((r) => {
        const b = r.getBoundingClientRect();
        return b.bottom > box.top && b.top < box.bottom;
      });
      const pick = down ? visible[0] : visible[visible.length - 1];
      this.focusRow(pick ?? rows[down ? 0 : rows.length - 1]);
      return;
    }
    at += down ? 1 : -1;
    if (at < 0) this.loadEarlier();
    else if (at >= rows.length) this.loadLater();
    else this.focusRow(rows[at]);
  }

  /** Focuses a row (and remembers it across redraws). */
  focusRow(row) {
    if (!row) return;
    this.cursor = Number(row.getAttribute("data-seq"));
    row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  /** An event's time as the mode says: the clock, or the offset from the run's start. */
  clock(time) {
    if (!time) return "time unknown";
    if (isRelative()) {
      const start = parseTime(this.run.started_at);
      return start ? formatOffset(time.getTime() - start.getTime()) : localClock(time);
    }
    return localClock(time);
  }

  /** Whether the window ends at the newest event (filtered: the newest match). */
  atTail() {
    return this.remote ? !this.moreAfter : this.hi >= this.seen;
  }

  /** Whether events (filtered: matches) exist before the window. */
  hasEarlier() {
    return this.remote ? this.moreBefore : this.lo > 1;
  }

  /** Empties the window (to be read anew); pending reads are dropped. */
  reset() {
    this.gen += 1;
    this.loading = false;
    this.events = [];
    this.lo = 0;
    this.hi = 0;
    this.moreBefore = false;
    this.moreAfter = false;
  }

  /**
   * Reads the last page: the newest events, or the newest matches (one
   * read, newest first, with no seq bound: never the whole run).
   */
  async loadTail() {
    if (this.remote) {
      await this.fetchBefore(Infinity);
      return;
    }
    await this.fetchBefore(this.seen + 1);
    await this.fetchAfter(Infinity);
  }

  /** The seq of the first row in view (the focused row first), or 0. */
  seqInView() {
    if (this.cursor && this.list.contains(document.activeElement)) return this.cursor;
    const top = this.scroller.getBoundingClientRect().top;
    const row = [...this.list.querySelectorAll("[data-seq]")].find((r) => r.getBoundingClientRect().bottom > top);
    return row ? Number(row.getAttribute("data-seq")) : 0;
  }

  /**
   * Loads the tail and shows it, scrolled to the end; with `seq` (a
   * permalink to an event that exists), the events around it instead,
   * that event scrolled into view and highlighted.
   */
  async open({ seq = 0 } = {}) {
    const last = this.run.last_seq ?? 0;
    this.seen = last;
    if (seq > 0 && seq <= last) {
      await this.loadAround(seq);
      this.reveal(seq);
      if (typeof performance?.mark === "function") performance.mark("otto:timeline-tail");
      return;
    }
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

  /** Reads the window around `seq`: the page up to it and half a page after. */
  async loadAround(seq) {
    this.reset();
    await this.fetchBefore(seq + 1);
    await this.fetchAfter(PAGE / 2);
  }

  /**
   * Highlights the event `seq` (a permalink) and scrolls it into view,
   * reading the events around it first when it is not loaded.
   */
  async reveal(seq, { focus = true } = {}) {
    this.target = seq;
    if (!this.events.some((e) => e.seq === seq)) {
      await this.loadAround(seq);
    }
    this.render();
    const row = this.list.querySelector(`[data-seq="${seq}"]`);
    if (!row) return false;
    row.scrollIntoView({ block: "center" });
    if (focus) this.focusRow(row);
    row.scrollIntoView({ block: "center" });
    this.stuck = this.atBottom();
    return true;
  }

  /** Prepends the page before `beforeSeq` (read newest first); trims the window's far end. */
  async fetchBefore(beforeSeq) {
    if (beforeSeq <= 1) return;
    const gen = this.gen;
    this.loading = true;
    try {
      const bound = Number.isFinite(beforeSeq) ? beforeSeq : undefined;
      const page = await api.events(this.run.id, { ...this.remote, before_seq: bound, order: "desc", limit: PAGE });
      if (gen !== this.gen) return;
      const fresh = page.events.reverse().filter((e) => this.lo === 0 || e.seq < this.lo);
      this.events = fresh.concat(this.events);
      if (this.events.length > WINDOW) {
        this.events.length = WINDOW;
        this.moreAfter = true;
      }
      this.moreBefore = Boolean(page.has_more);
      if (this.remote) this.total = page.total;
      this.bounds();
    } finally {
      if (gen === this.gen) this.loading = false;
    }
  }

  /** Appends up to `max` events after the window; trims its start. */
  async fetchAfter(max) {
    const gen = this.gen;
    this.loading = true;
    try {
      let read = 0;
      while (read < max) {
        const limit = Math.min(1000, max - read);
        const page = await api.events(this.run.id, { ...this.remote, after_seq: this.hi, limit: Number.isFinite(limit) ? limit : 1000 });
        if (gen !== this.gen) return;
        const fresh = page.events.filter((e) => e.seq > this.hi);
        this.events.push(...fresh);
        read += fresh.length;
        if (this.events.length > WINDOW) {
          this.events.splice(0, this.events.length - WINDOW);
          this.moreBefore = true;
        }
        this.moreAfter = Boolean(page.has_more);
        if (this.remote) this.total = page.total;
        this.bounds();
        if (!page.has_more || fresh.length === 0) break;
      }
    } finally {
      if (gen === this.gen) this.loading = false;
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
    if (!this.hasEarlier() || this.loading) return;
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
    if (this.remote) {
      this.appendFiltered(fresh);
      return;
    }
    if (fresh.length === 0 && !segments) return;
    const wasAtTail = this.atTail();
    const atBottom = this.stuck || this.atBottom();
    // Away from the newest rows, new events are counted on the pill.
    if (fresh.length && !(wasAtTail && atBottom)) this.notePill(fresh.length);
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
   * Live events while the window is filtered: only the matches (the same
   * test as the server's, filter.js) are added at the tail or counted on
   * the pill; the others are not shown (the count of the run grows).
   */
  appendFiltered(fresh) {
    if (fresh.length) {
      this.seen = fresh[fresh.length - 1].seq;
      this.run = { ...this.run, last_seq: Math.max(this.run.last_seq ?? 0, this.seen) };
    }
    const hits = fresh.filter((e) => passes(this.filter, this.parsed, e));
    this.total += hits.length;
    const wasAtTail = this.atTail();
    const atBottom = this.stuck || this.atBottom();
    if (hits.length && !(wasAtTail && atBottom)) this.notePill(hits.length);
    if (hits.length && wasAtTail) {
      this.events.push(...hits);
      if (atBottom && this.events.length > WINDOW) {
        this.events.splice(0, this.events.length - WINDOW);
        this.moreBefore = true;
      }
      this.bounds();
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

  /**
   * Applies a filter ({family, unit, failures, query, hide, attempt}; ""
   * for any) and redraws. When what the server is asked changes, the
   * window is read anew with the new parameters: a filter at the tail
   * when the reader was there, else around the seq in view (so clearing
   * a filter comes back to the same place in the whole run).
   */
  async setFilter(filter) {
    if (filter.query !== undefined && filter.query !== this.filter.query) this.matchAt = 0;
    this.filter = { ...this.filter, ...filter };
    this.parsed = parseQuery(this.filter.query);
    const params = serverParams(this.filter);
    if (sameParams(params, this.remote)) {
      this.renderAnchored();
      return;
    }
    // Clearing goes back to where the reader is in the run; a new filter
    // from the tail (a reader following the newest events) opens at its tail.
    const anchor = params && this.stuck && this.atTail() ? 0 : this.seqInView();
    this.remote = params;
    this.total = 0;
    this.reset();
    // A newer filter (typing) supersedes this one.
    const mine = (this.filterGen = (this.filterGen ?? 0) + 1);
    if (anchor) await this.loadAround(anchor);
    else await this.loadTail();
    if (mine !== this.filterGen) return;
    this.render();
    const rows = [...this.list.querySelectorAll("li[data-seq]")];
    const near = anchor ? rows.find((r) => Number(r.getAttribute("data-seq")) >= anchor) : null;
    if (near) {
      near.scrollIntoView({ block: "start" });
      this.stuck = this.atBottom();
    } else {
      this.scroller.scrollTop = this.scroller.scrollHeight;
      this.stuck = true;
    }
  }

  /**
   * Goes to the next (`dir` 1) or previous (-1) match of the search in the
   * whole run, after or before the last one gone to (else the row in
   * view): one read (`q`, the other filters, `limit=1`), then the window
   * around it. Returns its seq, or 0 when there is none that way.
   */
  async findMatch(dir) {
    const text = String(this.filter.query ?? "").trim();
    if (!this.searching()) return 0;
    const from = this.matchAt || this.seqInView() || (dir > 0 ? 0 : this.seen + 1);
    const bound = dir > 0 ? { after_seq: from } : { before_seq: from, order: "desc" };
    const page = await api.events(this.run.id, { ...this.remote, q: text, ...bound, limit: 1 });
    const hit = page.events[0];
    if (!hit) return 0;
    this.matchAt = hit.seq;
    await this.reveal(hit.seq, { focus: !this.searchFocused() });
    return hit.seq;
  }

  /** Whether the keyboard is in a search box (it keeps it for Enter / Shift+Enter). */
  searchFocused() {
    return document.activeElement instanceof HTMLInputElement && document.activeElement.type === "search";
  }

  /**
   * The first failure of the whole run (with the other filters), read
   * from the server (`failed=true&limit=1`), opened in the window around
   * it, highlighted and focused. False when the run has none.
   */
  async jumpToFirstFailure() {
    const page = await api.events(this.run.id, { ...this.remote, failed: "true", limit: 1 });
    const first = page.events[0];
    if (!first) return false;
    return this.reveal(first.seq);
  }

  /** Whether a search is active. */
  searching() {
    return !isEmptyQuery(this.parsed);
  }

  /** Whether `e` belongs to the chosen attempt (any, when none is chosen). */
  inAttempt(e) {
    return !this.filter.attempt || attemptOf(this.segments.attempts, e.seq) === this.filter.attempt;
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

  render() {
    // A row that had the keyboard gets it back after the redraw.
    const refocus = this.cursor && this.list.contains(document.activeElement) ? this.cursor : 0;
    const { markers, folded, attempts } = this.segments;
    const rows = [];
    const filtering =
      this.filter.family !== "" ||
      this.filter.unit !== "" ||
      this.filter.failures ||
      this.filter.attempt > 0 ||
      (this.filter.hide && this.searching());
    const highlight = !this.filter.hide && this.searching();
    if (this.remote && this.moreBefore) {
      const more = h("button", { type: "button", class: "btn small", "data-action": "earlier", text: "Load earlier matches" });
      more.addEventListener("click", () => this.loadEarlier());
      rows.push(h("li", { class: "tl-more" }, more, h("span", { "data-field": "earlier", text: `Earlier matches not loaded (before seq ${this.lo})` })));
    } else if (!this.remote && this.lo > 1) {
      const more = h("button", { type: "button", class: "btn small", "data-action": "earlier", text: "Load earlier events" });
      more.addEventListener("click", () => this.loadEarlier());
      rows.push(h("li", { class: "tl-more" }, more, h("span", { text: `${plural(this.lo - 1, "earlier event")} not loaded (seq 1–${this.lo - 1})` })));
    }
    let lastDate = "";
    // Rows of a window that starts mid-run still show the attempt they belong to.
    let attempt = 0;
    let stopped = false;
    let shown = 0;
    for (const e of this.rowEvents()) {
      const n = attemptOf(attempts, e.seq);
      const marker = markers.get(e.seq);
      if (attempts.length > 1 && n !== attempt && !filtering) {
        rows.push(h("li", { class: "attempt-row", "data-attempt": n, text: `Attempt ${n} of ${attempts.length}` }));
      }
      attempt = n;
      if (marker?.kind === "stop") stopped = true;
      if (marker?.kind === "resume") stopped = false;
      if (folded.has(e.seq)) continue;
      // A filtered window holds what the server matched; only the attempt
      // is picked here.
      if (!(this.remote ? this.inAttempt(e) : this.matches(e)) && !marker) continue;
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
    if (this.remote && this.moreAfter) {
      const later = h("button", { type: "button", class: "btn small", "data-action": "later", text: "Load newer matches" });
      later.addEventListener("click", () => this.loadLater());
      rows.push(h("li", { class: "tl-more" }, later, h("span", { "data-field": "newer", text: `Newer matches not loaded (after seq ${this.hi})` })));
    } else if (!this.remote && this.hi < this.seen) {
      const later = h("button", { type: "button", class: "btn small", "data-action": "later", text: "Load newer events" });
      later.addEventListener("click", () => this.loadLater());
      rows.push(h("li", { class: "tl-more" }, later, h("span", { "data-field": "newer", text: `${plural(this.seen - this.hi, "newer event")} not shown (seq ${this.hi + 1}–${this.seen})` })));
    }
    if (this.events.length === 0 && this.seen === 0) {
      // A run with no event yet (live: the first one replaces this).
      rows.push(h("li", { class: "empty", "data-empty": "events" }, h("h2", { text: "No events recorded for this run." })));
    } else if (filtering && shown === 0) {
      const clear = h("button", { type: "button", class: "btn small", text: "Clear filters" });
      clear.addEventListener("click", () => this.onUnitFilter(""));
      rows.push(h("li", { class: "empty", "data-empty": "filter" }, h("p", { text: "No events match." }), clear));
    }
    replace(this.list, rows);
    if (refocus) {
      const row = this.list.querySelector(`[data-seq="${refocus}"]`);
      if (row) {
        row.setAttribute("tabindex", "-1");
        row.focus({ preventScroll: true });
      }
    }
    this.shown = shown;
    // Where the last row left off, for appendRows(); none when the window
    // does not end at the tail (a "newer events" row sits there).
    this.tail = this.atTail() ? { date: lastDate, stopped } : undefined;
    this.onRender();
  }

  /**
   * The events to draw: the window, and in a filtered window also the
   * STOP/RESUME events inside its seq span (the server sent matches only).
   */
  rowEvents() {
    if (!this.remote) return this.events;
    const from = this.moreBefore ? this.lo : 0;
    const to = this.moreAfter ? this.hi : Infinity;
    const have = new Set(this.events.map((e) => e.seq));
    const extra = this.runEvents.filter((e) => this.segments.markers.has(e.seq) && e.seq >= from && e.seq <= to && !have.has(e.seq));
    if (!extra.length) return this.events;
    return [...this.events, ...extra].sort((a, b) => a.seq - b.seq);
  }

  markerRow(e, marker, time) {
    const parts = [
      h("span", { class: "word", text: marker.kind === "stop" ? "STOP" : "RESUME" }),
      this.timeCell(e, time),
    ];
    if (marker.kind === "stop") {
      parts.push(h("span", { class: "ev-v" }, h("span", { class: "ev-k", text: "Reason: " }), marker.reason ?? "no reason given"));
    } else {
      if (marker.gapMs != null) parts.push(h("span", { class: "ev-v", text: `after ${formatDuration(marker.gapMs)} stopped` }));
      if (marker.resumedFromSeq != null) parts.push(h("span", { class: "ev-v", text: `from seq ${marker.resumedFromSeq}` }));
    }
    if (marker.count > 1) parts.push(h("span", { class: "tag", text: `×${marker.count}` }));
    if (e.error) parts.push(h("span", { class: "ev-v", text: e.error }));
    return h("li", { class: `marker ${marker.kind}${e.seq === this.target ? " target" : ""}`, "data-seq": e.seq, "data-marker": marker.kind, "aria-posinset": e.seq, "aria-setsize": this.seen }, parts);
  }

  /** A row's time: a link to the event (its permalink) when the page gives one. */
  timeCell(e, time) {
    const title = `${utcText(time)} · seq ${e.seq}${this.hrefFor ? " · link to this event" : ""}`;
    const text = this.clock(time);
    return this.hrefFor
      ? h("a", { class: "ev-time", href: this.hrefFor(e.seq), title, "data-permalink": e.seq, text })
      : h("span", { class: "ev-time", title, text });
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
    const cls = `ev tone-${eventTone(e.type)}${bad ? " bad" : ""}${inStop ? " in-stop" : ""}${e.seq === this.target ? " target" : ""}`;
    return h(
      "li",
      { class: cls, "data-seq": e.seq, "data-type": e.type, "aria-posinset": e.seq, "aria-setsize": this.seen },
      this.timeCell(e, time),
      h("span", { class: "ev-type", text: e.type }),
      h("span", { class: "ev-main" }, main),
      e.error ? h("pre", { class: "ev-error", text: e.error }) : null,
    );
  }
}
