// The page's controller: reads the route from the URL hash, loads the
// repositories, the run list page and the selected run, and keeps the
// three in step. Every view module renders through dom.js (text only).

import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { baseName, getZone, localDateTime, normaliseRepo, pageCount, parseTime, setZone, ZONES } from "./format.js";
import { RunDetail } from "./detail.js";
import { InsightsView } from "./insights.js";
import { windowOf } from "./insights-logic.js";
import { Panels } from "./panels.js";
import { formatHash, parseHash, withRoute } from "./route.js";
import { renderPager, renderRuns, renderStatusChips, tickDurations } from "./runs.js";
import { RUN_STATUSES } from "./status.js";

/** Runs per page (choo's HISTORY-UI). */
const PAGE_SIZE = 20;
const ALL = "*";
const REPO_KEY = "otto-hooks:repo";

const $ = (id) => document.getElementById(id);

const state = {
  route: parseHash(location.hash),
  repos: [],
  listKey: null, // repo|status of the loaded list
  cursors: [""], // cursors[i] reads page i + 1
  page: 0,
  data: null, // the current runs page
  runsById: new Map(),
  shownRun: null, // null: nothing drawn yet
};

/** The tab says the open run's state: its title and a status-coloured icon. */
const TAB = {
  running: ["●", "#3b82f6"],
  completed: ["✓", "#22c55e"],
  failed: ["✗", "#ef4444"],
  stopped: ["■", "#f97316"],
};
function tabStatus(run) {
  const [mark, colour] = (run && TAB[run.status]) ?? ["", "#6366f1"];
  document.title = run
    ? `${mark} ${run.id} · ${baseName(run.repo_path)}${run.status === "running" ? ` ${run.completed_units}/${run.total_units}` : ""}`
    : "otto-hooks · run history";
  let icon = document.querySelector("link[rel=icon]");
  if (!icon) {
    icon = h("link", { rel: "icon", type: "image/svg+xml" });
    document.head.append(icon);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="${colour}"/></svg>`;
  icon.setAttribute("href", `data:image/svg+xml,${encodeURIComponent(svg)}`);
  icon.setAttribute("data-status", run?.status ?? "");
}

/** What closes the panels and the run when the screen changes. */
const CLOSED = { run: "", unit: "", q: "", seq: "", task: "", failed: "", cmp: "" };

// The side panels (a unit's history, a run comparison) and the Insights view.
const panels = new Panels({ go: (changes) => go(changes), href: (changes) => formatHash(withRoute(state.route, changes)) });
const insights = new InsightsView($("insights"), {
  hrefTask: (task) => formatHash(withRoute(state.route, { task, failed: "", cmp: "" })),
  hrefRun: (run, unit) => formatHash(withRoute(state.route, { ...CLOSED, view: "history", run, unit })),
  hrefWindow: (since) => formatHash(withRoute(state.route, { since })),
});

const detail = new RunDetail($("detail"), {
  actions: panels.actions,
  onUnit: (unit) => go({ unit }),
  // An event's permalink: the current screen plus the run (the Live view
  // may show one the URL does not name) and its seq.
  hrefFor: (seq) => formatHash(withRoute(state.route, { run: detail.run?.id || state.route.run, seq: String(seq) })),
  onSeq: (seq) => go({ run: detail.run?.id || state.route.run, seq: String(seq) }),
  // The search is in the URL, without a history entry per keystroke.
  onQuery: (q) => {
    state.route = withRoute(state.route, { q });
    history.replaceState(null, "", formatHash(state.route));
  },
  onRunChange: (run, live) => {
    tabStatus(run);
    if (live) scheduleRefresh();
  },
});

function storage(action) {
  try {
    return action(window.localStorage);
  } catch {
    return null; // storage disabled: the URL still carries the state
  }
}

/** Navigates to the route with `changes` (a new history entry). */
function go(changes) {
  const next = withRoute(state.route, changes);
  const hash = formatHash(next);
  if (hash !== location.hash) location.hash = hash;
  else render(next);
}

function banner(error) {
  const el = $("banner");
  if (!error) {
    el.hidden = true;
    $("daemon-state").classList.remove("down");
    return;
  }
  const retry = h("button", { type: "button", class: "btn small", text: "Retry" });
  retry.addEventListener("click", () => boot());
  if (error.status === 0 || error.status >= 500) {
    replace(el, h("span", { text: "Cannot reach the history daemon." }), h("span", {}, "Start it with ", h("code", { text: "otto-hooks daemon start" })), retry);
  } else {
    replace(el, h("span", { text: `The daemon refused a request: ${error.message}` }), retry);
  }
  el.hidden = false;
  const indicator = $("daemon-state");
  indicator.classList.add("down");
  replace(indicator, h("span", { class: "dot", "aria-hidden": "true" }), "daemon unreachable");
}

function repoLabel(repo) {
  return repo === ALL ? "any repository" : repo;
}

/** The status counts of the chosen repository (or of all). */
function counts(repo) {
  const pick = repo === ALL ? state.repos : state.repos.filter((r) => r.repo_path === repo);
  const out = {};
  for (const s of RUN_STATUSES) out[s] = pick.reduce((n, r) => n + (r[s] ?? 0), 0);
  return out;
}

/** What the empty detail pane summarises: the chosen repository's runs. */
function overview(route) {
  const pick = route.repo === ALL ? state.repos : state.repos.filter((r) => r.repo_path === route.repo);
  const last = pick.map((r) => r.last_started_at).sort().pop();
  return {
    label: route.repo === ALL ? `All repositories (${state.repos.length})` : route.repo,
    counts: counts(route.repo),
    runs: pick.reduce((n, r) => n + r.runs, 0),
    last: last ? localDateTime(parseTime(last)) : "",
  };
}

function renderPicker(route) {
  const select = $("repo");
  const options = [h("option", { value: ALL, text: `All repositories (${state.repos.reduce((n, r) => n + r.runs, 0)} runs)` })];
  for (const r of state.repos) options.push(h("option", { value: r.repo_path, text: `${r.repo_path} (${r.runs})` }));
  if (route.repo && route.repo !== ALL && !state.repos.some((r) => r.repo_path === route.repo)) {
    options.push(h("option", { value: route.repo, text: `${route.repo} (no runs)` }));
  }
  replace(select, options);
  select.value = route.repo || ALL;
  select.disabled = false;
}

async function loadList(route) {
  const key = `${route.repo}|${route.status}`;
  if (state.listKey !== key) {
    state.listKey = key;
    state.cursors = [""];
    state.page = 0;
  }
  const data = await api.runs({
    repo: route.repo === ALL ? "" : route.repo,
    status: route.status,
    limit: PAGE_SIZE,
    cursor: state.cursors[state.page],
  });
  state.data = data;
  state.runsById = new Map(data.runs.map((r) => [r.id, r]));
  if (data.next_cursor) state.cursors[state.page + 1] = data.next_cursor;
}

function renderList(route) {
  const data = state.data;
  // Keep the keyboard where it was across a redraw (live refreshes).
  const focused = document.activeElement?.closest?.("[data-run]")?.getAttribute("data-run");
  renderStatusChips($("status-filter"), route, counts(route.repo), (status) => go({ status, run: "", unit: "", q: "", seq: "" }));
  renderRuns($("runs"), { runs: data.runs, route, allRepos: route.repo === ALL, now: Date.now(), repoLabel: repoLabel(route.repo) });
  renderPager($("pager"), {
    page: state.page + 1,
    pages: pageCount(data.total, PAGE_SIZE),
    total: data.total,
    canNewer: state.page > 0,
    canOlder: data.has_more && Boolean(data.next_cursor),
    onNewer: () => turn(-1),
    onOlder: () => turn(1),
  });
  if (focused) {
    for (const link of document.querySelectorAll(".run-link")) {
      if (link.getAttribute("data-run") === focused) link.focus();
    }
  }
}

/**
 * Re-reads the repositories (counts) and the current page, at most every
 * 500 ms (`delay`), after live events: a new run appears on page 1 when the
 * daemon announces it (`run.started`, read at once), rows of runs that
 * moved update in place.
 */
let refreshTimer = null;
function scheduleRefresh(delay = 500) {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    const route = state.route;
    try {
      const [repos, data] = await Promise.all([
        api.repos(),
        api.runs({
          repo: route.repo === ALL ? "" : route.repo,
          status: route.status,
          limit: PAGE_SIZE,
          cursor: state.cursors[state.page],
        }),
      ]);
      if (route !== state.route) return;
      state.repos = repos;
      state.data = data;
      state.runsById = new Map(data.runs.map((r) => [r.id, r]));
      if (data.next_cursor) state.cursors[state.page + 1] = data.next_cursor;
      renderPicker(route);
      renderList(route);
      if (route.view === "live") await renderLive(route);
    } catch (e) {
      banner(e);
    }
  }, delay);
}

/** The connection indicator in the header. */
function indicate(stateName) {
  const indicator = $("daemon-state");
  indicator.classList.toggle("down", stateName === "down");
  indicator.classList.toggle("reconnecting", stateName === "reconnecting");
  const words = { live: "live", reconnecting: "reconnecting…", down: "daemon unreachable" };
  replace(indicator, h("span", { class: "dot", "aria-hidden": "true" }), `${words[stateName] ?? stateName} · ${location.host} · read-only`);
  indicator.setAttribute("data-state", stateName);
}

/** Follows every run's events (one stream for the page) to keep the list current. */
let allRuns = null;
function followAllRuns() {
  if (allRuns || typeof EventSource !== "function") return;
  allRuns = new EventSource("api/stream");
  allRuns.onopen = () => indicate("live");
  allRuns.onerror = () => indicate(allRuns.readyState === EventSource.CLOSED ? "down" : "reconnecting");
  allRuns.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    const route = state.route;
    // A run just created (a notice, not a stored event: seq 0).
    if (event?.type === "run.started" && event.seq === 0) {
      scheduleRefresh(0);
      return;
    }
    const known = state.runsById.has(event?.run_id);
    // A run of another repository only changes the counts of the picker.
    if (known || route.repo === ALL || state.page === 0 || event?.type?.startsWith("run.")) scheduleRefresh();
  };
}

async function turn(delta) {
  const next = state.page + delta;
  if (next < 0 || (delta > 0 && !state.cursors[next])) return;
  state.page = next;
  try {
    const route = state.route;
    const data = await api.runs({
      repo: route.repo === ALL ? "" : route.repo,
      status: route.status,
      limit: PAGE_SIZE,
      cursor: state.cursors[next],
    });
    state.data = data;
    state.runsById = new Map(data.runs.map((r) => [r.id, r]));
    if (data.next_cursor) state.cursors[next + 1] = data.next_cursor;
    renderList(route);
    $("runs").scrollTop = 0;
    banner(null);
  } catch (e) {
    state.page -= delta;
    banner(e);
  }
}

/** A Performance API mark, once per page load (for docs/BENCHMARKS.md). */
const marked = new Set();
function mark(name) {
  if (marked.has(name) || typeof performance?.mark !== "function") return;
  marked.add(name);
  performance.mark(name);
}

/** Draws the screen for `route`. */
async function render(route) {
  const previous = state.route;
  state.route = route;
  renderPicker(route);
  showView(route.view);
  storage((s) => s.setItem(VIEW_KEY, route.view));
  if (route.view === "insights") {
    try {
      // Coming back to the view reads the figures again (runs ended meanwhile).
      await renderInsights(route, previous.view !== "insights");
      banner(null);
    } catch (e) {
      banner(e);
    }
    return;
  }
  if (route.view === "live") {
    try {
      if (previous.view !== "live") state.liveShown = false;
      await renderLive(route);
      // A permalink followed on the open run (renderLive opened a new one at it).
      if (route.seq && route.seq !== previous.seq) await detail.reveal(Number(route.seq));
      await syncPanels(route);
      banner(null);
    } catch (e) {
      banner(e);
    }
    return;
  }
  if (previous.view === "live") state.shownRun = null;
  if (!route.run) tabStatus(null);
  try {
    const listChanged = state.listKey !== `${route.repo}|${route.status}` || !state.data;
    if (listChanged) {
      replace($("runs"), h("div", { class: "loading", text: "Loading runs…" }));
      await loadList(route);
    }
    renderList(route);
    mark("otto:runs-rendered");
    if (route.run !== state.shownRun) {
      state.shownRun = route.run;
      if (route.run) {
        await detail.show(route.run, { unit: route.unit, query: route.q, seq: Number(route.seq) || 0 });
        mark("otto:run-shown");
      }
      else detail.clear(state.data.total > 0, overview(route));
    } else if (route.run && (route.unit !== previous.unit || route.q !== previous.q)) {
      detail.applyFilter({ unit: route.unit, query: route.q });
    }
    // A permalink followed on the open run (a row's time, a toast).
    if (route.run && route.run === previous.run && route.seq && route.seq !== previous.seq) {
      await detail.reveal(Number(route.seq));
    }
    await syncPanels(route);
    banner(null);
  } catch (e) {
    console.error(e);
    banner(e);
  }
}

const VIEW_KEY = "otto-hooks:view";

/**
 * The project key the insights of a repository filter by: its newest
 * run's ("" for all repositories; null when the repository has no run).
 */
const projects = new Map();
async function projectOf(repo) {
  if (!repo || repo === ALL) return "";
  if (!projects.has(repo)) {
    const page = await api.runs({ repo, limit: 1 });
    if (!page.runs.length) return null;
    projects.set(repo, page.runs[0].project || repo);
  }
  return projects.get(repo);
}

/** The panel the route names, over the open run (if any). */
async function syncPanels(route) {
  const run = route.run && detail.run?.id === route.run ? detail.run : route.view === "live" ? detail.run ?? null : null;
  await panels.sync(route, { run, project: run ? run.project || run.repo_path : (await projectOf(route.repo)) ?? route.repo });
}

/** The Insights view of the chosen repository over the route's window (`fresh`: read again). */
async function renderInsights(route, fresh = false) {
  tabStatus(null);
  const project = await projectOf(route.repo);
  const label = route.repo === ALL ? "all repositories" : route.repo;
  if (project === null) {
    insights.showEmpty({ label, since: windowOf(route.since) });
    await panels.sync({ ...route, task: "" }, { run: null, project: "" });
    return;
  }
  await insights.show({ label, project, since: windowOf(route.since) }, fresh);
  await panels.sync(route, { run: null, project });
}

/** The tabs and the page's layout follow the route's view. */
function showView(view) {
  document.body.classList.toggle("view-live", view === "live");
  $("main").hidden = view === "insights";
  $("insights").hidden = view !== "insights";
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.getAttribute("data-view") === view));
  }
  $("live-bar").hidden = view !== "live";
}

/**
 * The Live view: the repository's running runs. The newest opens (or the
 * one the URL names); the others are a switcher; none running is "Waiting
 * for a run", which the all-runs stream ends by itself.
 */
async function renderLive(route) {
  const data = await api.runs({ repo: route.repo === ALL ? "" : route.repo, status: "running", limit: 20 });
  if (route !== state.route) return;
  const running = data.runs;
  const bar = $("live-bar");
  const shown = route.run || (state.shownRun && state.liveShown ? state.shownRun : "") || running[0]?.id || "";
  if (running.length === 0 && !shown) {
    replace(bar, h("span", { class: "muted", text: `No run of ${repoLabel(route.repo)} is running.` }));
    if (state.shownRun !== "") {
      state.shownRun = "";
      detail.clear(false);
    }
    replace(
      $("detail"),
      h(
        "div",
        { class: "empty", "data-empty": "live" },
        h("h2", { text: "Waiting for a run" }),
        h("p", { text: `When a run of ${repoLabel(route.repo)} starts, it opens here by itself.` }),
      ),
    );
    return;
  }
  replace(
    bar,
    h("span", { class: "muted", text: running.length ? `Running (${running.length}):` : "Nothing running now; last shown:" }),
    running.map((r) =>
      h(
        "a",
        {
          class: "live-run",
          href: formatHash(withRoute(route, { run: r.id, unit: "", q: "", seq: "" })),
          "aria-current": r.id === shown ? "true" : null,
          "data-run": r.id,
        },
        h("span", { class: "badge running", text: "running" }),
        r.id,
        h("span", { class: "muted", text: `${r.completed_units}/${r.total_units}` }),
      ),
    ),
  );
  if (shown !== state.shownRun) {
    state.shownRun = shown;
    state.liveShown = true;
    await detail.show(shown, { unit: route.unit, query: route.q, seq: Number(route.seq) || 0 });
  }
}

/** Loads the repositories, settles the repository to show, draws. */
async function boot() {
  try {
    state.repos = await api.repos();
  } catch (e) {
    banner(e);
    return;
  }
  state.listKey = null;
  state.shownRun = null;
  const route = parseHash(location.hash);
  route.repo = route.repo === ALL ? ALL : normaliseRepo(route.repo);
  if (!location.hash || location.hash === "#") {
    // The view chosen last time (Live, History or Insights), when the URL names none.
    const remembered = storage((s) => s.getItem(VIEW_KEY));
    route.view = remembered === "live" || remembered === "insights" ? remembered : "history";
  }
  if (!route.repo) {
    const remembered = storage((s) => s.getItem(REPO_KEY));
    const known = (r) => r === ALL || state.repos.some((x) => x.repo_path === r);
    route.repo = remembered && known(remembered) ? remembered : state.repos[0]?.repo_path ?? ALL;
    history.replaceState(null, "", formatHash(route));
  }
  indicate("connecting");
  followAllRuns();
  await render(route);
}

const ZONE_KEY = "otto-hooks:zone";

/** Shows times in `zone` ("local", "utc" or "relative"), remembered, and redraws. */
function chooseZone(zone, redraw) {
  setZone(zone);
  for (const z of ZONES) $(`zone-${z}`).setAttribute("aria-pressed", String(getZone() === z));
  storage((s) => s.setItem(ZONE_KEY, getZone()));
  if (redraw && state.data) {
    renderList(state.route);
    detail.redraw();
  }
  if (redraw && state.route.view === "insights") insights.draw();
  if (redraw) panels.redraw();
}
chooseZone(storage((s) => s.getItem(ZONE_KEY)) ?? "local", false);
for (const z of ZONES) $(`zone-${z}`).addEventListener("click", () => chooseZone(z, true));

// A hidden tab holds no stream (browsers allow about six connections per
// host across tabs); back in view, the streams resume after what they had.
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    allRuns?.close();
    allRuns = null;
    detail.pause();
  } else if (state.data) {
    followAllRuns();
    scheduleRefresh();
    detail.resume();
  }
});

for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => go({ ...CLOSED, view: tab.getAttribute("data-view") }));
}

$("repo").addEventListener("change", (ev) => {
  const repo = ev.target.value;
  storage((s) => s.setItem(REPO_KEY, repo));
  go({ ...CLOSED, repo, status: "" });
});

window.addEventListener("hashchange", () => {
  const route = parseHash(location.hash);
  route.repo = route.repo === ALL ? ALL : normaliseRepo(route.repo) || ALL;
  render(route);
});

// Keyboard: j/k (or arrows in the list) move between runs, Escape closes.
document.addEventListener("keydown", (ev) => {
  const target = ev.target;
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (target instanceof HTMLElement && target.closest("input, select, textarea")) return;
  const links = [...document.querySelectorAll(".run-link")];
  const at = links.indexOf(document.activeElement);
  const move = (delta) => {
    if (!links.length) return;
    const current = at >= 0 ? at : links.findIndex((l) => l.getAttribute("aria-current") === "true");
    const next = Math.max(0, Math.min(links.length - 1, current < 0 ? 0 : current + delta));
    links[next].focus();
    ev.preventDefault();
  };
  if (ev.key === "/" && state.route.run) {
    ev.preventDefault();
    detail.focusSearch();
  } else if (ev.key === "j" || (ev.key === "ArrowDown" && at >= 0)) move(1);
  else if (ev.key === "k" || (ev.key === "ArrowUp" && at >= 0)) move(-1);
  else if (ev.key === "c" && state.route.run && state.route.view !== "insights") go({ task: "", failed: "", cmp: "prev" });
  else if (ev.key === "h" && state.route.unit && state.route.view !== "insights") go({ task: state.route.unit, failed: "", cmp: "" });
  else if (ev.key === "Escape") {
    if (panels.closeIfOpen(state.route)) return;
    if (state.route.unit) go({ unit: "" });
    else if (state.route.run) go({ run: "", q: "", seq: "" });
  }
});

setInterval(() => tickDurations($("runs"), state.runsById, Date.now()), 1000);

boot();
