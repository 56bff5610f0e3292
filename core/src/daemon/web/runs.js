// The run list: status chips with counts, one row per run, the pager.
// Rows are links to `#/history?…&run=<id>`, so Tab/Enter, middle-click,
// reload and the back button work without extra code.

import { h, replace } from "./dom.js";
import { baseName, formatDuration, localDateTime, parseTime, plural, utcText, wallMs, activeMs } from "./format.js";
import { formatHash, withRoute } from "./route.js";
import { RUN_STATUSES } from "./status.js";

/** A run status badge: colour and the word. */
export function badge(status) {
  const known = RUN_STATUSES.includes(status) ? status : "unknown";
  return h("span", { class: `badge ${known}`, "data-status": status, text: status || "unknown" });
}

/**
 * The status chips. `counts` maps status -> runs ({} when unknown);
 * `onPick(status)` gets "" for "all".
 */
export function renderStatusChips(container, route, counts, onPick) {
  const total = RUN_STATUSES.reduce((n, s) => n + (counts[s] ?? 0), 0);
  const chip = (status, label) => {
    const pressed = (route.status || "") === status;
    const button = h(
      "button",
      { type: "button", class: "chip", "aria-pressed": pressed ? "true" : "false", "data-status": status || "all" },
      status ? h("span", { class: `swatch ${status}`, "aria-hidden": "true" }) : null,
      label,
      h("span", { class: "count", text: status ? counts[status] ?? 0 : total }),
    );
    button.addEventListener("click", () => onPick(status));
    return button;
  };
  replace(container, chip("", "all"), ...RUN_STATUSES.map((s) => chip(s, s)));
}

/** One run row. */
function runRow(run, route, allRepos, now) {
  const started = parseTime(run.started_at);
  const wall = wallMs(run, now);
  const active = activeMs(run, now);
  const selected = route.run === run.id;
  const meta = [h("span", { title: utcText(started), text: localDateTime(started) })];
  if (allRepos) meta.unshift(h("span", { class: "repo-tag", title: run.repo_path, text: baseName(run.repo_path) }));
  meta.push(h("span", { class: "units", text: `${run.completed_units}/${run.total_units} units` }));
  if (run.failed_units > 0) meta.push(h("span", { class: "n-failed", text: `${run.failed_units} failed` }));
  if (run.blocked_units > 0) meta.push(h("span", { class: "n-blocked", text: `${run.blocked_units} blocked` }));
  if (run.resume_count > 0) meta.push(h("span", { class: "n-resumes", text: plural(run.resume_count, "resume") }));
  const durationTitle =
    run.resume_count > 0 && active != null ? `wall ${formatDuration(wall)}, active ${formatDuration(active)}` : "wall time";
  const link = h(
    "a",
    {
      class: "run-link",
      href: formatHash(withRoute(route, { run: run.id, unit: "", q: "", seq: "" })),
      "aria-current": selected ? "true" : null,
      "data-run": run.id,
    },
    h(
      "div",
      { class: "run-line" },
      badge(run.status),
      h("span", { class: "run-id", title: run.id, text: run.id }),
      run.dry_run ? h("span", { class: "tag", text: "dry run" }) : null,
      h("span", { class: "run-dur", title: durationTitle, "data-tick": run.status === "running" ? "1" : null, text: formatDuration(wall) }),
    ),
    h("div", { class: "run-line run-meta" }, meta),
    run.error ? h("span", { class: "run-error", title: run.error, text: run.error }) : null,
  );
  return h("li", { class: "run-item" }, link);
}

/** The list of runs, or its empty state. */
export function renderRuns(container, { runs, route, allRepos, now, repoLabel }) {
  if (runs.length === 0) {
    const filtered = route.status !== "";
    replace(
      container,
      h(
        "div",
        { class: "empty", "data-empty": "runs" },
        h("h2", { text: filtered ? `No ${route.status} runs` : "No runs recorded yet" }),
        filtered
          ? h("p", { text: `No run of ${repoLabel} has the status ${route.status}.` })
          : h("p", { text: `Nothing has been recorded for ${repoLabel}.` }),
        filtered ? null : h("p", {}, "Runs appear here once an orchestrator runs with otto-hooks: ", h("code", { text: "otto-hooks hook run-start" })),
      ),
    );
    return;
  }
  replace(container, h("ul", { class: "run-list", "aria-label": "Runs, newest first" }, runs.map((r) => runRow(r, route, allRepos, now))));
}

/** The pager: newer / "Page X of Y" / older. */
export function renderPager(container, { page, pages, total, canNewer, canOlder, onNewer, onOlder }) {
  const newer = h("button", { type: "button", class: "btn", "data-page": "newer", disabled: !canNewer, text: "← Newer" });
  const older = h("button", { type: "button", class: "btn", "data-page": "older", disabled: !canOlder, text: "Older →" });
  newer.addEventListener("click", onNewer);
  older.addEventListener("click", onOlder);
  replace(
    container,
    newer,
    h("span", { class: "where", "data-pages": `${page}/${pages}` }, `Page ${page} of ${pages}`, h("span", { class: "muted", text: ` · ${plural(total, "run")}` })),
    older,
  );
}

/** Refreshes the ticking durations of running runs in place. */
export function tickDurations(container, runsById, now) {
  for (const el of container.querySelectorAll("[data-tick]")) {
    const link = el.closest("[data-run]");
    const run = link && runsById.get(link.getAttribute("data-run"));
    if (run) el.textContent = formatDuration(wallMs(run, now));
  }
}
