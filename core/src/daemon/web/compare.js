// The open run compared with another (`GET /api/history/compare`): by
// default the run of the same repository started just before it. Units
// added and removed, status and exit code changes, durations that moved
// beyond noise — as the API's compare says; the other run is chosen among
// the 50 runs before this one.

import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { formatDuration, localDateTime, parseTime, utcText, wallMs } from "./format.js";
import { compareRows, durationChange, formatSecs } from "./insights-logic.js";
import { badge } from "./runs.js";
import { execBadge } from "./task-history.js";

/** Runs offered as "the other run": the ones before the open run. */
const CANDIDATES = 50;

function runLabel(r) {
  return `${r.id} · ${localDateTime(parseTime(r.started_at))} · ${r.status}`;
}

/** One side of the comparison: which run, when, its status and duration. */
function side(label, r, doc, hrefRun) {
  const started = parseTime(r?.started_at);
  return h(
    "div",
    { class: "cmp-side", "data-side": label },
    h("span", { class: "k", text: label === "a" ? "A · other run" : "B · this run" }),
    h("a", { class: "mono", href: hrefRun(r.id), text: r.id }),
    h("span", {}, badge(r.status), " ", h("span", { title: utcText(started), text: localDateTime(started) })),
    h("span", { class: "muted", "data-field": "run-duration", text: `duration ${doc?.duration_seconds != null ? formatSecs(doc.duration_seconds) : formatDuration(wallMs(r, Date.now()))}` }),
  );
}

/** A `from → to` cell, marked when it changed. */
function change(from, to, changed, field) {
  return h(
    "td",
    { class: changed ? "chg" : null, "data-field": field },
    from,
    h("span", { class: "cmp-arrow", text: " → " }),
    to,
    changed ? h("span", { class: "chg-word", text: " changed" }) : null,
  );
}

const exit = (v) => (v == null ? "–" : String(v));

/**
 * Fills `body` with the comparison of `run` (B) with `other` (A: a run id,
 * or "prev" for the run before it). `hrefRun(id)` links a run, `hrefTask(unit)`
 * a unit's history; `onOther(id)` changes the route. A newer call wins
 * (`isCurrent()`).
 */
export async function renderCompare(body, { run, other, hrefRun, hrefTask, onOther, isCurrent }) {
  replace(body, h("div", { class: "loading", text: "Loading the comparison…" }));
  let candidates;
  let chosen;
  let report;
  try {
    const page = await api.runs({ repo: run.repo_path, limit: CANDIDATES, before: run.id });
    candidates = page.runs.filter((r) => r.id !== run.id);
    chosen = other === "prev" || !other ? candidates[0] : candidates.find((r) => r.id === other) ?? (await api.run(other));
    if (!chosen) {
      if (!isCurrent()) return;
      replace(
        body,
        h(
          "div",
          { class: "empty", "data-empty": "no-previous" },
          h("h2", { text: "No earlier run to compare with" }),
          h("p", {}, "This is the first run of ", h("span", { class: "mono", text: run.repo_path }), " in the history."),
        ),
      );
      return;
    }
    report = await api.compare(chosen.id, run.id);
  } catch (e) {
    if (!isCurrent()) return;
    replace(body, h("div", { class: "empty", "data-empty": "compare-error" }, h("h2", { text: "The comparison could not be read" }), h("p", { text: e.message })));
    return;
  }
  if (!isCurrent()) return;
  const previousId = candidates[0]?.id;
  if (!candidates.some((r) => r.id === chosen.id)) candidates.unshift(chosen);
  const select = h(
    "select",
    { id: "cmp-other", class: "btn small", "data-field": "compare-with" },
    candidates.map((r) => h("option", { value: r.id, text: `${r.id === previousId ? "previous · " : ""}${runLabel(r)}` })),
  );
  select.value = chosen.id;
  select.addEventListener("change", () => onOther(select.value));
  const rows = compareRows(report);
  const c = rows.counts;
  const unit = (name) => h("a", { href: hrefTask(name), class: "mono", title: `The history of ${name} across runs`, text: name });
  const countsLine = h(
    "p",
    { class: "panel-summary", "data-field": "compare-counts" },
    [
      [c.status, "status change", "status changes"],
      [c.exit, "exit code change", "exit code changes"],
      [c.duration, "duration beyond noise", "durations beyond noise"],
      [c.added, "unit added", "units added"],
      [c.removed, "unit removed", "units removed"],
      [c.unchanged, "unchanged", "unchanged"],
    ]
      .map(([n, one, many]) => `${n} ${n === 1 ? one : many}`)
      .join(" · "),
  );
  const changedTable = rows.changed.length
    ? h(
        "table",
        { class: "data-table cmp-table", "data-section": "changed" },
        h("caption", { class: "sr-only", text: "Units that changed, from A to B" }),
        h("thead", {}, h("tr", {}, ["Unit", "Status", "Exit code", "Duration", "Change"].map((t) => h("th", { scope: "col", class: t === "Change" ? "num" : null, text: t })))),
        h(
          "tbody",
          {},
          rows.changed.map((ch) =>
            h(
              "tr",
              { "data-unit": ch.task },
              h("td", {}, unit(ch.task)),
              change(execBadge(ch.a.status), execBadge(ch.b.status), ch.status_changed, "status"),
              change(exit(ch.a.exit_code), exit(ch.b.exit_code), ch.exit_code_changed, "exit"),
              change(formatSecs(ch.a.duration_seconds), formatSecs(ch.b.duration_seconds), ch.duration_changed, "duration"),
              h("td", { class: `num ${ch.duration_changed ? (ch.duration_delta_seconds > 0 ? "slower" : "faster") : "muted"}`, "data-field": "delta" }, durationChange(ch.a.duration_seconds, ch.duration_delta_seconds), ch.duration_changed ? "" : " (noise)"),
            ),
          ),
        ),
      )
    : h("p", { class: "muted", "data-empty": "no-changes", text: "No unit changed status, exit code or duration beyond noise." });
  const list = (title, items, section) =>
    items.length
      ? h(
          "div",
          { class: "cmp-list", "data-section": section },
          h("h3", { text: `${title} (${items.length})` }),
          h(
            "ul",
            {},
            items.map((t) => h("li", { "data-unit": t.task }, unit(t.task), " ", execBadge(t.status), h("span", { class: "muted", text: ` exit ${exit(t.exit_code)} · ${formatSecs(t.duration_seconds)}` }))),
          ),
        )
      : null;
  const noise = report.noise ?? { min_seconds: 1, min_ratio: 0.25 };
  replace(
    body,
    h("div", { class: "panel-tools" }, h("label", { for: "cmp-other", class: "muted", text: "Compare with" }), select),
    h("div", { class: "cmp-sides" }, side("a", chosen, report.a, hrefRun), side("b", run, report.b, hrefRun)),
    countsLine,
    changedTable,
    list("Added in B", rows.added, "added"),
    list("Removed in B", rows.removed, "removed"),
    rows.unchanged.length
      ? h(
          "details",
          { class: "cmp-list", "data-section": "unchanged" },
          h("summary", { text: `Unchanged (${rows.unchanged.length})` }),
          h("p", { class: "mono" }, rows.unchanged.flatMap((t, i) => (i ? [", ", unit(t)] : [unit(t)]))),
        )
      : null,
    h("p", { class: "hint noise-note", text: `A duration counts as changed when it moved by at least ${formatSecs(noise.min_seconds)} and ${Math.round(noise.min_ratio * 100)}% of A's.` }),
  );
}
