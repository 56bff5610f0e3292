// The daemon's read API, through relative URLs (same origin; any port and
// host name). The page never sends or needs the write token.

/** A failed request: `status` 0 when the daemon could not be reached. */
export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function get(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== undefined && v !== null && v !== "") query.set(k, String(v));
  }
  const url = `api/${path}${query.toString() ? `?${query}` : ""}`;
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (e) {
    throw new ApiError("Cannot reach the history daemon", 0, "UNREACHABLE");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    throw new ApiError(message, response.status, body?.code ?? "");
  }
  return body;
}

const enc = encodeURIComponent;

/** Repositories with runs: [{repo_path, runs, running, completed, failed, stopped, last_started_at}]. */
export async function repos() {
  return (await get("history/repos")).repos ?? [];
}

/** A page of runs: {runs, total, has_more, next_cursor}; `before` (a run id): the runs started before it. */
export function runs({ repo, status, limit, cursor, before }) {
  return get("history/runs", { repo, status, limit, cursor, before });
}

/** One run. */
export function run(id) {
  return get(`history/runs/${enc(id)}`);
}

/**
 * A page of a run's events: {events, total, has_more, next_after_seq,
 * next_before_seq}. `order: "desc"` with `before_seq` reads backwards;
 * `failed: "true"` reads failures only.
 */
export function events(id, { type, unit, after_seq, before_seq, order, q, failed, limit }) {
  return get(`history/runs/${enc(id)}/events`, { type, unit, after_seq, before_seq, order, q, failed, limit });
}

/** The URL of a run's events as an NDJSON download. */
export function eventsNdjsonUrl(id) {
  return `api/history/runs/${enc(id)}/events.ndjson`;
}

/**
 * Every event of a type family (`unit`, `run`, `task.completed`), following
 * `next_after_seq`, up to `cap` events.
 */
export async function allEvents(id, type, cap = 20000) {
  const out = [];
  let after = 0;
  for (;;) {
    const page = await events(id, { type, after_seq: after, limit: 1000 });
    out.push(...page.events);
    if (!page.has_more || page.next_after_seq == null || out.length >= cap) return out;
    after = page.next_after_seq;
  }
}

/** The run's graph, or null when none was recorded (404). */
export async function graph(id) {
  try {
    return await get(`history/runs/${enc(id)}/graph`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/** The run's units summarised (first/last event, final state, counts): {units: [...]} → [...]. */
export async function units(id) {
  return (await get(`history/runs/${enc(id)}/units`)).units ?? [];
}

/**
 * The window's runs and units against the window before, per unit
 * (`stats --json`); `trend: true` adds each unit's duration series.
 */
export function stats({ project, since, task, trend }) {
  return get("history/stats", { project, since, task, trend: trend ? "true" : "" });
}

/** Every execution of one unit, newest first (`history NAME --json`). */
export function taskHistory(name, { project, status, limit }) {
  return get(`history/tasks/${enc(name)}`, { project, status, limit });
}

/** What changed from run `a` to run `b` (`compare A B --json`). */
export function compare(a, b) {
  return get("history/compare", { a, b });
}

/** Units that both failed and succeeded in the window, flakiest first (`flaky --json`). */
export function flaky({ project, since }) {
  return get("history/flaky", { project, since });
}
