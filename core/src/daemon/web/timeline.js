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
//
// Virtualised: every event of the window has its row (`li`, with its
// seq, type, classes and ARIA position), but only the rows within
// OVERSCAN px of the view have their content; the others are empty
// placeholders of the same height (a collapsed row is one line of a fixed
// height, app.css `--ev-h`; a row whose height varies, an error or an
// opened payload, keeps the height it was measured at). So a page read
// adds rows that cost nothing to lay out, and scrolling builds only the
// rows that come into reach (updateFill).

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
/**
 * Rows a page read adds at a time (pageIn: one chunk each time the
 * browser is idle). They are empty placeholders (a full row cost ~0.3 ms
 * to lay out on a slow machine, a page of them 200–350 ms), but a page of
 * 250 at once still took 40–90 ms on a busy machine (its style, the
 * list's layout).
 */
const CHUNK = 25;
/**
 * How far above and below the view rows have their content (px): about
 * thirty rows each way, so a fast scroll seldom shows an empty row.
 */
const OVERSCAN = 1000;
/** How far from the end of the window the next page is read (px). */
const PREFETCH = 1500;

/**
 * Resolves in the browser's next idle period (after a frame's work, before
 * the next vsync), or after IDLE_WAIT ms at the latest.
 */
const IDLE_WAIT = 100;
const idleMoment = () =>
  new Promise((resolve) =>
    typeof requestIdleCallback === "function" ? requestIdleCallback(resolve, { timeout: IDLE_WAIT }) : requestAnimationFrame(resolve),
  );

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
    // The seqs of the attempt picked ({from, to}), or null: every attempt.
    this.range = null;
    this.moreBefore = false;
    this.moreAfter = false;
    // The server's count of matches (filtered windows).
    this.total = 0;
    // Bumped when the window is read anew: answers for an older one are dropped.
    this.gen = 0;
    // The match "next / previous match" last went to.
    this.matchAt = 0;
    this.loading = false;
    // Each event row's place in the drawn sequence: its own attempt and
    // day, and those the next row follows (the date and attempt rows at a
    // seam are made from them when rows are added or dropped beside it).
    this.rows = new WeakMap();
    // The aria-setsize the rows carry (the run's size when drawn).
    this.setsize = 0;
    this.drawnFrom = 0;
    this.drawnTo = -1;
    // The rows that have their content now (updateFill), and the seqs
    // whose payload is open (kept when the row is emptied and filled again).
    this.filled = new Set();
    this.opened = new Set();
    // The height of each filled row whose height varies, as last measured
    // in view (seq → px): a redraw while hidden keeps it (render).
    this.measured = new Map();
    // A pending fillLater (its idle callback), or 0.
    this.idle = 0;
    this.list = h("ol", { class: "tl-list", "aria-label": "Events in seq order" });
    // The scroll box is the rows' offset parent (updateFill reads their
    // offsetTop against its scrollTop; app.css makes it positioned).
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
      this.updateFill({ lazy: true });
    }).observe(this.scroller);
    this.scrollEnd = 0;
    this.scroller.addEventListener("scroll", () => {
      // Where the reader is, before filling the rows in view can make
      // them taller: one who scrolled to the bottom keeps following.
      this.stuck = this.atBottom();
      this.pausePulses();
      this.updateFill({ lazy: true });
      if (this.unseen && this.atTail() && this.atBottom()) this.clearPill();
      if (this.loading) return;
      // A page is read PREFETCH px before the end of the window, so that
      // it is usually there by the time the reader gets to it.
      const { scrollTop, clientHeight, scrollHeight } = this.scroller;
      if (scrollTop < PREFETCH && this.hasEarlier()) this.loadEarlier();
      else if (scrollTop + clientHeight > scrollHeight - PREFETCH && !this.atTail()) this.loadLater();
    });
    this.scroller.addEventListener("keydown", (ev) => this.onKey(ev));
    this.list.addEventListener("click", (ev) => this.onClick(ev));
    this.pill = h("button", { type: "button", class: "new-pill", "data-action": "new-events", hidden: true });
    this.pill.addEventListener("click", () => this.jumpToTail());
    replace(container, this.scroller, this.pill);
  }

  /**
   * While the timeline scrolls, the page's pulses (running badges, the
   * live dot, pulsing graph nodes and waterfall bars) pause: the root has
   * the class `scrolling` until 250 ms after the last scroll step (app.css).
   * A pulsing frame repaints its element besides the rows; measured in
   * headless Chromium without a GPU, the pulses cost 2–4 ms of a
   * scrolling frame's CPU.
   */
  pausePulses() {
    // Following the newest rows (live events at the bottom) is not the
    // reader scrolling: the live dot keeps pulsing.
    if (this.stuck) return;
    const root = document.documentElement;
    root.classList.add("scrolling");
    clearTimeout(this.scrollEnd);
    this.scrollEnd = setTimeout(() => root.classList.remove("scrolling"), 250);
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
    this.updateFill();
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
    if (at < 0 || at >= rows.length) this.stepPast(rows[down ? rows.length - 1 : 0], down ? 1 : -1);
    else this.focusRow(rows[at]);
  }

  /**
   * ↑ on the first loaded row (↓ on the last): reads the page beyond (or
   * waits for the read under way), then moves to the row next to `row`,
   * so one key press moves one row, at the edge as elsewhere.
   */
  async stepPast(row, dir) {
    const seq = Number(row.getAttribute("data-seq"));
    const step = (this.step = { seq, dir });
    if (dir < 0) await this.loadEarlier();
    else await this.loadLater();
    // A read already under way (a prefetch) is waited for, a few seconds at most.
    for (let i = 0; this.loading && i < 600; i += 1) await new Promise((resolve) => requestAnimationFrame(resolve));
    if (this.step !== step) return;
    this.step = null;
    const from = this.list.querySelector(`[data-seq="${seq}"]`);
    if (!from || !this.list.contains(document.activeElement)) return;
    let next = dir < 0 ? from.previousElementSibling : from.nextElementSibling;
    while (next && !next.hasAttribute("data-seq")) next = dir < 0 ? next.previousElementSibling : next.nextElementSibling;
    if (next) this.focusRow(next);
  }

  /** Focuses a row (and remembers it across redraws). */
  focusRow(row) {
    if (!row) return;
    this.cursor = Number(row.getAttribute("data-seq"));
    row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    this.updateFill();
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

  /** Whether the window ends at the newest event (filtered: the newest match; an attempt: its last). */
  atTail() {
    return this.remote ? !this.moreAfter : this.hi >= this.lastSeq();
  }

  /** Whether events (filtered: matches) exist before the window (in the attempt picked). */
  hasEarlier() {
    return this.remote ? this.moreBefore : this.lo > this.firstSeq();
  }

  /** The first seq the window may hold: 1, or the picked attempt's first. */
  firstSeq() {
    return this.range ? this.range.from : 1;
  }

  /** The last seq the window may hold: the newest, or the picked attempt's last. */
  lastSeq() {
    return this.range ? Math.min(this.range.to, this.seen) : this.seen;
  }

  /**
   * The seqs of attempt `n` of a resumed run, `{from, to}` (`to` is
   * Infinity for the last attempt, which live events extend), or null
   * (every attempt): from its RESUME row (the run's first event for
   * attempt 1) to the event before the next attempt's RESUME.
   */
  rangeOf(n) {
    const attempts = this.segments.attempts;
    const at = n > 0 ? attempts.findIndex((a) => a.n === n) : -1;
    if (at < 0) return null;
    const next = attempts[at + 1];
    return { from: attempts[at].fromSeq, to: next ? next.fromSeq - 1 : Infinity };
  }

  /**
   * The events-API parameters of a read: the filters (`remote`), then
   * `params`, with the seq bounds narrowed to the picked attempt
   * (`after_seq` / `before_seq`), so an attempt is read from the whole
   * run, not picked among the loaded rows.
   */
  query(params) {
    const out = { ...this.remote, ...params };
    const r = this.range;
    if (r && r.from > 1) out.after_seq = Math.max(out.after_seq ?? 0, r.from - 1);
    if (r && Number.isFinite(r.to)) out.before_seq = Math.min(out.before_seq ?? Infinity, r.to + 1);
    return out;
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
    this.updateFill();
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
    this.updateFill();
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
      const page = await api.events(this.run.id, this.query({ before_seq: bound, order: "desc", limit: PAGE }));
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
        const page = await api.events(this.run.id, this.query({ after_seq: this.hi, limit: Number.isFinite(limit) ? limit : 1000 }));
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

  /** Whether a page is being read or put in (no other reading starts meanwhile). */
  get loading() {
    return this.paging === true;
  }

  /** Also shown as `data-loading` on the timeline: what the browser tests wait on. */
  set loading(on) {
    this.paging = on;
    this.scroller?.toggleAttribute("data-loading", on);
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
    this.updateFill();
  }

  /** Reads the page before the window (scrolled to the top, or the button). */
  async loadEarlier() {
    if (!this.hasEarlier() || this.loading) return;
    const gen = this.gen;
    await this.fetchBefore(this.lo);
    if (gen === this.gen) await this.pageIn("first");
  }

  /** Reads the page after the window (scrolled to the bottom, or the button). */
  async loadLater() {
    if (this.atTail() || this.loading) return;
    const gen = this.gen;
    await this.fetchAfter(PAGE);
    if (gen === this.gen) await this.pageIn("last");
  }

  /**
   * Shows a page just read at one end of the window: its rows added and
   * the far end's dropped (syncRows, no redraw), CHUNK rows at a time, the
   * rows nearest the ones drawn first. Each time the row `which` ("first"
   * when reading earlier events, "last" when reading later ones: a row
   * that stays) is kept where it was on screen, so the rows in view do
   * not move. No reading starts meanwhile (`loading`).
   *
   * Each chunk goes in when the browser is idle (idleMoment): the style
   * and layout it costs are paid then — the position read that keeps the
   * rows in place lays the list out there and then — not in a scrolling
   * frame. Inserted in the frames themselves (one chunk a frame), a page
   * coming in made a fast scroll miss vsyncs (11–17 of 720 frames at 600 px
   * a frame, against none this way, alternated in the same minutes;
   * docs/BENCHMARKS.md).
   */
  async pageIn(which) {
    const gen = this.gen;
    this.loading = true;
    try {
      for (;;) {
        await idleMoment();
        if (gen !== this.gen) return;
        const anchor = this.drawnRow(which);
        if (!anchor) {
          this.renderAnchored();
          return;
        }
        const before = anchor.getBoundingClientRect().top;
        const drawn = this.syncRows(CHUNK);
        if (!drawn) {
          this.renderAnchored();
          return;
        }
        if (anchor.isConnected) this.scroller.scrollTop += anchor.getBoundingClientRect().top - before;
        this.updateFill({ lazy: true });
        if (drawn === "done") return;
      }
    } finally {
      if (gen === this.gen) this.loading = false;
    }
  }

  /**
   * Adds events that arrived live (a stream message). Seqs already seen
   * are ignored, so a reconnect that replays never duplicates a row. At
   * the tail the rows are added (the view follows only when the reader was
   * at the bottom); elsewhere the "newer events" row just counts them.
   */
  append(events, segments) {
    const all = events.filter((e) => e.seq > this.seen).sort((a, b) => a.seq - b.seq);
    // An earlier attempt picked: what comes now is not in it.
    const fresh = this.range ? all.filter((e) => e.seq <= this.range.to) : all;
    if (all.length && fresh.length < all.length) {
      this.seen = all[all.length - 1].seq;
      this.run = { ...this.run, last_seq: Math.max(this.run.last_seq ?? 0, this.seen) };
    }
    if (segments) this.segments = segments;
    if (this.remote) {
      this.appendFiltered(fresh, Boolean(segments));
      return;
    }
    if (fresh.length === 0 && !segments) return;
    const wasAtTail = this.atTail();
    const atBottom = this.stuck || this.atBottom();
    // Away from the newest rows, new events are counted on the pill.
    if (fresh.length && !(wasAtTail && atBottom)) this.notePill(fresh.length);
    if (fresh.length) {
      this.seen = Math.max(this.seen, fresh[fresh.length - 1].seq);
      this.run = { ...this.run, last_seq: Math.max(this.run.last_seq ?? 0, this.seen) };
      if (wasAtTail) {
        this.events.push(...fresh);
        if (atBottom && this.events.length > WINDOW) this.events.splice(0, this.events.length - WINDOW);
        this.bounds();
      }
    }
    this.redrawLive(wasAtTail && atBottom, Boolean(segments));
  }

  /**
   * Draws what live events changed: the new rows added at the end and
   * those past the window dropped at the start (syncRows), or, when a
   * STOP or RESUME arrived (`marked`: attempts and shading change), the
   * whole window. `follow`: the reader was at the bottom and stays there.
   */
  redrawLive(follow, marked) {
    if (marked || !this.syncRows()) {
      if (follow) this.render();
      else this.renderAnchored();
    }
    if (follow) this.scroller.scrollTop = this.scroller.scrollHeight;
    this.updateFill();
  }

  /**
   * Live events while the window is filtered: only the matches (the same
   * test as the server's, filter.js) are added at the tail or counted on
   * the pill; the others are not shown (the count of the run grows).
   */
  appendFiltered(fresh, marked) {
    if (fresh.length) {
      this.seen = Math.max(this.seen, fresh[fresh.length - 1].seq);
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
    this.redrawLive(atBottom && wasAtTail, marked);
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
    const range = this.rangeOf(this.filter.attempt);
    const sameRange = (range?.from ?? 0) === (this.range?.from ?? 0);
    if (sameParams(params, this.remote) && sameRange) {
      this.renderAnchored();
      return;
    }
    // An attempt picked opens at its start (its RESUME row). Clearing goes
    // back to where the reader is in the run; a new filter from the tail (a
    // reader following the newest events) opens at its tail.
    const picked = !sameRange && range ? range.from : 0;
    const anchor = picked || (params && this.stuck && this.atTail()) ? 0 : this.seqInView();
    this.remote = params;
    this.range = range;
    this.total = 0;
    this.reset();
    // A newer filter (typing) supersedes this one.
    const mine = (this.filterGen = (this.filterGen ?? 0) + 1);
    if (picked) await this.fetchAfter(PAGE);
    else if (anchor) await this.loadAround(anchor);
    else await this.loadTail();
    if (mine !== this.filterGen) return;
    this.render();
    if (picked) {
      this.scroller.scrollTop = 0;
      this.updateFill();
      this.stuck = this.atBottom();
      return;
    }
    const rows = [...this.list.querySelectorAll("li[data-seq]")];
    const near = anchor ? rows.find((r) => Number(r.getAttribute("data-seq")) >= anchor) : null;
    if (near) {
      near.scrollIntoView({ block: "start" });
      this.stuck = this.atBottom();
    } else {
      this.scroller.scrollTop = this.scroller.scrollHeight;
      this.stuck = true;
    }
    this.updateFill();
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
    const page = await api.events(this.run.id, this.query({ q: text, ...bound, limit: 1 }));
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
    const page = await api.events(this.run.id, this.query({ failed: "true", limit: 1 }));
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

  /** Whether rows are filtered (then no attempt rows are drawn). */
  filtering() {
    const f = this.filter;
    return f.family !== "" || f.unit !== "" || f.failures || f.attempt > 0 || (f.hide && this.searching());
  }

  /** Redraws every row of the window (a new window, a filter, new markers). */
  render() {
    // A row that had the keyboard gets it back after the redraw.
    const refocus = this.cursor && this.list.contains(document.activeElement) ? this.cursor : 0;
    const events = this.rowEvents();
    // The rows whose height varies (an error, an opened payload) are drawn
    // again at the height they have: a placeholder of a collapsed row's
    // height would move the rows in view (or a reader at the bottom) when
    // it is filled.
    // A hidden timeline (no box) measures 0: then the height last measured
    // in view (updateFill) is kept.
    this.kept = new Map();
    for (const el of this.list.children) {
      if (!el.classList.contains("ev")) continue;
      const seq = el.dataset.seq;
      const height = el.style.height || (this.filled.has(el) && this.varies(el) ? el.offsetHeight || this.measured.get(seq) : 0);
      if (height) this.kept.set(seq, typeof height === "number" ? `${height}px` : height);
    }
    this.measured = new Map([...this.kept].map(([seq, px]) => [seq, parseFloat(px)]));
    const { rows, shown } = this.drawRows(events, null);
    this.kept = null;
    this.shown = shown;
    // The seqs the rows were drawn from (syncRows adds and drops at the ends).
    this.drawnFrom = events.length ? events[0].seq : 0;
    this.drawnTo = events.length ? events[events.length - 1].seq : -1;
    if (this.events.length === 0 && this.seen === 0) {
      // A run with no event yet (live: the first one replaces this).
      rows.push(h("li", { class: "empty", "data-empty": "events" }, h("h2", { text: "No events recorded for this run." })));
    } else if (this.filtering() && shown === 0) {
      const clear = h("button", { type: "button", class: "btn small", text: "Clear filters" });
      clear.addEventListener("click", () => this.onUnitFilter(""));
      rows.push(h("li", { class: "empty", "data-empty": "filter" }, h("p", { text: "No events match." }), clear));
    }
    // The rows drawn before are gone, their content with them.
    this.filled.clear();
    replace(this.list, this.edgeRow("earlier"), rows, this.edgeRow("later"));
    if (refocus) {
      const row = this.list.querySelector(`[data-seq="${refocus}"]`);
      if (row) {
        row.setAttribute("tabindex", "-1");
        row.focus({ preventScroll: true });
      }
    }
    this.setsize = this.seen;
    this.onRender();
  }

  /**
   * Brings the drawn rows in line with the window without redrawing the
   * rows that stay: the rows of events new at either end are built (in a
   * DocumentFragment) and inserted there, the rows of events that left the
   * window are removed, and only the date and attempt rows at the seams
   * are made again. Paging a huge run so costs the page read, not the
   * whole window. At most `limit` events are drawn at each end: "more"
   * when some are left for another call, else "done". False (nothing
   * changed) when the drawn rows and the window do not overlap, or nothing
   * is drawn: render() then.
   */
  syncRows(limit = Infinity) {
    const events = this.rowEvents();
    let first = this.drawnRow("first");
    let last = this.drawnRow("last");
    if (!first || !events.length || this.list.querySelector(":scope > .empty")) return false;
    const from = events[0].seq;
    const to = events[events.length - 1].seq;
    if (to < this.drawnFrom || from > this.drawnTo) return false;
    for (const edge of this.list.querySelectorAll(":scope > [data-edge]")) edge.remove();
    // The rows that left the window: at the start (their seam is made
    // again below), then at the end.
    let removed = 0;
    const cut = first && Number(first.dataset.seq) < from;
    while (first && Number(first.dataset.seq) < from) {
      const next = this.nextDrawn(first);
      for (let el = this.list.firstElementChild; el && el !== next; el = this.list.firstElementChild) {
        if (el.classList.contains("ev")) removed += 1;
        this.forget(el);
      }
      first = next;
    }
    if (first && cut) this.relink(first, null);
    for (let el = this.list.lastElementChild; el; el = this.list.lastElementChild) {
      const seq = el.getAttribute("data-seq");
      if (seq !== null && Number(seq) <= to) break;
      if (el.classList.contains("ev")) removed += 1;
      this.forget(el);
    }
    this.shown -= removed;
    this.drawnFrom = Math.max(this.drawnFrom, from);
    this.drawnTo = Math.min(this.drawnTo, to);
    first = this.drawnRow("first");
    last = this.drawnRow("last");
    if (!first) {
      // Every drawn row left (the window moved past them).
      this.render();
      return "done";
    }
    // The events not drawn yet (or passed over: folded, another attempt).
    const before = [];
    const after = [];
    for (const e of events) {
      if (e.seq < this.drawnFrom) before.push(e);
      else if (e.seq > this.drawnTo) after.push(e);
    }
    if (before.length) {
      const chunk = before.slice(-limit);
      this.drawnFrom = chunk[0].seq;
      const drawn = this.drawRows(chunk, null);
      const fragment = document.createDocumentFragment();
      fragment.append(...drawn.rows);
      this.list.prepend(fragment);
      this.shown += drawn.shown;
      this.relink(first, drawn.last);
    }
    if (after.length) {
      const chunk = after.slice(0, limit);
      this.drawnTo = chunk[chunk.length - 1].seq;
      const drawn = this.drawRows(chunk, this.rows.get(last)?.info ?? null);
      const fragment = document.createDocumentFragment();
      fragment.append(...drawn.rows);
      this.list.append(fragment);
      this.shown += drawn.shown;
    }
    // The edge rows once that end is drawn.
    const top = before.length <= limit && this.edgeRow("earlier");
    if (top) this.list.prepend(top);
    const bottom = after.length <= limit && this.edgeRow("later");
    if (bottom) this.list.append(bottom);
    if (this.setsize !== this.seen) {
      // Live events grew the run: every row says so (aria-setsize).
      for (const r of this.list.querySelectorAll(":scope > [aria-setsize]")) r.setAttribute("aria-setsize", String(this.seen));
      this.setsize = this.seen;
    }
    this.onRender();
    return before.length > limit || after.length > limit ? "more" : "done";
  }

  /**
   * Removes a row that left the window, and what was kept about it (its
   * content, its measured height): the stores hold the window's rows only.
   */
  forget(el) {
    this.filled.delete(el);
    if (el.dataset.seq) this.measured.delete(el.dataset.seq);
    el.remove();
  }

  /** The first or last row of an event (a `data-seq` row), or null. */
  drawnRow(which) {
    const rows = this.list.children;
    const n = rows.length;
    for (let i = 0; i < n; i += 1) {
      const el = rows[which === "first" ? i : n - 1 - i];
      if (el.hasAttribute("data-seq")) return el;
    }
    return null;
  }

  /** The event row after `row`, or null. */
  nextDrawn(row) {
    let el = row.nextElementSibling;
    while (el && !el.hasAttribute("data-seq")) el = el.nextElementSibling;
    return el;
  }

  /**
   * Makes the date and attempt rows before `row` again now that the row
   * before it is `prev` ({attempt, day}; null: it is the first), and
   * those of the rows after it while what they follow changes.
   */
  relink(row, prev) {
    while (row) {
      const drawn = this.rows.get(row);
      if (!drawn) return;
      while (row.previousElementSibling?.hasAttribute("data-seam")) row.previousElementSibling.remove();
      const { seams, info } = this.seams(drawn.own, prev);
      row.before(...seams);
      const same = info.attempt === drawn.info.attempt && info.day === drawn.info.day;
      drawn.info = info;
      if (same) return;
      prev = info;
      row = this.nextDrawn(row);
    }
  }

  /**
   * The rows that go before an event's row: "Attempt n of N" when its
   * attempt differs from the row before (`prev`), the date when its day
   * does. `info` is what the next row follows.
   */
  seams(own, prev) {
    const seams = [];
    const total = this.segments.attempts.length;
    if (total > 1 && !this.filtering() && own.attempt !== prev?.attempt) {
      seams.push(h("li", { class: "attempt-row", "data-seam": "attempt", "data-attempt": own.attempt, text: `Attempt ${own.attempt} of ${total}` }));
    }
    if (own.day && own.day !== prev?.day) seams.push(h("li", { class: "date-row", "data-seam": "date", text: own.day }));
    return { seams, info: { attempt: own.attempt, day: own.day || prev?.day || "" } };
  }

  /** Whether the run was stopped just before `seq` (its rows are shaded). */
  stoppedBefore(seq) {
    let stopped = false;
    for (const m of this.segments.markers.values()) {
      if (m.seq >= seq) break;
      stopped = m.kind === "stop";
    }
    return stopped;
  }

  /**
   * The rows of `events` (seq order), following the row `prev` ({attempt,
   * day}; null: none): `{rows, shown, last}`, `shown` the event rows
   * drawn, `last` what a row after them follows.
   */
  drawRows(events, prev) {
    const { markers, folded, attempts } = this.segments;
    const highlight = !this.filter.hide && this.searching();
    const rows = [];
    let shown = 0;
    for (const e of events) {
      if (folded.has(e.seq)) continue;
      const marker = markers.get(e.seq);
      // A filtered window holds what the server matched; only the attempt
      // is picked here.
      if (!(this.remote ? this.inAttempt(e) : this.matches(e)) && !marker) continue;
      if (marker && this.filter.attempt && marker.attempt !== this.filter.attempt) continue;
      const time = parseTime(e.time);
      const row = marker ? this.markerRow(e, marker, time) : this.eventRow(e, time, this.stoppedBefore(e.seq));
      if (highlight && !marker && matchesQuery(this.parsed, e)) row.classList.add("hit");
      const own = { attempt: attemptOf(attempts, e.seq), day: time ? localDate(time) : "" };
      const { seams, info } = this.seams(own, prev);
      rows.push(...seams, row);
      // An event row is filled with its content when near the view (fill).
      this.rows.set(row, { own, info, event: marker ? null : e, time });
      prev = info;
      if (!marker) shown += 1;
    }
    return { rows, shown, last: prev };
  }

  /**
   * The row at one end of the window saying what lies beyond it, with
   * its button ("Load earlier events", "Load newer matches", …); null
   * when the window reaches that end of the run.
   */
  edgeRow(side) {
    const earlier = side === "earlier";
    let text;
    if (this.remote) {
      if (!(earlier ? this.moreBefore : this.moreAfter)) return null;
      text = earlier ? `Earlier matches not loaded (before seq ${this.lo})` : `Newer matches not loaded (after seq ${this.hi})`;
    } else if (earlier) {
      const first = this.firstSeq();
      if (!(this.lo > first)) return null;
      text = `${plural(this.lo - first, "earlier event")} not loaded (seq ${first}–${this.lo - 1})`;
    } else {
      const last = this.lastSeq();
      if (!(this.hi < last)) return null;
      text = `${plural(last - this.hi, "newer event")} not shown (seq ${this.hi + 1}–${last})`;
    }
    const what = this.remote ? "matches" : "events";
    const button = h("button", { type: "button", class: "btn small", "data-action": earlier ? "earlier" : "later", text: earlier ? `Load earlier ${what}` : `Load newer ${what}` });
    button.addEventListener("click", () => (earlier ? this.loadEarlier() : this.loadLater()));
    // The top row's text had no field name when the window was unfiltered.
    const field = earlier ? (this.remote ? "earlier" : null) : "newer";
    return h("li", { class: "tl-more", "data-edge": side }, button, h("span", { "data-field": field, text }));
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

  /**
   * "payload ▸": a button that shows the whole payload below the row's
   * line, built when opened (the list's one click handler, onClick, opens
   * and closes it). Not a <details> per row: its shadow tree was about a
   * third of a row's layout, paid for every row drawn while paging. An
   * open payload makes its row grow (`expanded`) and stays open when the
   * row is emptied and filled again.
   */
  payloadToggle() {
    return h("button", { type: "button", class: "ev-k payload-toggle gap", "aria-expanded": "false", text: "payload ▸" });
  }

  /** Opens or closes the payload of `row` (its toggle `button`). */
  showPayload(row, button, open) {
    const e = this.rows.get(row)?.event;
    if (!e || !button.isConnected) return;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "payload ▾" : "payload ▸";
    row.classList.toggle("expanded", open);
    const box = button.nextElementSibling?.classList.contains("ev-payload") ? button.nextElementSibling : null;
    if (open && !box) button.after(h("span", { class: "ev-payload open" }, h("pre", { class: "mono", text: JSON.stringify(e.payload, null, 2) })));
    if (!open) box?.remove();
  }

  /**
   * The list's one click handler (rows are filled and emptied while
   * scrolling: no listener per row): a unit chip selects its unit, a
   * payload button opens or closes the payload.
   */
  onClick(ev) {
    const target = ev.target instanceof Element ? ev.target.closest("button") : null;
    const row = target?.closest("li.ev");
    if (!row || row.parentElement !== this.list) return;
    const e = this.rows.get(row)?.event;
    if (!e) return;
    if (target.classList.contains("ev-unit")) {
      this.onUnitFilter(e.unit);
    } else if (target.classList.contains("payload-toggle")) {
      const open = target.getAttribute("aria-expanded") !== "true";
      if (open) this.opened.add(e.seq);
      else this.opened.delete(e.seq);
      this.showPayload(row, target, open);
      this.measure();
    }
  }

  /**
   * An event's row, empty: its seq, type, tone and state, and its ARIA
   * place in the run. Its content is built when it comes near the view
   * (fill), and dropped when it goes far from it (unfill).
   */
  eventRow(e, time, inStop) {
    const bad = isFailureType(e.type);
    const cls = `ev tone-${eventTone(e.type)}${bad ? " bad" : ""}${inStop ? " in-stop" : ""}${e.seq === this.target ? " target" : ""}${e.error ? " has-error" : ""}`;
    const row = h("li", { class: cls, "data-seq": e.seq, "data-type": e.type, "aria-posinset": e.seq, "aria-setsize": this.seen });
    const kept = this.kept?.get(String(e.seq));
    if (kept) row.style.height = kept;
    return row;
  }

  /**
   * What an event's row shows: the time, the type, the unit and a summary,
   * the error. Few elements (a row is built each time it comes near the
   * view): the summary's values are text nodes beside their key's span
   * (`Task #3  title a task`), a span only for a redacted value.
   */
  rowContent(e, time) {
    const main = [];
    // An element after text (or after the first item) is set off by
    // `gap` (a margin): text nodes have none of their own.
    const item = (el) => {
      if (main.length && !main[main.length - 1].classList?.contains("ev-unit")) el.classList.add("gap");
      main.push(el);
    };
    if (e.unit) main.push(h("button", { type: "button", class: "ev-unit", title: `Show only unit ${e.unit}`, text: e.unit }));
    const plain = [];
    if (e.task != null) plain.push(`Task #${e.task}`);
    if (e.pr != null) plain.push(`PR #${e.pr}`);
    // An em space: the 10 px the other items are set apart by.
    if (plain.length) main.push(plain.join("\u2003"));
    const p = e.payload && typeof e.payload === "object" && !Array.isArray(e.payload) ? e.payload : null;
    if (p) {
      for (const key of SUMMARY_KEYS) {
        if (!(key in p)) continue;
        const v = p[key];
        item(h("span", { class: "ev-k", text: `${key} ` }));
        main.push(isRedacted(v) ? h("span", { class: "redacted", text: valueText(v) }) : valueText(v));
      }
      if (p._truncated === true) {
        item(h("span", { class: "redacted", text: `payload truncated (${p._original_bytes ?? "?"} bytes)` }));
      }
      if (Object.keys(p).length) item(this.payloadToggle());
    }
    return [
      this.timeCell(e, time),
      h("span", { class: "ev-type", text: e.type }),
      h("span", { class: "ev-main" }, main),
      e.error ? h("pre", { class: "ev-error", text: e.error }) : null,
    ].filter(Boolean);
  }

  /** Builds a row's content (it was an empty placeholder). */
  fill(row) {
    const drawn = this.rows.get(row);
    if (!drawn?.event) return;
    if (row.style.height) row.style.removeProperty("height");
    row.append(...this.rowContent(drawn.event, drawn.time));
    if (this.opened.has(drawn.event.seq)) {
      const button = row.querySelector(".payload-toggle");
      if (button) this.showPayload(row, button, true);
    }
    this.filled.add(row);
  }

  /**
   * Empties a row far from the view. A row whose height varies keeps the
   * height it has (`height`, measured before: no row moves).
   */
  unfill(row, height) {
    if (height) row.style.height = `${height}px`;
    row.classList.remove("expanded");
    row.replaceChildren();
    this.filled.delete(row);
  }

  /** Notes the height of the filled rows whose height varies (laid out: idle, or a payload opened). */
  measure() {
    if (!this.scroller.clientHeight) return;
    for (const el of this.filled) if (el.isConnected && this.varies(el)) this.measured.set(el.dataset.seq, el.offsetHeight);
  }

  /** Whether a row's height is its content's, not the fixed one of a collapsed row. */
  varies(row) {
    return row.classList.contains("has-error") || row.classList.contains("expanded");
  }

  /**
   * Gives content to the event rows within OVERSCAN px of the view and
   * takes it from the others (never from the row that holds the focus).
   * Rows are found by their place (offsetTop, a binary search in the
   * list), so this costs the rows that change, not the window. When rows
   * above the view whose height varies change, the first row in view is
   * kept where it was.
   *
   * `lazy` (while scrolling): only the rows in view are filled now, the
   * others around them when the browser is idle (fillLater), nearest
   * first, at most `budget` rows a call: a scroll frame builds the rows
   * it shows and no more.
   */
  updateFill({ lazy = false, budget = Infinity } = {}) {
    const kids = this.list.children;
    const n = kids.length;
    // A hidden timeline (another view shown: no box) has no rows in view;
    // its rows all lie at 0 and would every one be filled.
    if (!n || !this.scroller.isConnected || !this.scroller.clientHeight) return;
    const top = this.scroller.scrollTop;
    const from = top - OVERSCAN;
    const to = top + this.scroller.clientHeight + OVERSCAN;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const el = kids[mid];
      if (el.offsetTop + el.offsetHeight <= from) lo = mid + 1;
      else hi = mid;
    }
    const bottom = top + this.scroller.clientHeight;
    // Each row wanted, with its distance from the view (0: in view).
    const want = new Map();
    let anchor = null;
    let anchorTop = 0;
    for (let i = lo; i < n; i += 1) {
      const el = kids[i];
      const y = el.offsetTop;
      if (y >= to) break;
      const height = el.offsetHeight;
      const end = y + height;
      if (this.filled.has(el) && this.varies(el)) this.measured.set(el.dataset.seq, height);
      if (!anchor && end > top) {
        anchor = el;
        anchorTop = y;
      }
      if (this.rows.get(el)?.event) want.set(el, end <= top ? top - end : y >= bottom ? y - bottom : 0);
    }
    // The row that holds the focus keeps (or gets) its content wherever
    // it is: the keyboard is never on an empty row.
    const focused = document.activeElement;
    const held = focused?.closest?.("li[data-seq]");
    if (held && held.parentElement === this.list && this.rows.get(held)?.event && !want.has(held)) want.set(held, Infinity);
    // Read every place and height first, then change the rows.
    const drop = [];
    const add = [];
    let moves = false;
    for (const el of this.filled) {
      if (!el.isConnected) {
        this.filled.delete(el);
        continue;
      }
      if (want.has(el)) continue;
      if (el !== focused && el.contains(focused)) continue;
      const varies = this.varies(el);
      if (varies && anchor && el.offsetTop < anchorTop) moves = true;
      drop.push([el, varies ? el.offsetHeight : 0]);
    }
    let later = false;
    const near = [...want].filter(([el]) => !this.filled.has(el)).sort((a, b) => a[1] - b[1]);
    for (const [el, away] of near) {
      if ((lazy && away > 0) || add.length >= budget) {
        later = true;
        break;
      }
      if ((el.classList.contains("has-error") || el.style.height) && anchor && el.offsetTop < anchorTop) moves = true;
      add.push(el);
    }
    if (later) this.fillLater();
    if (!drop.length && !add.length) return;
    for (const [el, height] of drop) this.unfill(el, height);
    for (const el of add) this.fill(el);
    if (moves && anchor.isConnected) {
      const shift = anchor.offsetTop - anchorTop;
      if (shift) this.scroller.scrollTop += shift;
    }
  }

  /**
   * Fills the rows around the view when the browser is idle, a few at a
   * time (about one a millisecond of idle time; 4 when it waited 300 ms),
   * and lays them out there and then, so that the next frame does not.
   */
  fillLater() {
    if (this.idle) return;
    const run = (deadline) => {
      this.idle = 0;
      const budget = deadline.didTimeout ? 4 : Math.max(2, Math.floor(deadline.timeRemaining()));
      this.updateFill({ budget });
      void this.scroller.scrollHeight;
      this.measure();
    };
    this.idle =
      typeof requestIdleCallback === "function"
        ? requestIdleCallback(run, { timeout: 300 })
        : setTimeout(() => run({ didTimeout: true, timeRemaining: () => 0 }), 50);
  }

  /** The first event row of `unit` in the window, or null. */
  rowOfUnit(unit) {
    for (const row of this.list.querySelectorAll(".ev")) {
      if (this.rows.get(row)?.event?.unit === unit) return row;
    }
    return null;
  }
}
