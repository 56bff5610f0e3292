// The timeline's filters as the daemon's events API expresses them, and
// the same test for one event on the client (live events). A filtered
// timeline reads its window from the server with these parameters, so a
// match anywhere in a huge run can be reached, not only in the loaded rows.
// Pure; unit-tested with node (tests/filter.test.mjs).

import { isEmptyQuery, matchesQuery, parseQuery } from "./search.js";
import { eventFamily, isFailureType } from "./status.js";

/**
 * A failure: a failing type, or any event that carries an error. The
 * daemon's `failed=true` is the same test (plugins/sqlite `search.rs`).
 */
export const isFailure = (e) => isFailureType(e.type) || (typeof e.error === "string" && e.error !== "");

/**
 * The events-API parameters of a filter ({family, unit, failures, query,
 * hide}): `type`, `unit`, `failed`, `q` (the search only when it hides
 * non-matches; highlighting reads every event). Null when none applies:
 * the timeline then reads every event. The attempt is not one of them:
 * the timeline bounds its reads to the attempt's seqs (`after_seq` /
 * `before_seq`, timeline.js `query`).
 */
export function serverParams(filter) {
  const params = {};
  if (filter.family) params.type = filter.family;
  if (filter.unit) params.unit = filter.unit;
  if (filter.failures) params.failed = "true";
  const text = String(filter.query ?? "").trim();
  if (filter.hide && text && !isEmptyQuery(parseQuery(text))) params.q = text;
  return Object.keys(params).length ? params : null;
}

/** Whether two `serverParams` answers read the same events. */
export function sameParams(a, b) {
  if (!a || !b) return a === b;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * Whether event `e` passes `filter` (its search parsed as `parsed`), as
 * the server's parameters would decide: the test for live events that
 * arrive while the timeline is filtered.
 */
export function passes(filter, parsed, e) {
  // The family select offers first segments: `type=task` on the server.
  if (filter.family && eventFamily(e.type) !== filter.family) return false;
  if (filter.unit && e.unit !== filter.unit) return false;
  if (filter.failures && !isFailure(e)) return false;
  if (filter.hide && !isEmptyQuery(parsed) && !matchesQuery(parsed, e)) return false;
  return true;
}
