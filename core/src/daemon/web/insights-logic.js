// Pure logic of the insight panels (stats, flaky tasks, a task's history,
// run comparison): number and trend wording, sparkline and bar geometry,
// the run id behind a run name. No DOM; `node --test` covers it (tests/insights.test.mjs).

import { formatDuration } from "./format.js";

/** The windows the insights view offers, and the one it opens with. */
export const WINDOWS = ["7d", "30d", "90d"];
export const DEFAULT_WINDOW = "30d";

/** The window a route names, or the default for anything else. */
export function windowOf(since) {
  return WINDOWS.includes(since) ? since : DEFAULT_WINDOW;
}

/** `7 days` for `7d`: the window in words. */
export function windowWords(since) {
  const n = Number.parseInt(since, 10);
  return Number.isFinite(n) ? `${n} ${n === 1 ? "day" : "days"}` : String(since);
}

/**
 * Seconds as the run list shows durations (`45s`, `3m 12s`, `1h 5m`), with
 * one decimal under a minute when the value has one (`2.4s`); `–` for none.
 */
export function formatSecs(secs) {
  if (secs == null || !Number.isFinite(secs) || secs < 0) return "–";
  if (secs < 60 && !Number.isInteger(secs)) return `${(Math.round(secs * 10) / 10).toFixed(1)}s`;
  return formatDuration(Math.round(secs * 1000));
}

/** A rate (0..1) as a percentage: `100%`, `96.4%`; `–` for none. */
export function formatRate(rate) {
  if (rate == null || !Number.isFinite(rate)) return "–";
  const pct = Math.round(rate * 1000) / 10;
  return Number.isInteger(pct) ? `${pct}%` : `${pct.toFixed(1)}%`;
}

/** Bytes in binary units: `397.1 KiB`; `not recorded` for null. */
export function formatBytes(bytes) {
  if (bytes == null || !Number.isFinite(bytes)) return "not recorded";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `b − a`, or null when either is missing. */
export function deltaOf(a, b) {
  return a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) ? null : b - a;
}

/**
 * A change against the previous window, in words and a tone: `kind` is
 * `count` (neutral: more runs is neither good nor bad), `rate` (a
 * fraction; up is good, shown in percentage points) or `duration`
 * (seconds; up is slower, bad). Returns {text, word, tone} with tone
 * `good`, `bad`, `flat` or `none` (no figure to compare).
 */
export function trendOf(kind, delta) {
  if (delta == null || !Number.isFinite(delta)) return { text: "no previous figure", word: "", tone: "none" };
  const sign = delta > 0 ? "+" : delta < 0 ? "−" : "±";
  const abs = Math.abs(delta);
  if (kind === "rate") {
    const pts = Math.round(abs * 1000) / 10;
    if (pts === 0) return { text: "±0 pts", word: "same", tone: "flat" };
    return { text: `${sign}${pts} pts`, word: delta > 0 ? "better" : "worse", tone: delta > 0 ? "good" : "bad" };
  }
  if (kind === "duration") {
    if (abs === 0) return { text: "±0s", word: "same", tone: "flat" };
    return { text: `${sign}${formatSecs(abs)}`, word: delta > 0 ? "slower" : "faster", tone: delta > 0 ? "bad" : "good" };
  }
  if (abs === 0) return { text: "±0", word: "same", tone: "flat" };
  return { text: `${sign}${abs}`, word: delta > 0 ? "more" : "fewer", tone: "flat" };
}

/**
 * The geometry of a duration sparkline over a stats `series` (buckets of
 * {from, executions, failed, p50_seconds}): `segments`, runs of consecutive
 * buckets that have a p50 (a bucket without one is a gap, as the terminal's
 * space), each a list of [x, y]; `points` every bucket with a p50
 * ({x, y, index, bucket}); `failed` the x of buckets with a failure. The y
 * scale runs from the series' minimum (bottom) to its maximum (top).
 */
export function sparkline(series, { width = 120, height = 28, pad = 3 } = {}) {
  const list = Array.isArray(series) ? series : [];
  const values = list.map((b) => (b && Number.isFinite(b.p50_seconds) ? b.p50_seconds : null));
  const present = values.filter((v) => v != null);
  const min = present.length ? Math.min(...present) : 0;
  const max = present.length ? Math.max(...present) : 0;
  const n = list.length;
  const x = (i) => (n <= 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (n - 1));
  const y = (v) => (max === min ? height / 2 : height - pad - ((v - min) * (height - 2 * pad)) / (max - min));
  const round = (v) => Math.round(v * 10) / 10;
  const segments = [];
  const points = [];
  let current = null;
  values.forEach((v, i) => {
    if (v == null) {
      current = null;
      return;
    }
    const point = [round(x(i)), round(y(v))];
    points.push({ x: point[0], y: point[1], index: i, bucket: list[i] });
    if (!current) {
      current = [];
      segments.push(current);
    }
    current.push(point);
  });
  const failed = list.flatMap((b, i) => (b && b.failed > 0 ? [round(x(i))] : []));
  return { segments, points, failed, min: present.length ? min : null, max: present.length ? max : null };
}

/** A polyline's `points` attribute from [[x, y], …]. */
export function pointsAttr(segment) {
  return segment.map(([px, py]) => `${px},${py}`).join(" ");
}

/**
 * Bars of a task's executions over time, oldest on the left (the history
 * comes newest first): {bars: [{x, y, w, h, execution}], max}. A bar's
 * height is its duration against the longest; an execution with no
 * duration (running, never started) is a 2-pixel stub.
 */
export function durationBars(executions, { width = 560, height = 90, gap = 2 } = {}) {
  const list = [...(Array.isArray(executions) ? executions : [])].reverse();
  const max = Math.max(0, ...list.map((e) => (Number.isFinite(e.duration_seconds) ? e.duration_seconds : 0)));
  const n = list.length;
  const slot = n ? width / n : width;
  const w = Math.max(1, Math.min(28, slot - gap));
  const bars = list.map((e, i) => {
    const d = Number.isFinite(e.duration_seconds) ? e.duration_seconds : null;
    const h = d == null || max === 0 ? 2 : Math.max(2, Math.round((d / max) * (height - 2) * 10) / 10);
    return { x: Math.round((i * slot + (slot - w) / 2) * 10) / 10, y: Math.round((height - h) * 10) / 10, w: Math.round(w * 10) / 10, h, execution: e };
  });
  return { bars, max };
}

/** Nearest-rank percentile (p in 0..100) of `values`, as docs/INSIGHTS.md defines it; null for none. */
export function percentile(values, p) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** What the listed executions add up to: {total, success, failed, other, p50, p90}. */
export function executionSummary(executions) {
  const list = Array.isArray(executions) ? executions : [];
  const finished = list.filter((e) => e.status === "success" || e.status === "failed").map((e) => e.duration_seconds);
  return {
    total: list.length,
    success: list.filter((e) => e.status === "success").length,
    failed: list.filter((e) => e.status === "failed").length,
    other: list.filter((e) => e.status !== "success" && e.status !== "failed").length,
    p50: percentile(finished, 50),
    p90: percentile(finished, 90),
  };
}

/** The statuses an execution may have, each with its glyph (readable without colour). */
const EXEC = {
  success: "✓",
  failed: "✗",
  skipped: "⊘",
  running: "▶",
  pending: "○",
  interrupted: "■",
  unknown: "?",
};

/** An execution status as shown: {status, glyph, label}; anything unknown is `unknown`. */
export function execStatus(status) {
  const known = Object.hasOwn(EXEC, status) ? status : "unknown";
  return { status: known, glyph: EXEC[known], label: known };
}

/** Whether a run id has otto's shape (`<ts>` or `<ts>-<n>`), as core's run_ref.rs says. */
function isOttoRunId(id) {
  return /^\d+(-\d+)?$/.test(id);
}

/**
 * The history's run id behind a run name the insights give (`run` fields):
 * a recorded run is named by its id; an imported otto run
 * (`<project>:<ts>` in history.db) is named `<project>/<ts>`.
 */
export function runIdOf(name, project) {
  const text = String(name ?? "");
  if (project && text.startsWith(`${project}/`)) {
    const rest = text.slice(project.length + 1);
    if (isOttoRunId(rest)) return `${project}:${rest}`;
  }
  return text;
}

/**
 * A compare document as the panel lists it: `changed` ordered by what
 * matters most (a status change, then an exit code, then a duration beyond
 * noise by size), each with its flags, and the counts of each kind.
 */
export function compareRows(report) {
  const changed = [...(report?.changed ?? [])];
  const rank = (c) => (c.status_changed ? 0 : c.exit_code_changed ? 1 : c.duration_changed ? 2 : 3);
  changed.sort((x, y) => rank(x) - rank(y) || Math.abs(y.duration_delta_seconds ?? 0) - Math.abs(x.duration_delta_seconds ?? 0) || String(x.task).localeCompare(String(y.task)));
  return {
    changed,
    added: report?.added ?? [],
    removed: report?.removed ?? [],
    unchanged: report?.unchanged ?? [],
    counts: {
      status: changed.filter((c) => c.status_changed).length,
      exit: changed.filter((c) => c.exit_code_changed).length,
      duration: changed.filter((c) => c.duration_changed).length,
      added: (report?.added ?? []).length,
      removed: (report?.removed ?? []).length,
      unchanged: (report?.unchanged ?? []).length,
    },
  };
}

/** A duration change as `+28s (+96%)`; the percentage only when A had a duration. */
export function durationChange(a, delta) {
  if (delta == null || !Number.isFinite(delta)) return "–";
  const sign = delta > 0 ? "+" : delta < 0 ? "−" : "±";
  const pct = a > 0 ? ` (${sign}${Math.round((Math.abs(delta) / a) * 100)}%)` : "";
  return `${sign}${formatSecs(Math.abs(delta))}${pct}`;
}

/** The per-unit table's sortable columns: key → the row's value (nulls last). */
const SORT_KEYS = {
  task: (r) => String(r.task),
  total: (r) => r.total,
  success_rate: (r) => r.success_rate,
  failed: (r) => r.failed,
  p50: (r) => r.p50_seconds,
  p90: (r) => r.p90_seconds,
  p50_change: (r) => r.trend?.p50_delta_seconds,
};

/**
 * The stats' `per_task` rows sorted by `key` (`desc` or `asc`); a row
 * without the figure goes last either way, ties keep the API's order
 * (most executed first). An unknown key keeps the API's order.
 */
export function sortRows(rows, key, dir = "desc") {
  const pick = SORT_KEYS[key];
  const list = [...(rows ?? [])];
  if (!pick || !Object.hasOwn(SORT_KEYS, key)) return list;
  const sign = dir === "asc" ? 1 : -1;
  return list
    .map((row, i) => ({ row, i, v: pick(row) }))
    .sort((a, b) => {
      const an = a.v == null || (typeof a.v === "number" && !Number.isFinite(a.v));
      const bn = b.v == null || (typeof b.v === "number" && !Number.isFinite(b.v));
      if (an !== bn) return an ? 1 : -1;
      if (an) return a.i - b.i;
      const c = typeof a.v === "string" ? a.v.localeCompare(b.v) : a.v - b.v;
      return c !== 0 ? sign * c : a.i - b.i;
    })
    .map((x) => x.row);
}
