// Pure arithmetic of the Gantt (waterfall) of units over time: the time
// domain, the linear scale, "nice" axis ticks, the rows (by start or by
// graph level) with their waiting and running bars, and the stopped
// intervals of a resumed run. No DOM; unit-tested with node
// (tests/gantt.test.mjs). gantt.js draws what this computes.

import { parseTime } from "./format.js";

/** Height of one row, px. */
export const ROW_H = 26;
/** Width of the label column (glyph and unit name), px. */
export const LABEL_W = 168;
/** Room kept right of the longest bar for its status text, px. */
export const RIGHT_PAD = 16;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Tick steps, smallest first: a step gives "round" times on the axis. */
const STEPS = [
  SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR,
];

const ms = (text) => parseTime(text)?.getTime() ?? null;

/** A linear map from [d0, d1] to [r0, r1]; a zero-width domain maps to r0. */
export function linearScale(d0, d1, r0, r1) {
  const span = d1 - d0;
  const scale = (v) => (span > 0 ? r0 + ((v - d0) / span) * (r1 - r0) : r0);
  scale.domain = [d0, d1];
  scale.range = [r0, r1];
  return scale;
}

/**
 * Axis ticks over [t0, t1] (epoch ms): multiples of the smallest step that
 * gives at most `max` ticks. Returns {step, ticks}.
 */
export function niceTicks(t0, t1, max = 8) {
  const span = Math.max(0, t1 - t0);
  const step = STEPS.find((s) => span / s <= Math.max(1, max)) ?? Math.ceil(span / Math.max(1, max) / (24 * HOUR)) * 24 * HOUR;
  const ticks = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return { step, ticks };
}

/**
 * The stopped intervals of a run from its STOP/RESUME markers (status.js
 * segmentAttempts' `markers`, a Map or an array): each STOP until the next
 * RESUME, or until `end` when the run was not resumed since (`open`).
 * Returns [{from, to, open, reason, attempt, count, seq}] (epoch ms), in order.
 */
export function stoppedIntervals(markers, end) {
  const list = [...(markers instanceof Map ? markers.values() : markers ?? [])].sort((a, b) => a.seq - b.seq);
  const out = [];
  let current = null;
  for (const m of list) {
    const t = ms(m.time);
    if (t == null) continue;
    if (m.kind === "stop" && !current) {
      current = { from: t, to: null, open: false, reason: m.reason ?? null, attempt: m.attempt ?? null, count: m.count ?? 1, seq: m.seq };
    } else if (m.kind === "resume" && current) {
      current.to = Math.max(current.from, t);
      out.push(current);
      current = null;
    }
  }
  if (current) {
    current.to = Math.max(current.from, end ?? current.from);
    current.open = true;
    out.push(current);
  }
  return out;
}

/** Statuses whose bar runs on to `now` while the run is running. */
const OPEN_STATUSES = new Set(["in_progress", "pr_open", "ready"]);

/**
 * Orders the units' rows. `order` "start" sorts by first event (seq), then
 * id; "level" by graph level, then start. Graph nodes with no event get a
 * row too (no bar), after the ones that started in "start" order.
 */
export function orderRows(units, { order = "start", levels = [] } = {}) {
  const levelOf = new Map();
  levels.forEach((level, i) => level.forEach((id) => levelOf.set(String(id), i)));
  const byId = new Map();
  for (const u of units ?? []) byId.set(String(u.unit), { ...u, unit: String(u.unit) });
  for (const id of levelOf.keys()) {
    if (!byId.has(id)) byId.set(id, { unit: id, status: "pending", events: 0, first_seq: null });
  }
  const rows = [...byId.values()];
  const startKey = (u) => (u.first_seq == null ? Number.POSITIVE_INFINITY : u.first_seq);
  rows.sort((a, b) => {
    if (order === "level") {
      const la = levelOf.get(a.unit) ?? Number.POSITIVE_INFINITY;
      const lb = levelOf.get(b.unit) ?? Number.POSITIVE_INFINITY;
      if (la !== lb) return la - lb;
    }
    return startKey(a) - startKey(b) || (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0);
  });
  return rows.map((u) => ({ ...u, level: levelOf.has(u.unit) ? levelOf.get(u.unit) : null }));
}

/**
 * The whole chart: `units` (the daemon's `…/units` summaries), `run` (its
 * row: started_at, completed_at, status), `markers` (STOP/RESUME), the
 * chart `width` in px, `now` (epoch ms, for a running run), `order` and
 * graph `levels`; `labelW` is the label column's width.
 *
 * Returns {t0, t1, nowX, width, height, x0, x1, rows, stops, ticks, step}: each row
 * {unit, status, y, bar: {x, w} | null, wait: {x, w} | null, from, to,
 * started, live}; each stop {x, w, from, to, open, reason, attempt, count}.
 */
export function layoutGantt({ units, run = {}, markers = [], width = 800, now = Date.now(), order = "start", levels = [], labelW = LABEL_W }) {
  const rows = orderRows(units, { order, levels });
  const running = run.status === "running";
  const times = [];
  for (const u of rows) {
    for (const t of [ms(u.first_time), ms(u.last_time)]) if (t != null) times.push(t);
  }
  const started = ms(run.started_at);
  const completed = ms(run.completed_at);
  let t0 = started ?? (times.length ? Math.min(...times) : now);
  if (times.length) t0 = Math.min(t0, ...times);
  let t1 = Math.max(t0, ...times, completed ?? t0);
  const stopsRaw = stoppedIntervals(markers, null);
  for (const s of stopsRaw) t1 = Math.max(t1, s.from, s.to);
  const stoppedNow = stopsRaw.length > 0 && stopsRaw[stopsRaw.length - 1].open;
  if (running) t1 = Math.max(t1, now);
  // A chart of one instant still gets a width: one second.
  if (t1 - t0 < SECOND) t1 = t0 + SECOND;
  const x0 = labelW;
  const x1 = Math.max(x0 + 40, width - RIGHT_PAD);
  const x = linearScale(t0, t1, x0, x1);
  const stops = stoppedIntervals(markers, t1).map((s) => ({ ...s, x: x(s.from), w: Math.max(2, x(s.to) - x(s.from)) }));
  const laid = rows.map((u, i) => {
    const from = ms(u.first_time);
    let to = ms(u.last_time);
    const live = running && !stoppedNow && OPEN_STATUSES.has(u.status) && to != null;
    if (live) to = Math.max(to, now);
    const start = ms(u.started_time);
    const row = { ...u, y: i * ROW_H, from, to, started: start, live, bar: null, wait: null };
    if (from == null || to == null) return row;
    // Waiting (queued, not yet started) is the stretch before unit.started;
    // running is from unit.started (or the first event) to the last.
    const runFrom = start != null && start > from ? start : from;
    if (runFrom > from) row.wait = { x: x(from), w: Math.max(1, x(runFrom) - x(from)) };
    // A status is drawn even for a single event: at least 3 px.
    row.bar = { x: x(runFrom), w: Math.max(3, x(Math.max(runFrom, to)) - x(runFrom)) };
    return row;
  });
  const { step, ticks } = niceTicks(t0, t1, Math.max(2, Math.floor((x1 - x0) / 64)));
  return {
    t0,
    t1,
    // Where "now" is, for a running run (null otherwise).
    nowX: running ? x(Math.min(now, t1)) : null,
    width: Math.max(width, x1 + RIGHT_PAD),
    height: laid.length * ROW_H,
    x0,
    x1,
    rows: laid,
    stops,
    step,
    ticks: ticks.map((t) => ({ t, x: x(t) })),
  };
}

/** Where a row's status text goes: right of the bar, or left of it when the bar reaches the right edge. */
export function statusTextPlace(row, x1, textWidth = 110, labelW = LABEL_W) {
  if (!row.bar) return { x: labelW + 8, anchor: "start" };
  const end = row.bar.x + row.bar.w;
  if (end + 6 + textWidth <= x1 + RIGHT_PAD) return { x: end + 6, anchor: "start" };
  const start = row.wait ? row.wait.x : row.bar.x;
  if (start - 6 - textWidth >= labelW) return { x: start - 6, anchor: "end" };
  return { x: end - 6, anchor: "end", inside: true };
}
