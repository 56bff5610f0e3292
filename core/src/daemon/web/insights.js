// The Insights view: what the history of the chosen repository tells over
// a window (7, 30 or 90 days) against the window before — runs, success
// rate, p50/p90/max duration, disk; per unit its executions, success rate,
// p50/p90, last status and a duration sparkline; and the flaky units,
// ranked by flip rate, with the runs that show it. It reads
// `/api/history/stats?trend=true` and `/api/history/flaky`.

import * as api from "./api.js";
import { h, s, replace } from "./dom.js";
import { localDateTime, utcText } from "./format.js";
import { deltaOf, formatBytes, formatRate, formatSecs, pointsAttr, runIdOf, sortRows, sparkline, trendOf, WINDOWS, windowWords } from "./insights-logic.js";
import { execBadge } from "./task-history.js";

/** The per-unit table's right-aligned (numeric) columns. */
const NUMERIC = new Set(["Runs", "Success", "Failed", "p50", "p90", "p50 change"]);

/** The per-unit table's sortable columns and their sort keys (insights-logic.js `sortRows`). */
const SORTS = { Unit: "task", Runs: "total", Success: "success_rate", Failed: "failed", p50: "p50", p90: "p90", "p50 change": "p50_change" };

const when = (secs) => (Number.isFinite(secs) ? new Date(secs * 1000) : null);

/** A figure with its change against the previous window (a word and a tone, not colour alone). */
function card(label, value, field, trend, previous) {
  return h(
    "div",
    { class: "card stat", "data-stat": field },
    h("span", { class: "k", text: label }),
    h("span", { class: "n", "data-field": "value", text: value }),
    trend
      ? h(
          "span",
          { class: `trend t-${trend.tone}`, "data-field": "trend" },
          trend.tone === "none" ? "no previous window" : `${trend.text}${trend.word ? ` ${trend.word}` : ""}`,
          previous != null ? h("span", { class: "muted", text: ` · was ${previous}` }) : null,
        )
      : null,
  );
}

/** A unit's duration sparkline (p50 per bucket of the window), with its words for screen readers. */
function spark(series, task) {
  const width = 132;
  const height = 26;
  const g = sparkline(series, { width, height });
  if (!g.points.length) return h("span", { class: "muted", text: "no finished run" });
  const label = `p50 of ${task} over the window, from ${formatSecs(g.min)} to ${formatSecs(g.max)}, ${g.points.length} of ${(series ?? []).length} periods with a finished run`;
  return s(
    "svg",
    { class: "spark", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label, "data-points": g.points.length },
    s("title", { text: label }),
    // The window's span (20 periods), the periods with a failure, a dashed
    // line across periods without a finished run, a solid one between
    // neighbouring periods.
    s("line", { class: "spark-base", x1: 3, x2: width - 3, y1: height - 0.5, y2: height - 0.5 }),
    g.failed.map((x) => s("line", { class: "spark-fail", x1: x, x2: x, y1: 1, y2: height - 1 })),
    g.points.length > 1 ? s("polyline", { class: "spark-gap", points: pointsAttr(g.points.map((p) => [p.x, p.y])) }) : null,
    g.segments.map((seg) => (seg.length > 1 ? s("polyline", { class: "spark-line", points: pointsAttr(seg) }) : null)),
    g.points.map((p) => s("circle", { class: "spark-dot", cx: p.x, cy: p.y, r: 2 })),
  );
}

/** The insights view, drawn into `container`. */
export class InsightsView {
  /**
   * `hrefTask(unit, project)`, `hrefRun(id, unit)` link the panels;
   * `hrefWindow(since)` the window choices.
   */
  constructor(container, { hrefTask, hrefRun, hrefWindow }) {
    this.container = container;
    this.hrefTask = hrefTask;
    this.hrefRun = hrefRun;
    this.hrefWindow = hrefWindow;
    this.key = "";
    this.token = 0;
    // The per-unit table's order: the API's (most executed first) until a header is clicked.
    this.sort = { key: "", dir: "desc" };
  }

  /** Sorts the per-unit table by `key` (again: the other way), keeping the keyboard on its header. */
  sortBy(key) {
    const same = this.sort.key === key;
    this.sort = { key, dir: same ? (this.sort.dir === "desc" ? "asc" : "desc") : key === "task" ? "asc" : "desc" };
    this.draw();
    this.container.querySelector(`button[data-sort="${key}"]`)?.focus();
  }

  /** A column header: a button when the column sorts, with aria-sort while it does. */
  header(label) {
    const key = SORTS[label];
    const cls = NUMERIC.has(label) ? "num" : null;
    if (!key) return h("th", { scope: "col", class: cls, text: label });
    const on = this.sort.key === key;
    const button = h(
      "button",
      { type: "button", class: "sort", "data-sort": key, title: `Sort by ${label}` },
      label,
      h("span", { class: "sort-mark", "aria-hidden": "true", text: on ? (this.sort.dir === "asc" ? " ▲" : " ▼") : "" }),
    );
    button.addEventListener("click", () => this.sortBy(key));
    return h("th", { scope: "col", class: cls, "aria-sort": on ? (this.sort.dir === "asc" ? "ascending" : "descending") : null }, button);
  }

  /** Shows `scope` ({label, project}: "" for every repository) over `since`; not again when unchanged. */
  async show({ label, project, since }, force = false) {
    const key = `${project}|${since}`;
    if (key === this.key && !force) return;
    this.key = key;
    const token = ++this.token;
    const head = this.head(label, since);
    replace(this.container, head, h("div", { class: "loading", text: "Loading insights…" }));
    let stats;
    let flaky;
    try {
      [stats, flaky] = await Promise.all([api.stats({ project, since, trend: true }), api.flaky({ project, since })]);
    } catch (e) {
      if (token !== this.token) return;
      this.key = "";
      replace(
        this.container,
        head,
        h("div", { class: "empty", "data-empty": "insights-error" }, h("h2", { text: "The insights could not be read" }), h("p", { text: e.message })),
      );
      throw e;
    }
    if (token !== this.token) return;
    this.last = { label, project, since, stats, flaky };
    this.draw();
  }

  /** Draws the last answers again (the time zone changed). */
  draw() {
    if (!this.last || !this.key) return;
    const { label, project, since, stats, flaky } = this.last;
    replace(this.container, this.head(label, since), this.summary(stats, since), this.perTask(stats, !project), this.flaky(flaky, !project));
  }

  /** A repository with no run at all: nothing to ask the daemon. */
  showEmpty({ label, since }) {
    this.key = "";
    this.token += 1;
    replace(
      this.container,
      this.head(label, since),
      h("div", { class: "empty", "data-empty": "insights" }, h("h2", { text: "No runs recorded yet" }), h("p", {}, "Nothing has been recorded for ", h("span", { class: "mono", text: label }), ".")),
    );
  }

  /** The title, the scope and the window choice (links: the window is in the URL). */
  head(label, since) {
    return h(
      "div",
      { class: "insights-head" },
      h("h1", { class: "pane-title", id: "insights-title" }, "Insights ", h("span", { class: "mono muted", text: label })),
      h("span", { class: "spacer" }),
      h(
        "nav",
        { class: "window-pick", "aria-label": "Window" },
        h("span", { class: "muted", text: "Runs started in the last" }),
        WINDOWS.map((w) => h("a", { class: "btn small", href: this.hrefWindow(w), "aria-current": w === since ? "true" : null, "data-window": w, text: windowWords(w) })),
      ),
    );
  }

  /** The run cards and the unit cards, each against the previous window. */
  summary(stats, since) {
    const runs = stats.runs;
    const tasks = stats.tasks;
    const prev = stats.previous;
    const t = stats.trend;
    const from = when(stats.window?.from);
    const to = when(stats.window?.to);
    const pr = prev?.runs;
    const pt = prev?.tasks;
    return h(
      "section",
      { class: "insights-section", "aria-labelledby": "ins-runs" },
      h(
        "p",
        { class: "hint", "data-field": "window" },
        h("span", { title: utcText(from), text: localDateTime(from) }),
        " – ",
        h("span", { title: utcText(to), text: localDateTime(to) }),
        prev ? `, against the ${windowWords(since)} before` : "",
      ),
      h("h2", { id: "ins-runs", class: "sub", text: "Runs" }),
      h(
        "div",
        { class: "cards" },
        card("runs", String(runs.total), "runs", trendOf("count", t?.runs_delta), pr?.total),
        card("success rate", formatRate(runs.success_rate), "success-rate", trendOf("rate", t?.success_rate_delta), pr ? formatRate(pr.success_rate) : null),
        card("p50 duration", formatSecs(runs.p50_seconds), "p50", trendOf("duration", t?.p50_delta_seconds), pr ? formatSecs(pr.p50_seconds) : null),
        card("p90 duration", formatSecs(runs.p90_seconds), "p90", trendOf("duration", deltaOf(pr?.p90_seconds, runs.p90_seconds)), pr ? formatSecs(pr.p90_seconds) : null),
        card("max duration", formatSecs(runs.max_seconds), "max", trendOf("duration", deltaOf(pr?.max_seconds, runs.max_seconds)), pr ? formatSecs(pr.max_seconds) : null),
        card("disk", formatBytes(runs.disk_bytes), "disk", null, null),
      ),
      h("p", { class: "hint", "data-field": "run-counts", text: `${runs.success} succeeded · ${runs.failed} failed · ${runs.running} running · ${runs.other} other` }),
      h("h2", { class: "sub", text: "Unit executions" }),
      h(
        "div",
        { class: "cards" },
        card("executions", String(tasks.total), "executions", trendOf("count", t?.executions_delta), pt?.total),
        card("success rate", formatRate(tasks.success_rate), "task-success-rate", trendOf("rate", t?.task_success_rate_delta), pt ? formatRate(pt.success_rate) : null),
        card("p50 duration", formatSecs(tasks.p50_seconds), "task-p50", trendOf("duration", t?.task_p50_delta_seconds), pt ? formatSecs(pt.p50_seconds) : null),
        card("p90 duration", formatSecs(tasks.p90_seconds), "task-p90", trendOf("duration", deltaOf(pt?.p90_seconds, tasks.p90_seconds)), pt ? formatSecs(pt.p90_seconds) : null),
      ),
    );
  }

  /** One row per unit: executions, success rate, p50/p90, last status, sparkline, p50 change. */
  perTask(stats, allProjects) {
    const list = stats.per_task ?? [];
    const body = list.length
      ? h(
          "div",
          { class: "table-scroll" },
          h(
            "table",
            { class: "data-table per-task" },
            h("caption", { class: "sr-only", text: "Units, most executed first" }),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Unit", ...(allProjects ? ["Repository"] : []), "Runs", "Success", "Failed", "p50", "p90", "Last", "Duration (p50 over the window)", "p50 change"].map((c) => this.header(c)),
              ),
            ),
            h(
              "tbody",
              {},
              sortRows(list, this.sort.key, this.sort.dir).map((row) => {
                const tr = trendOf("duration", row.trend?.p50_delta_seconds);
                const last = when(row.last_started_at);
                return h(
                  "tr",
                  { "data-task": row.task, "data-project": row.project },
                  h("td", {}, h("a", { class: "mono", href: this.hrefTask(row.task, row.project), title: `The history of ${row.task} across runs`, text: row.task })),
                  allProjects ? h("td", { class: "mono", text: row.project }) : null,
                  h("td", { class: "num", "data-field": "total", text: String(row.total) }),
                  h("td", { class: "num", "data-field": "success-rate", text: formatRate(row.success_rate) }),
                  h("td", { class: `num${row.failed ? " n-failed" : ""}`, "data-field": "failed", text: String(row.failed) }),
                  h("td", { class: "num", "data-field": "p50", text: formatSecs(row.p50_seconds) }),
                  h("td", { class: "num", "data-field": "p90", text: formatSecs(row.p90_seconds) }),
                  h("td", { "data-field": "last", title: last ? `${utcText(last)} · ${row.last_run}` : null }, execBadge(row.last_status)),
                  h("td", { class: "spark-cell" }, spark(row.series, row.task)),
                  h("td", { class: `num t-${tr.tone}`, "data-field": "p50-change", text: tr.tone === "none" ? "–" : `${tr.text}${tr.word ? ` ${tr.word}` : ""}` }),
                );
              }),
            ),
          ),
        )
      : h("div", { class: "empty", "data-empty": "per-task" }, h("h2", { text: "No unit ran in this window" }), h("p", { text: "Choose a longer window, or another repository." }));
    return h(
      "section",
      { class: "insights-section", "aria-labelledby": "ins-units" },
      h("h2", { id: "ins-units", class: "sub", text: `Units (${list.length})` }),
      list.length ? h("p", { class: "hint", text: "Duration: the p50 of each twentieth of the window (dashed across periods without a finished run); a red mark where an execution failed. A unit's name opens its history." }) : null,
      body,
    );
  }

  /** The flaky units, flakiest first, each with the runs where its outcome flipped. */
  flaky(report, allProjects) {
    const list = report.tasks ?? [];
    const body = list.length
      ? h(
          "ol",
          { class: "flaky-list" },
          list.map((f) => {
            const pct = Math.round(f.flip_rate * 1000) / 10;
            return h(
              "li",
              { class: "flaky", "data-task": f.task, "data-project": f.project },
              h(
                "div",
                { class: "flaky-line" },
                h("a", { class: "mono flaky-name", href: this.hrefTask(f.task, f.project), title: `The history of ${f.task} across runs`, text: f.task }),
                allProjects ? h("span", { class: "mono muted", text: f.project }) : null,
                s(
                  "svg",
                  { class: "meter", viewBox: "0 0 100 8", width: 100, height: 8, "aria-hidden": "true" },
                  s("rect", { class: "meter-bg", x: 0, y: 0, width: 100, height: 8, rx: 2 }),
                  s("rect", { class: "meter-fill", x: 0, y: 0, width: Math.max(1, Math.min(100, pct)), height: 8, rx: 2 }),
                ),
                h("strong", { "data-field": "flip-rate", text: `${formatRate(f.flip_rate)} flip rate` }),
                h("span", { class: "muted", "data-field": "flips", text: `${f.flips} flips in ${f.executions} executions · ${f.failed} failed · ${f.success} succeeded` }),
                h("span", { class: "muted" }, "last ", execBadge(f.last_status)),
              ),
              h(
                "ul",
                { class: "flip-runs", "aria-label": `Runs where ${f.task} flipped, newest first` },
                (f.runs ?? []).map((r) => {
                  const started = when(r.started_at);
                  const id = runIdOf(r.run, f.project);
                  return h(
                    "li",
                    {},
                    h("a", { class: "flip-run", href: this.hrefRun(id, f.task, f.project), "data-run": id, title: `${utcText(started)}${r.exit_code != null ? ` · exit ${r.exit_code}` : ""}` }, execBadge(r.status), h("span", { class: "mono", text: r.run }), h("span", { class: "muted", text: localDateTime(started) })),
                  );
                }),
              ),
            );
          }),
        )
      : h(
          "div",
          { class: "empty", "data-empty": "flaky" },
          h("h2", { text: "No flaky unit" }),
          h("p", { text: "No unit both failed and succeeded in this window." }),
        );
    return h(
      "section",
      { class: "insights-section", "aria-labelledby": "ins-flaky" },
      h("h2", { id: "ins-flaky", class: "sub", text: `Flaky units (${list.length})` }),
      h("p", { class: "hint", text: "A flip is an execution whose outcome (success or failure) differs from the one before; ranked by flips per execution." }),
      body,
    );
  }
}
