// Pure status logic: event tones, unit statuses replayed from events,
// STOP/RESUME boundaries and attempts. No DOM; unit-tested with node.

/** The run statuses the API knows, in filter order. */
export const RUN_STATUSES = ["running", "completed", "failed", "stopped"];

/** Node statuses in legend order, with their labels. */
export const NODE_STATUSES = [
  ["pending", "pending"],
  ["ready", "ready"],
  ["in_progress", "in progress"],
  ["pr_open", "PR open"],
  ["complete", "complete"],
  ["failed", "failed"],
  ["blocked", "blocked"],
  ["interrupted", "interrupted"],
];

/** A glyph per node status, so a node's state is readable without colour. */
const GLYPHS = {
  pending: "○",
  ready: "◔",
  in_progress: "▶",
  pr_open: "⇅",
  complete: "✓",
  failed: "✗",
  blocked: "⊘",
  interrupted: "■",
};

/** The glyph of a node status. */
export function nodeGlyph(status) {
  return GLYPHS[status] ?? "•";
}

/** The label of a node status. */
export function nodeStatusLabel(status) {
  const found = NODE_STATUSES.find(([s]) => s === status);
  return found ? found[1] : String(status);
}

/** The family of an event type: `unit` for `unit.started`. */
export function eventFamily(type) {
  const text = String(type ?? "");
  const dot = text.indexOf(".");
  return dot < 0 ? text : text.slice(0, dot);
}

/** Whether the type names a failure: `*.failed`, `*.fail`, or contains `failed`. */
export function isFailureType(type) {
  const text = String(type ?? "");
  return text.endsWith(".fail") || text.includes("failed");
}

const TONES = {
  "unit.started": "blue",
  "unit.completed": "green",
  "unit.merged": "green",
  "unit.failed": "red",
  "unit.blocked": "orange",
  "task.started": "sky",
  "task.completed": "lime",
  "task.retry": "amber",
  "orch.started": "purple",
  "orch.completed": "purple",
  "orch.failed": "red",
  "run.stopped": "orange",
  "run.resumed": "amber",
  "run.completed": "green",
  "run.failed": "red",
};

/** The colour family of an event type (a CSS class suffix). */
export function eventTone(type) {
  const text = String(type ?? "");
  if (TONES[text]) return TONES[text];
  if (isFailureType(text)) return "red";
  return "grey";
}

/**
 * The event types that set a unit's state, and the state each sets. The
 * daemon's per-unit summary (`…/units`, plugins/sqlite `units.rs`) uses the
 * same table; core/tests/ui_logic.rs checks that the two are equal.
 */
export const UNIT_STATE_OF = Object.freeze({
  "unit.queued": "ready",
  "unit.started": "in_progress",
  "unit.completed": "complete",
  "unit.merged": "complete",
  "unit.failed": "failed",
  "unit.blocked": "blocked",
});

/**
 * Every unit's state, replayed from its events in seq order: the graph the
 * daemon returns is the `orch.started` snapshot (usually all pending), so
 * statuses come from `unit.*` and progress from `unit.started` and
 * `task.*`. A retried unit goes back to in_progress; blocked is kept.
 *
 * Returns a Map id -> {id, status, tasks, done, current, retries}
 * (`current` is the 0-based task in progress, -1 when none).
 */
export function deriveUnits(nodes, events) {
  const units = new Map();
  const unit = (id) => {
    let u = units.get(id);
    if (!u) {
      u = { id, status: "pending", tasks: 0, done: 0, current: -1, retries: 0 };
      units.set(id, u);
    }
    return u;
  };
  for (const node of nodes ?? []) {
    const u = unit(String(node.id));
    if (Number.isInteger(node.tasks) && node.tasks > 0) u.tasks = node.tasks;
    if (Number.isInteger(node.completed_tasks)) u.done = node.completed_tasks;
  }
  const ordered = [...(events ?? [])].sort((a, b) => a.seq - b.seq);
  for (const e of ordered) {
    if (e.unit == null || e.unit === "") continue;
    const u = unit(String(e.unit));
    const p = e.payload && typeof e.payload === "object" ? e.payload : {};
    if (Object.hasOwn(UNIT_STATE_OF, e.type)) u.status = UNIT_STATE_OF[e.type];
    switch (e.type) {
      case "unit.started":
        if (Number.isInteger(p.total_tasks) && p.total_tasks >= 0) u.tasks = p.total_tasks;
        if (Number.isInteger(p.completed_tasks)) u.done = p.completed_tasks;
        break;
      case "unit.completed":
      case "unit.merged":
        u.current = -1;
        if (u.tasks > 0) u.done = u.tasks;
        break;
      case "unit.failed":
        u.current = -1;
        break;
      case "pr.created":
        if (u.status === "in_progress") u.status = "pr_open";
        break;
      case "task.started":
        if (Number.isInteger(e.task) && e.task > 0) {
          u.current = e.task - 1;
          if (e.task > u.tasks) u.tasks = e.task;
        }
        break;
      case "task.completed":
        if (Number.isInteger(e.task) && e.task > 0) {
          u.done = Math.max(u.done, e.task);
          if (u.current === e.task - 1) u.current = -1;
          if (e.task > u.tasks) u.tasks = e.task;
        }
        break;
      case "task.retry":
        u.retries += 1;
        break;
      default:
        break;
    }
  }
  return units;
}

/** The unit states that only mean something while the run goes on. */
const UNSETTLED = new Set(["ready", "in_progress"]);

/**
 * A unit's state as shown for a run in `runStatus`: once the run has ended
 * (completed, failed or stopped), a unit still ready or in progress was cut
 * off by that end and is shown `interrupted`, never as still running.
 */
export function settledStatus(status, runStatus) {
  if (runStatus == null || runStatus === "running") return status;
  return UNSETTLED.has(status) ? "interrupted" : status;
}

/** `deriveUnits`' map with each state settled for the run (see `settledStatus`). */
export function settleUnits(units, runStatus) {
  for (const u of units.values()) u.status = settledStatus(u.status, runStatus);
  return units;
}

/** `{complete: 10, failed: 1, …}` over derived units. */
export function countStatuses(units) {
  const counts = {};
  for (const u of units.values()) counts[u.status] = (counts[u.status] ?? 0) + 1;
  return counts;
}

const isMarker = (e) => e.type === "run.stopped" || e.type === "run.resumed";

/**
 * STOP/RESUME boundaries and attempts from a run's `run.*` events (any
 * order; other `run.*` types are ignored).
 *
 * - Adjacent duplicates (a stop posted as an event and again by
 *   `/complete`: consecutive seqs, same type) fold into one marker with a
 *   `count`; the later ones are listed in `folded`.
 * - Attempt 1 starts at seq 1; each RESUME starts the next.
 * - A RESUME carries `gapMs`, the time since the STOP before it.
 *
 * Returns {markers: Map seq -> marker, folded: Set of seqs, attempts: [{n, fromSeq}]}.
 */
export function segmentAttempts(runEvents) {
  const list = (runEvents ?? []).filter(isMarker).sort((a, b) => a.seq - b.seq);
  const markers = new Map();
  const folded = new Set();
  const attempts = [{ n: 1, fromSeq: 1 }];
  let previous = null;
  let lastStop = null;
  for (const e of list) {
    const kind = e.type === "run.stopped" ? "stop" : "resume";
    if (previous && previous.kind === kind && e.seq === previous.lastSeq + 1) {
      previous.count += 1;
      previous.lastSeq = e.seq;
      folded.add(e.seq);
      continue;
    }
    const p = e.payload && typeof e.payload === "object" ? e.payload : {};
    const marker = { kind, seq: e.seq, lastSeq: e.seq, count: 1, time: e.time };
    if (kind === "stop") {
      marker.reason = typeof p.reason === "string" && p.reason !== "" ? p.reason : null;
      marker.attempt = attempts[attempts.length - 1].n;
      lastStop = marker;
    } else {
      const n = attempts.length + 1;
      attempts.push({ n, fromSeq: e.seq });
      marker.attempt = n;
      marker.resumedFromSeq = Number.isInteger(p.resumed_from_seq) ? p.resumed_from_seq : null;
      const from = lastStop ? Date.parse(lastStop.time) : NaN;
      const to = Date.parse(e.time);
      marker.gapMs = Number.isFinite(from) && Number.isFinite(to) ? Math.max(0, to - from) : null;
    }
    markers.set(e.seq, marker);
    previous = marker;
  }
  return { markers, folded, attempts };
}

/** The attempt number an event's seq falls in. */
export function attemptOf(attempts, seq) {
  let n = 1;
  for (const a of attempts) if (seq >= a.fromSeq) n = a.n;
  return n;
}
