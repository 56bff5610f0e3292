// A unit's history across runs (`GET /api/history/tasks/{name}`): every
// execution newest first with its status in words, exit code, duration and
// run link, a duration chart (oldest left), and "Failed only".

import * as api from "./api.js";
import { h, s, replace } from "./dom.js";
import { localDateTime, utcText } from "./format.js";
import { durationBars, execStatus, executionSummary, formatSecs, runIdOf } from "./insights-logic.js";

/** Executions read at first, then at most (the API's limit). */
const LIMITS = [50, 200, 1000];

/** An execution status: glyph and word, coloured. */
export function execBadge(status) {
  const st = execStatus(status);
  return h("span", { class: `xbadge x-${st.status}`, "data-status": st.status, text: `${st.glyph} ${st.label}` });
}

/**
 * The chart: one bar per execution, a link to its run (for the mouse: the
 * table below has the same links in the tab order), its facts in the tooltip.
 */
function chart(executions, hrefRun, currentRun, p50) {
  const width = 560;
  const height = 90;
  const { bars, max } = durationBars(executions, { width, height });
  // The p50 of the listed executions, as a dashed level across the bars.
  const p50y = p50 != null && max > 0 ? Math.round((height - (p50 / max) * (height - 2)) * 10) / 10 : null;
  const svg = s(
    "svg",
    { class: "dur-chart", viewBox: `0 0 ${width} ${height + 16}`, role: "group", "aria-label": `Durations of the ${bars.length} executions listed, oldest left; the longest ${formatSecs(max)}` },
    s("line", { class: "axis", x1: 0, y1: height + 0.5, x2: width, y2: height + 0.5 }),
    s("text", { class: "axis-label", x: 2, y: 10, text: formatSecs(max) }),
    s("text", { class: "axis-label", x: 2, y: height + 13, text: "oldest" }),
    s("text", { class: "axis-label", x: width - 2, y: height + 13, "text-anchor": "end", text: "newest" }),
    bars.map((b) => {
      const e = b.execution;
      const st = execStatus(e.status);
      const id = runIdOf(e.run, e.project);
      return s(
        "a",
        { href: hrefRun(id), class: "bar-link", "data-run": id, tabindex: "-1" },
        s("title", { text: `${e.run} · ${st.label}${e.exit_code != null ? ` (exit ${e.exit_code})` : ""} · ${formatSecs(e.duration_seconds)} · ${localDateTime(startOf(e))}` }),
        s("rect", { class: `bar x-${st.status}${id === currentRun ? " current" : ""}`, x: b.x, y: b.y, width: b.w, height: b.h, rx: 1 }),
      );
    }),
    p50y == null
      ? null
      : [
          s("line", { class: "p50-line", x1: 0, y1: p50y, x2: width, y2: p50y }),
          s("text", { class: "axis-label p50-label", x: width - 2, y: Math.max(10, p50y - 3), "text-anchor": "end", text: `p50 ${formatSecs(p50)}` }),
        ],
  );
  return svg;
}

function startOf(e) {
  return Number.isFinite(e.started_at) ? new Date(e.started_at * 1000) : null;
}

/**
 * Fills `body` with the history of `task` (in `project`, "" for every
 * project). `failedOnly` reads `status=failed`; `hrefRun(id)` is a run's
 * link; `onFailedOnly(on)` changes the route. Returns when drawn; a newer
 * call wins (`isCurrent()` says whether this one still is).
 */
export async function renderTaskHistory(body, { task, project, failedOnly, currentRun, hrefRun, onFailedOnly, isCurrent, limit = LIMITS[0] }) {
  replace(body, h("div", { class: "loading", text: `Loading the history of ${task}…` }));
  let report;
  try {
    report = await api.taskHistory(task, { project, status: failedOnly ? "failed" : "", limit });
  } catch (e) {
    if (!isCurrent()) return;
    replace(
      body,
      h(
        "div",
        { class: "empty", "data-empty": e.status === 404 ? "task-missing" : "task-error" },
        h("h2", { text: e.status === 404 ? `No history of ${task}` : `The history of ${task} could not be read` }),
        h("p", { text: e.message }),
      ),
    );
    return;
  }
  if (!isCurrent()) return;
  const executions = report.executions ?? [];
  const sum = executionSummary(executions);
  const toggle = h("button", { type: "button", class: "btn small", "aria-pressed": String(Boolean(failedOnly)), "data-action": "failed-only", text: "Failed only" });
  toggle.addEventListener("click", () => onFailedOnly(!failedOnly));
  const more =
    executions.length >= limit && limit < LIMITS[LIMITS.length - 1]
      ? h("button", { type: "button", class: "btn small", "data-action": "more-executions", text: `Show up to ${LIMITS.find((l) => l > limit)}` })
      : null;
  more?.addEventListener("click", () =>
    renderTaskHistory(body, { task, project, failedOnly, currentRun, hrefRun, onFailedOnly, isCurrent, limit: LIMITS.find((l) => l > limit) }),
  );
  const scope = project ? project : "every repository";
  const allProjects = !project;
  const summary = h(
    "p",
    { class: "panel-summary", "data-field": "task-summary" },
    `${executions.length} ${failedOnly ? "failed " : ""}execution${executions.length === 1 ? "" : "s"}${executions.length >= limit ? " (the newest)" : ""} · `,
    h("span", { class: "x-success", text: `✓ ${sum.success} success` }),
    " · ",
    h("span", { class: "x-failed", text: `✗ ${sum.failed} failed` }),
    sum.other ? ` · ${sum.other} other` : "",
    ` · p50 ${formatSecs(sum.p50)} · p90 ${formatSecs(sum.p90)}`,
  );
  const rows = executions.map((e) => {
    const id = runIdOf(e.run, e.project);
    const current = id === currentRun;
    const started = startOf(e);
    return h(
      "tr",
      { "data-run": id, "data-status": execStatus(e.status).status, class: current ? "current" : null },
      h("td", { title: utcText(started), text: localDateTime(started) }),
      h("td", { class: "mono" }, h("a", { href: hrefRun(id), text: e.run }), current ? h("span", { class: "tag", text: "this run" }) : null),
      allProjects ? h("td", { class: "mono", text: e.project }) : null,
      h("td", {}, execBadge(e.status)),
      h("td", { class: "num", "data-field": "exit", text: e.exit_code == null ? "–" : String(e.exit_code) }),
      h("td", { class: "num", "data-field": "duration", text: formatSecs(e.duration_seconds) }),
    );
  });
  const head = ["Started", "Run", ...(allProjects ? ["Repository"] : []), "Status", "Exit", "Duration"];
  replace(
    body,
    h("p", { class: "muted panel-scope" }, "In ", h("span", { class: "mono", text: scope }), ", newest first."),
    h("div", { class: "panel-tools" }, toggle, h("span", { class: "spacer" }), more),
    summary,
    executions.length
      ? [
          chart(executions, hrefRun, currentRun, sum.p50),
          h(
            "table",
            { class: "data-table exec-table" },
            h("caption", { class: "sr-only", text: `Executions of ${task}, newest first` }),
            h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", class: t === "Exit" || t === "Duration" ? "num" : null, text: t })))),
            h("tbody", {}, rows),
          ),
        ]
      : h(
          "div",
          { class: "empty", "data-empty": "executions" },
          h("h2", { text: failedOnly ? `${task} never failed` : `No execution of ${task}` }),
          h("p", { text: failedOnly ? "No execution of it is recorded as failed." : "Nothing is recorded for it yet." }),
        ),
  );
}
