// Pure formatting: durations, local and UTC times, paging arithmetic.
// No DOM here, so `node --test` covers it (core/src/daemon/web/tests/).

/** `1h 5m`, `3m 12s`, `45s`; `--` for an unknown or negative span. */
export function formatDuration(ms) {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return "--";
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

/**
 * A stored time as a Date, or null when absent, unparsable, or Go's zero
 * time (year 1: an orchestrator that never set the field).
 */
export function parseTime(text) {
  if (typeof text !== "string" || text === "") return null;
  const date = new Date(text);
  const ms = date.getTime();
  if (!Number.isFinite(ms) || date.getUTCFullYear() < 1971) return null;
  return date;
}

const pad = (n) => String(n).padStart(2, "0");

/**
 * Times show in the browser's zone ("local", the default), in "utc", or
 * "relative": event times as offsets from the run's start (`+1m 23s`),
 * other times as the time since (`3m 12s ago`); dates stay local.
 */
let zone = "local";

/** The time modes, in the order the header's switch shows them. */
export const ZONES = ["local", "utc", "relative"];

/** Chooses how times are shown: "local", "utc" or "relative". */
export function setZone(z) {
  zone = ZONES.includes(z) ? z : "local";
}

/** Whether times are shown relative (see `setZone`). */
export function isRelative() {
  return zone === "relative";
}

/** An offset from a run's start: `+0s`, `+1m 23s`, `-5s` (before the start); `--` unknown. */
export function formatOffset(ms) {
  if (ms == null || !Number.isFinite(ms)) return "--";
  return ms < 0 ? `-${formatDuration(-ms)}` : `+${formatDuration(ms)}`;
}

/** The time since `date` at `now`: `45s ago`, `1h 5m ago`; `just now` under a second. */
export function agoText(date, now) {
  if (!date) return "time unknown";
  const ms = now - date.getTime();
  if (ms < 1000) return "just now";
  return `${formatDuration(ms)} ago`;
}

/** The zone times are shown in. */
export function getZone() {
  return zone;
}

const parts = (date) =>
  zone === "utc"
    ? [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth(), date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];

/**
 * `YYYY-MM-DD HH:MM:SS` in the chosen zone (local by default: the project
 * convention); `… ago` in relative mode.
 */
export function localDateTime(date) {
  if (!date) return "time unknown";
  if (zone === "relative") return agoText(date, Date.now());
  return `${localDate(date)} ${localClock(date)}`;
}

/** `YYYY-MM-DD` in the chosen zone. */
export function localDate(date) {
  const [y, mo, d] = parts(date);
  return `${y}-${pad(mo + 1)}-${pad(d)}`;
}

/** `HH:MM:SS` in the chosen zone. */
export function localClock(date) {
  if (!date) return "--:--:--";
  const [, , , h, mi, s] = parts(date);
  return `${pad(h)}:${pad(mi)}:${pad(s)}`;
}

/** The full UTC form, for tooltips: `2026-12-02 18:42:00.123 UTC`. */
export function utcText(date) {
  if (!date) return "time unknown";
  return `${date.toISOString().replace("T", " ").replace("Z", "")} UTC`;
}

/** A run's wall time: from its start to its end, or to `now` while it runs. */
export function wallMs(run, now) {
  const start = parseTime(run.started_at);
  if (!start) return null;
  const end = parseTime(run.completed_at);
  const until = end ? end.getTime() : run.status === "running" ? now : null;
  return until == null ? null : until - start.getTime();
}

/** A run's active time: stored `active_ms` plus the running period still open. */
export function activeMs(run, now) {
  if (typeof run.active_ms !== "number") return null;
  const since = parseTime(run.active_since);
  return run.active_ms + (since ? Math.max(0, now - since.getTime()) : 0);
}

/** Pages needed for `total` items, at least 1 (an empty list is page 1 of 1). */
export function pageCount(total, size) {
  if (!(size > 0)) return 1;
  return Math.max(1, Math.ceil(Math.max(0, total) / size));
}

/** `1 run`, `3 runs`. */
export function plural(n, word, many = `${word}s`) {
  return `${n} ${n === 1 ? word : many}`;
}

/**
 * The `after_seq` and `limit` that read the `count` events just before
 * `beforeSeq` (seq is contiguous from 1): the tail when `beforeSeq` is
 * last_seq + 1, an earlier page when it is the first loaded seq.
 */
export function pageBefore(beforeSeq, count) {
  const end = Math.max(0, beforeSeq - 1);
  const after = Math.max(0, end - count);
  return { after_seq: after, limit: end - after };
}

/** A repository path as asked for: without a trailing slash (paths match byte for byte). */
export function normaliseRepo(path) {
  if (typeof path !== "string") return "";
  const trimmed = path.trim();
  return trimmed.length > 1 ? trimmed.replace(/\/+$/, "") : trimmed;
}

/** The last component of a path, for compact labels. */
export function baseName(path) {
  const parts = String(path).split("/").filter(Boolean);
  return parts.length ? parts[parts.length - 1] : String(path);
}
