// The run detail pane: header (status, times, counters, error), the
// dependency graph with node colours replayed from the events, and the
// event timeline. A missing graph (404) is a notice, not a failure.

import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { activeMs, formatDuration, localDateTime, parseTime, plural, utcText, wallMs } from "./format.js";
import { GanttView } from "./gantt.js";
import { GraphView, legend } from "./graph.js";
import { validateGraph } from "./layout.js";
import { badge } from "./runs.js";
import { UnitSelection } from "./selection.js";
import { deriveUnits, nodeGlyph, nodeStatusLabel, segmentAttempts, settleUnits } from "./status.js";
import { Timeline } from "./timeline.js";

/** The run's status once a run marker event has arrived. */
const RUN_STATUS_AFTER = {
  "run.resumed": "running",
  "run.stopped": "stopped",
  "run.completed": "completed",
  "run.failed": "failed",
};

/** Unit and task events read to colour the graph, at most. */
const STATUS_EVENTS_CAP = 20000;

function fact(label, value, attrs = {}) {
  return h("div", {}, h("dt", { text: label }), h("dd", { ...attrs, text: value }));
}

/**
 * The detail pane with no run selected: an overview of the repository
 * (`overview`: {label, counts, runs, last}) and the keys, or, with no runs
 * at all, what will appear here.
 */
export function renderNoRun(container, hasRuns, overview) {
  if (!hasRuns || !overview) {
    replace(
      container,
      h(
        "div",
        { class: "empty", "data-empty": "detail" },
        h("h2", { text: "No run to show" }),
        h("p", { text: "When a run is recorded, its dependency graph and event timeline appear here." }),
      ),
    );
    return;
  }
  const card = (label, n, status) =>
    h(
      "div",
      { class: "card" },
      h("span", { class: "n", text: n }),
      h("span", { class: "k" }, status ? h("span", { class: `swatch ${status}`, "aria-hidden": "true" }) : null, label),
    );
  const key = (keys, what) => [h("dt", {}, keys.map((k) => h("kbd", { text: k }))), h("dd", { text: what })];
  replace(
    container,
    h(
      "div",
      { class: "overview", "data-empty": "detail" },
      h("h2", { text: "Select a run to view details" }),
      h("p", { class: "where", text: overview.label }),
      h(
        "div",
        { class: "cards" },
        card("runs", overview.runs),
        ["running", "completed", "failed", "stopped"].map((st) => card(st, overview.counts[st] ?? 0, st)),
      ),
      overview.last ? h("p", { class: "hint", text: `Last run started ${overview.last}.` }) : null,
      h(
        "dl",
        { class: "keys", "aria-label": "Keyboard" },
        key(["j", "k"], "next / previous run"),
        key(["Enter"], "open the focused run; on a graph unit, show only its events"),
        key(["Esc"], "clear the unit filter, then close the run"),
      ),
    ),
  );
}

/** The header of a run. */
function header(run, now, markerCount) {
  const wall = wallMs(run, now);
  const active = activeMs(run, now);
  const started = parseTime(run.started_at);
  const facts = [
    fact("Repository", run.repo_path, { class: "mono" }),
    fact("Started", localDateTime(started), { title: utcText(started) }),
    fact("Duration", run.resume_count > 0 || markerCount > 0 ? `${formatDuration(wall)} wall · ${formatDuration(active)} active` : formatDuration(wall), {
      "data-field": "duration",
    }),
    fact("Units", `${run.completed_units}/${run.total_units} complete`, { "data-field": "units" }),
  ];
  if (run.failed_units > 0) facts.push(fact("Failed", String(run.failed_units)));
  if (run.blocked_units > 0) facts.push(fact("Blocked", String(run.blocked_units)));
  if (run.resume_count > 0) facts.push(fact("Resumed", `${run.resume_count}×`, { "data-field": "resumes" }));
  facts.push(fact("Parallelism", String(run.parallelism)));
  if (run.tasks_dir) facts.push(fact("Tasks dir", run.tasks_dir, { class: "mono" }));
  facts.push(fact("Events", String(run.event_count ?? run.last_seq ?? 0)));
  return h(
    "header",
    { class: "run-head" },
    h(
      "h2",
      { class: "run-title" },
      h("span", { class: "muted", text: "Run" }),
      h("span", { class: "mono", "data-field": "run-id", text: run.id }),
      badge(run.status),
      run.dry_run ? h("span", { class: "tag", text: "dry run" }) : null,
    ),
    h("dl", { class: "facts" }, facts),
    run.error ? h("pre", { class: "run-errtext", "data-field": "error", text: run.error }) : null,
  );
}

/** Whether an event changes a unit's state in the graph. */
const movesUnits = (e) => e.type.startsWith("unit.") || e.type === "task.started" || e.type === "task.completed" || e.type === "task.retry" || e.type === "pr.created";

/** A run's detail view, drawn into `container`. */
export class RunDetail {
  constructor(container, { onUnit, onRunChange, onQuery, hrefFor, onSeq, actions } = {}) {
    this.container = container;
    // Buttons shown under the run's header (compare, a unit's history: panels.js).
    this.actions = actions ?? null;
    // The permalink of one event of the shown run, and how to open one.
    this.hrefFor = hrefFor ?? null;
    this.onSeq = onSeq ?? (() => {});
    this.onUnit = onUnit ?? (() => {});
    this.onQuery = onQuery ?? (() => {});
    this.onRunChange = onRunChange ?? (() => {});
    this.graph = null;
    this.timeline = null;
    this.source = null;
    this.token = 0;
    this.gantt = null;
    // The unit selected in the graph, the Gantt or the timeline (the URL's `unit=`).
    this.selection = new UnitSelection((u) => this.onUnit(u));
  }

  /** Stops following the run's stream. */
  close() {
    this.source?.close();
    this.source = null;
    this.setLive("");
  }

  /** The stream's state beside the event count: "", "live", "reconnecting". */
  setLive(state) {
    if (!this.liveEl) return;
    this.liveEl.className = `live-tag ${state}`;
    this.liveEl.textContent = state === "live" ? "live" : state === "reconnecting" ? "reconnecting…" : "";
    this.liveEl.hidden = state === "";
  }

  /** Clears the pane (no run selected). */
  clear(hasRuns, overview) {
    this.token += 1;
    this.close();
    this.graph?.destroy();
    this.graph = null;
    this.dropGantt();
    this.timeline = null;
    renderNoRun(this.container, hasRuns, overview);
  }

  /**
   * Shows the run `id` (a newer call supersedes an unfinished one). A
   * failure leaves a notice in the pane and is rethrown for the banner.
   */
  async show(id, options = {}) {
    const token = this.token + 1;
    try {
      await this.load(id, options);
    } catch (e) {
      if (token === this.token) {
        replace(
          this.container,
          h(
            "div",
            { class: "empty", "data-empty": "run-error" },
            h("h2", {}, "Could not load run ", h("span", { class: "mono", text: id })),
            h("p", { text: e.message }),
          ),
        );
      }
      throw e;
    }
  }

  async load(id, { unit = "", query = "", seq = 0 } = {}) {
    const token = ++this.token;
    this.close();
    this.graph?.destroy();
    this.dropGantt();
    replace(this.container, h("div", { class: "loading", text: "Loading run…" }));
    let run;
    try {
      run = await api.run(id);
    } catch (e) {
      if (token !== this.token) return;
      if (e.status === 404) {
        replace(
          this.container,
          h(
            "div",
            { class: "empty", "data-empty": "missing-run" },
            h("h2", {}, "Run ", h("span", { class: "mono", text: id }), " not found"),
            h("p", { text: "It may have been removed by retention (retention_days)." }),
          ),
        );
        return;
      }
      throw e;
    }
    const [rawGraph, runEvents] = await Promise.all([api.graph(id), api.allEvents(id, "run")]);
    if (token !== this.token) return;
    const graph = validateGraph(rawGraph);
    // Node colours and task blocks need the unit and task events; without
    // a graph there is nothing to colour, and they are not read.
    const [unitEvents, taskStarted, taskDone, retries] = graph
      ? await Promise.all([
          api.allEvents(id, "unit", STATUS_EVENTS_CAP),
          api.allEvents(id, "task.started", STATUS_EVENTS_CAP),
          api.allEvents(id, "task.completed", STATUS_EVENTS_CAP),
          api.allEvents(id, "task.retry", STATUS_EVENTS_CAP),
        ])
      : [[], [], [], []];
    if (token !== this.token) return;
    const segments = segmentAttempts(runEvents);
    this.run = run;
    this.onRunChange(run, false);
    this.graphData = graph;
    this.runEvents = runEvents;
    this.statusEvents = [...unitEvents, ...taskStarted, ...taskDone, ...retries];
    const units = settleUnits(deriveUnits(graph?.nodes ?? [], this.statusEvents), run.status);

    const graphBox = h("div", { class: graph ? "graph-box" : "graph-box none", "data-section": "graph" });
    // The graph as a table: the same units and states, for screen readers
    // and for copying.
    const tableButton = graph
      ? h("button", { type: "button", class: "btn small", "aria-pressed": "false", "aria-controls": "unit-table", "data-action": "table", text: "Table" })
      : null;
    const tableBox = h("div", { class: "unit-table-box", id: "unit-table", hidden: true });
    const fitButton = graph ? h("button", { type: "button", class: "btn small", text: "Fit", title: "Fit the graph in view" }) : null;
    const unitSelect = h("select", { id: "tl-unit", class: "btn small" });
    // Attempts of a resumed run (one run id across stop/resume): pick one.
    const attempts = segments.attempts;
    const attemptSelect =
      attempts.length > 1
        ? h(
            "select",
            { id: "tl-attempt", class: "btn small" },
            h("option", { value: "0", text: `all ${attempts.length}` }),
            attempts.map((a) => h("option", { value: String(a.n), text: `${a.n}` })),
          )
        : null;
    attemptSelect?.addEventListener("change", () => this.applyFilter({ attempt: Number(attemptSelect.value) }));
    const familySelect = h("select", { id: "tl-family", class: "btn small" });
    const count = h("span", { class: "muted", "data-field": "event-count" });
    this.liveEl = h("span", { class: "live-tag", "data-field": "live", hidden: true });
    const search = h("input", {
      type: "search",
      id: "tl-search",
      class: "search",
      placeholder: "Search events   unit:api  type:task.retry  text      ( / )",
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": "tl-search-help",
    });
    const searchHelp = h("span", { id: "tl-search-help", class: "sr-only", text: "Tokens combine: unit:<name>, type:<family>, and words looked for in the type, unit, error and payload. Press / to come here." });
    const hideButton = h("button", { type: "button", class: "btn small", "aria-pressed": "true", "data-action": "hide", title: "Hide the events that do not match the search (off: highlight the matches)", text: "Hide non-matches" });
    const failuresButton = h("button", { type: "button", class: "btn small", "aria-pressed": "false", "data-action": "failures", text: "Failures only" });
    const firstFailure = h("button", { type: "button", class: "btn small", "data-action": "first-failure", text: "First failure" });
    // The whole run as NDJSON, streamed by the daemon (one event a line).
    const download = h("a", {
      class: "btn small",
      href: api.eventsNdjsonUrl(run.id),
      download: "",
      "data-action": "download",
      title: "Download every event of this run, one JSON object a line",
      text: "Download NDJSON",
    });
    const timelineBox = h("div", { class: "detail-body" });
    const { box: viz, gantt: ganttBox, order: orderButton } = this.vizBox(graph, graphBox, tableBox);
    this.headBox = h("div", { class: "head-box" }, header(run, Date.now(), segments.markers.size));
    replace(
      this.container,
      this.headBox,
      this.actions,
      h(
        "div",
        { class: "section-head" },
        h("h2", { text: "Dependency graph" }),
        graph ? legend() : null,
        h("span", { class: "spacer" }),
        tableButton,
        fitButton,
      ),
      viz,
      h(
        "div",
        { class: "section-head events-head" },
        h("h2", { text: "Events" }),
        count,
        this.liveEl,
        h("span", { class: "spacer" }),
        failuresButton,
        firstFailure,
        download,
      ),
      h(
        "div",
        { class: "toolbar", role: "search" },
        h("label", { for: "tl-search", class: "sr-only", text: "Search events" }),
        search,
        searchHelp,
        hideButton,
        attemptSelect ? h("label", { for: "tl-attempt", class: "muted", text: "Attempt" }) : null,
        attemptSelect,
        h("label", { for: "tl-family", class: "muted", text: "Type" }),
        familySelect,
        h("label", { for: "tl-unit", class: "muted", text: "Unit" }),
        unitSelect,
      ),
      timelineBox,
    );
    if (graph) {
      this.graph = new GraphView(graphBox, { onSelect: (u) => this.onUnit(u) });
      this.graph.render(graph, units);
      this.selection.attach(this.graph);
      fitButton?.addEventListener("click", () => this.graph.fit());
      this.tableBox = tableBox;
      this.renderUnitTable(units);
      tableButton.addEventListener("click", () => {
        const on = tableButton.getAttribute("aria-pressed") !== "true";
        tableButton.setAttribute("aria-pressed", String(on));
        tableBox.hidden = !on;
        graphBox.hidden = on;
        if (!on) this.graph.fit();
      });
    } else {
      this.graph = null;
      replace(
        graphBox,
        h("div", { class: "graph-note", "data-empty": "graph" }, "No dependency graph was recorded for this run (its orch.started event carried none)."),
      );
    }
    this.countEl = count;
    this.timeline = new Timeline(timelineBox, {
      run,
      segments,
      runEvents: this.runEvents,
      onUnitFilter: (u) => this.onUnit(u),
      onRender: () => this.showCount(),
      hrefFor: this.hrefFor,
    });
    await this.timeline.open({ seq });
    if (token !== this.token) return;
    const { families, units: seenUnits } = this.timeline.facets();
    const allUnits = [...new Set([...(graph?.nodes ?? []).map((n) => n.id), ...seenUnits])].sort();
    const option = (value, label) => h("option", { value, text: label });
    replace(familySelect, option("", "all"), families.map((f) => option(f, f)));
    replace(unitSelect, option("", "all"), allUnits.map((u) => option(u, u)));
    unitSelect.value = unit;
    familySelect.addEventListener("change", () => this.applyFilter({ family: familySelect.value }));
    let typing = null;
    search.value = query;
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        this.applyFilter({ query: search.value });
        this.onQuery(search.value);
      }, 150);
    });
    search.addEventListener("keydown", async (ev) => {
      // Enter / Shift+Enter: the next / previous match in the whole run.
      if (ev.key === "Enter" && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        if (this.timeline.filter.query !== search.value) {
          clearTimeout(typing);
          this.onQuery(search.value);
          await this.applyFilter({ query: search.value });
        }
        const seq = await this.timeline.findMatch(ev.shiftKey ? -1 : 1).catch(() => 0);
        if (!seq && this.timeline.searching() && this.countEl) {
          // Said where the count is, for two seconds.
          this.countEl.textContent = ev.shiftKey ? "No earlier match in the run" : "No later match in the run";
          setTimeout(() => this.showCount(), 2000);
        }
        return;
      }
      if (ev.key === "Escape" && search.value) {
        ev.stopPropagation();
        search.value = "";
        this.applyFilter({ query: "" });
        this.onQuery("");
      }
    });
    hideButton.addEventListener("click", () => {
      const on = hideButton.getAttribute("aria-pressed") !== "true";
      hideButton.setAttribute("aria-pressed", String(on));
      this.applyFilter({ hide: on });
    });
    this.searchEl = search;
    failuresButton.addEventListener("click", () => {
      const on = failuresButton.getAttribute("aria-pressed") !== "true";
      failuresButton.setAttribute("aria-pressed", String(on));
      this.applyFilter({ failures: on });
    });
    firstFailure.addEventListener("click", async () => {
      const found = await this.timeline.jumpToFirstFailure().catch(() => false);
      if (!found) {
        firstFailure.textContent = "No failure";
        setTimeout(() => (firstFailure.textContent = "First failure"), 2000);
      }
    });
    unitSelect.addEventListener("change", () => this.onUnit(unitSelect.value));
    this.unitSelect = unitSelect;
    this.applyFilter({ unit, query });
    this.follow(token);
    this.showGantt(token, ganttBox, orderButton);
  }

  /**
   * The graph (or its table) beside the Gantt: `{box, gantt, order}`, the
   * Gantt's container and its "by level" switch (none without a graph).
   */
  vizBox(graph, graphBox, tableBox) {
    const gantt = h("div", { class: "gantt", "data-section": "gantt" }, h("div", { class: "loading", text: "Loading the waterfall…" }));
    const order = graph
      ? h("button", { type: "button", class: "btn small", "aria-pressed": "false", "data-action": "gantt-order", title: "Order the rows by graph level (off: by start)", text: "By level" })
      : null;
    const box = h(
      "div",
      { class: graph ? "viz" : "viz no-graph" },
      h("div", { class: "viz-graph" }, graphBox, tableBox),
      h("div", { class: "viz-gantt" }, h("div", { class: "gantt-head" }, h("h2", { text: "Waterfall" }), h("span", { class: "spacer" }), this.selection.chip, order), gantt),
    );
    return { box, gantt, order };
  }

  /**
   * Reads the per-unit summaries (one request, whatever the run's size)
   * and draws the Gantt; a failure leaves a notice there, not in the pane.
   */
  async showGantt(token, box, orderButton) {
    let units;
    try {
      units = await api.units(this.run.id);
    } catch (e) {
      if (token === this.token) replace(box, h("div", { class: "gantt-empty", "data-empty": "gantt-error", text: `The waterfall could not be read: ${e.message}` }));
      return;
    }
    if (token !== this.token) return;
    this.gantt = new GanttView(box, { onSelect: (u) => this.onUnit(u), onHover: (u) => this.graph?.highlight(u) });
    this.gantt.render({ units, run: this.run, markers: this.timeline.segments.markers, levels: this.graphData?.levels });
    this.selection.attach(this.gantt);
    orderButton?.addEventListener("click", () => {
      const on = orderButton.getAttribute("aria-pressed") !== "true";
      orderButton.setAttribute("aria-pressed", String(on));
      this.gantt.setOrder(on ? "level" : "start");
    });
  }

  /** Re-reads the unit summaries after live events, at most every second. */
  refreshGantt(token) {
    if (!this.gantt || this.ganttTimer) return;
    this.ganttTimer = setTimeout(async () => {
      this.ganttTimer = null;
      try {
        const units = await api.units(this.run.id);
        if (token === this.token) this.gantt?.update({ units, run: this.run, markers: this.timeline.segments.markers });
      } catch {
        // The next event retries.
      }
    }, 1000);
  }

  /** Forgets the Gantt and the views of the selection (another run, or none). */
  dropGantt() {
    this.gantt?.destroy();
    this.gantt = null;
    this.selection.detach();
    clearTimeout(this.ganttTimer);
    this.ganttTimer = null;
  }

  /**
   * Scrolls the timeline to the first loaded event of `unit`; not when
   * the unit's window starts after its first event (a huge run: the
   * reader stays at its newest events and scrolls up for more).
   */
  revealUnit(unit) {
    if (this.timeline?.remote && this.timeline.moreBefore) return;
    const scroller = this.timeline?.scroller;
    const row = this.timeline?.rowOfUnit(unit);
    if (!scroller || !row) return;
    scroller.scrollTop += row.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
  }

  /**
   * Follows the run's live stream from the last loaded seq: new rows,
   * node colours, markers and the header's counters. EventSource
   * reconnects by itself with Last-Event-ID (the daemon resumes after it),
   * and the timeline drops seqs it has, so a reconnect adds no duplicate.
   */
  follow(token) {
    if (typeof EventSource !== "function") return;
    const id = this.run.id;
    const source = new EventSource(`api/history/runs/${encodeURIComponent(id)}/stream?after=${this.timeline.seen}`);
    this.source = source;
    let queue = [];
    let scheduled = false;
    const flush = () => {
      scheduled = false;
      if (token !== this.token) return;
      const batch = queue;
      queue = [];
      let segments = null;
      let unitsMoved = false;
      let runMoved = false;
      for (const e of batch) {
        if (e.type === "unit.failed") this.toastFailure(e);
        if (e.type.startsWith("run.")) {
          // The run row is re-read below; meanwhile its status follows the
          // marker, so units are settled against the run as it is now.
          const status = RUN_STATUS_AFTER[e.type];
          if (status && this.run) this.run = { ...this.run, status };
          this.runEvents.push(e);
          segments = segmentAttempts(this.runEvents);
          runMoved = true;
        }
        if (movesUnits(e)) {
          this.statusEvents.push(e);
          unitsMoved = true;
        }
      }
      this.timeline.append(batch, segments);
      if (unitsMoved && this.graph) {
        const units = settleUnits(deriveUnits(this.graphData.nodes, this.statusEvents), this.run?.status);
        this.graph.update(units);
        this.renderUnitTable(units);
      }
      this.refreshRun(token, runMoved);
      if (unitsMoved || runMoved) this.refreshGantt(token);
    };
    source.onopen = () => token === this.token && this.setLive("live");
    source.onerror = () => token === this.token && this.setLive("reconnecting");
    source.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (!event || typeof event.seq !== "number" || event.seq <= this.timeline.seen) return;
      if (queue.some((q) => q.seq === event.seq)) return;
      queue.push(event);
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(flush);
      }
    };
  }

  /**
   * Says that a unit failed in the followed run: a toast in the page's
   * polite live region (role=status) with a link to the event. It goes by
   * itself after 12 s, or with its close button.
   */
  toastFailure(e) {
    const box = document.getElementById("toasts");
    if (!box) return;
    const show = h("button", { type: "button", class: "btn small", text: "Show" });
    const close = h("button", { type: "button", class: "btn small", "aria-label": "Dismiss", text: "×" });
    const toast = h(
      "div",
      { class: "toast", "data-toast": "unit-failed", "data-seq": e.seq },
      h("strong", {}, "Unit ", h("span", { class: "mono", text: e.unit ?? "?" }), " failed"),
      e.error ? h("div", { class: "toast-error mono", text: e.error }) : null,
      h("div", { class: "toast-actions" }, show, close),
    );
    const dismiss = () => toast.remove();
    show.addEventListener("click", () => {
      dismiss();
      this.onSeq(e.seq);
    });
    close.addEventListener("click", dismiss);
    setTimeout(dismiss, 12000);
    // At most three at once: the oldest goes.
    while (box.children.length >= 3) box.firstElementChild.remove();
    box.append(toast);
  }

  /** Scrolls to and highlights the event `seq` of the shown run (a permalink). */
  reveal(seq) {
    if (this.timeline && seq > 0) return this.timeline.reveal(seq);
    return false;
  }

  /** Re-reads the run row (counters, status) at most every 500 ms. */
  refreshRun(token, now) {
    if (this.refreshTimer) return;
    const run = async () => {
      this.refreshTimer = null;
      try {
        const fresh = await api.run(this.run.id);
        if (token !== this.token) return;
        const moved = fresh.status !== this.run?.status;
        this.run = fresh;
        if (moved && this.graph) {
          const units = settleUnits(deriveUnits(this.graphData.nodes, this.statusEvents), fresh.status);
          this.graph.update(units);
          this.renderUnitTable(units);
        }
        this.gantt?.update({ run: fresh, markers: this.timeline.segments.markers });
        replace(this.headBox, header(fresh, Date.now(), this.timeline.segments.markers.size));
        this.showCount();
        this.onRunChange(fresh, true);
      } catch {
        // The next event retries; the stream state shows in the header.
      }
    };
    this.refreshTimer = setTimeout(run, now ? 0 : 500);
  }

  /**
   * Filters the timeline (and marks the graph) to a unit; "" clears. The
   * timeline reads its window anew when the server is asked something
   * else; the promise settles once it is drawn.
   */
  applyFilter(filter) {
    if (!this.timeline) return Promise.resolve();
    const drawn = this.timeline.setFilter(filter).catch(() => {});
    if (filter.query !== undefined) this.countMatches(filter.query);
    if (filter.query !== undefined && this.searchEl && this.searchEl.value !== filter.query) this.searchEl.value = filter.query;
    if (filter.unit !== undefined) {
      this.selection.set(filter.unit);
      if (this.unitSelect) {
        // A unit only outside the loaded events (a huge run) is offered too.
        if (filter.unit && ![...this.unitSelect.options].some((o) => o.value === filter.unit)) {
          this.unitSelect.append(h("option", { value: filter.unit, text: filter.unit }));
        }
        this.unitSelect.value = filter.unit;
      }
      if (filter.unit) drawn.then(() => this.timeline && this.revealUnit(filter.unit));
    }
    return drawn;
  }

  /** The units as a table: unit, level, status (word and glyph), tasks, retries, dependencies. */
  renderUnitTable(units) {
    if (!this.tableBox || !this.graphData) return;
    const deps = new Map();
    for (const e of this.graphData.edges) {
      if (!deps.has(e.from)) deps.set(e.from, []);
      deps.get(e.from).push(e.to);
    }
    const levelOf = new Map();
    this.graphData.levels.forEach((level, i) => level.forEach((id) => levelOf.set(id, i)));
    const rows = this.graphData.nodes.map((node) => {
      const u = units.get(node.id) ?? { status: "pending", tasks: 0, done: 0, retries: 0 };
      const pick = h("button", { type: "button", class: "linkish", text: node.id, title: `Show only the events of ${node.id}` });
      pick.addEventListener("click", () => this.onUnit(node.id));
      return h(
        "tr",
        { "data-unit": node.id, "data-status": u.status },
        h("td", {}, pick),
        h("td", { class: "num", text: String(levelOf.get(node.id) ?? "") }),
        h("td", {}, h("span", { class: `st-dot st-${u.status}`, "aria-hidden": "true" }), `${nodeGlyph(u.status)} ${nodeStatusLabel(u.status)}`),
        h("td", { class: "num", text: u.tasks > 0 ? `${Math.min(u.done, u.tasks)}/${u.tasks}` : "–" }),
        h("td", { class: "num", text: String(u.retries) }),
        h("td", { class: "mono", text: (deps.get(node.id) ?? []).join(", ") || "–" }),
      );
    });
    replace(
      this.tableBox,
      h(
        "table",
        { class: "unit-table" },
        h("caption", { class: "sr-only", text: "Units of the run" }),
        h(
          "thead",
          {},
          h("tr", {}, ["Unit", "Level", "Status", "Tasks", "Retries", "Needs"].map((t) => h("th", { scope: "col", text: t }))),
        ),
        h("tbody", {}, rows),
      ),
    );
  }

  /** Stops the stream while the tab is hidden. */
  pause() {
    this.close();
  }

  /** Follows the stream again, after the last seq seen. */
  resume() {
    if (this.timeline && !this.source) this.follow(this.token);
  }

  /** Redraws the header and the rows (the time zone changed). */
  redraw() {
    if (!this.timeline || !this.run) return;
    replace(this.headBox, header(this.run, Date.now(), this.timeline.segments.markers.size));
    this.timeline.renderAnchored();
    this.gantt?.draw();
  }

  /** Focuses the event search (the `/` key). */
  focusSearch() {
    this.searchEl?.focus();
    this.searchEl?.select();
  }

  /**
   * Counts the search's matches in the whole run (the daemon's `q=`, same
   * grammar), for runs bigger than the loaded window; shown beside the count.
   */
  async countMatches(query) {
    this.matches = null;
    const token = this.token;
    const text = String(query ?? "").trim();
    const loadedAll = this.timeline && this.timeline.events.length >= (this.run?.last_seq ?? 0);
    if (!text || loadedAll) {
      this.showCount();
      return;
    }
    try {
      const page = await api.events(this.run.id, { q: text, limit: 1 });
      if (token !== this.token || this.searchEl?.value.trim() !== text) return;
      this.matches = page.total;
    } catch {
      this.matches = null;
    }
    this.showCount();
  }

  /** "N events", "N of M events loaded", or "N of M loaded events" when filtered. */
  showCount() {
    if (!this.timeline || !this.countEl) return;
    const loaded = this.timeline.events.length;
    const total = Math.max(this.timeline.run.last_seq ?? 0, this.timeline.seen, loaded);
    const f = this.timeline.filter;
    const filtering = f.unit || f.family || f.failures || f.attempt || (f.hide && this.timeline.searching());
    const whole = typeof this.matches === "number" && this.timeline.searching() ? ` · ${plural(this.matches, "match", "matches")} in the whole run` : "";
    // A filtered window is the server's: its count is of the whole run.
    const remote = this.timeline.remote;
    const matched = this.timeline.total;
    // An attempt picked is read from the whole run, its seqs only.
    const range = this.timeline.range;
    const size = range ? this.timeline.lastSeq() - range.from + 1 : 0;
    const tl = this.timeline;
    this.countEl.textContent = remote
      ? `${plural(matched, "matching event")} in the whole run${loaded < matched || f.attempt ? ` · ${tl.shown} shown` : ""}${f.attempt ? ` in attempt ${f.attempt}` : ""}`
      : range
      ? `Attempt ${f.attempt}: ${loaded >= size ? plural(size, "event") : `showing ${tl.lo}–${tl.hi} of ${plural(size, "event")}`}${whole}`
      : filtering
      ? `${this.timeline.shown} of ${plural(loaded, "loaded event")}${whole}`
      : loaded === total
        ? plural(total, "event")
        : `showing ${this.timeline.lo}–${this.timeline.hi} of ${plural(total, "event")}`;
  }
}
