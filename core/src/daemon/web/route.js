// The URL is the state: `#/history?repo=/src/app&status=failed&run=<id>&seq=57`
// (`seq`: one event, scrolled to and highlighted).
// Reload and the back button restore the same screen. Pure; unit-tested.

const KEYS = ["repo", "status", "run", "unit", "q", "seq", "since", "task", "failed", "cmp"];

/** The views a hash may name; anything else is the History view. */
const VIEWS = ["live", "history", "insights"];

/** The screen a hash names: {view, repo, status, run, unit, q, seq, since, task, failed, cmp} (absent keys are ""). */
export function parseHash(hash) {
  const text = String(hash ?? "").replace(/^#/, "");
  const q = text.indexOf("?");
  const path = q < 0 ? text : text.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : text.slice(q + 1));
  const view = path.replace(/^\/+/, "");
  const route = { view: VIEWS.includes(view) ? view : "history" };
  for (const k of KEYS) route[k] = params.get(k) ?? "";
  // "*" is the explicit "all repositories" choice; "" means "not chosen yet".
  return route;
}

/** The hash of a screen; empty keys are left out. */
export function formatHash(route) {
  const params = new URLSearchParams();
  for (const k of KEYS) if (route[k]) params.set(k, route[k]);
  const query = params.toString();
  return `#/${route.view || "history"}${query ? `?${query}` : ""}`;
}

/** A copy of `route` with `changes` applied. */
export function withRoute(route, changes) {
  return { ...route, ...changes };
}
