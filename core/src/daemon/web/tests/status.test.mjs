import test from "node:test";
import assert from "node:assert/strict";
import { attemptOf, deriveUnits, eventFamily, eventTone, isFailureType, segmentAttempts, settleUnits, settledStatus } from "../status.js";

const e = (seq, type, unit, extra = {}) => ({ seq, type, unit, time: `2026-01-01T00:00:${String(seq).padStart(2, "0")}Z`, ...extra });

test("unit statuses come from the events, not from the graph snapshot", () => {
  const nodes = [{ id: "a", status: "pending", tasks: 2 }, { id: "b", status: "pending" }, { id: "c" }, { id: "d" }];
  const units = deriveUnits(nodes, [
    e(5, "unit.completed", "a"),
    e(1, "unit.started", "a", { payload: { total_tasks: 2, completed_tasks: 0 } }),
    e(2, "unit.queued", "b"),
    e(3, "unit.blocked", "c"),
    e(4, "unit.failed", "d"),
  ]);
  assert.equal(units.get("a").status, "complete");
  assert.equal(units.get("a").done, 2);
  assert.equal(units.get("b").status, "ready");
  assert.equal(units.get("c").status, "blocked");
  assert.equal(units.get("d").status, "failed");
});

test("a retried unit goes back to in progress after a failure", () => {
  const units = deriveUnits([], [e(1, "unit.started", "a"), e(2, "unit.failed", "a"), e(3, "unit.started", "a")]);
  assert.equal(units.get("a").status, "in_progress");
});

test("task progress: done from task.completed, current from task.started (1-based)", () => {
  const units = deriveUnits([{ id: "a", tasks: 3 }], [
    e(1, "unit.started", "a"),
    e(2, "task.started", "a", { task: 1 }),
    e(3, "task.completed", "a", { task: 1 }),
    e(4, "task.started", "a", { task: 2 }),
    e(5, "task.retry", "a", { task: 2 }),
  ]);
  const a = units.get("a");
  assert.deepEqual([a.done, a.current, a.tasks, a.retries], [1, 1, 3, 1]);
});

test("units seen only in events are kept (runs without a graph)", () => {
  const units = deriveUnits(undefined, [e(1, "unit.started", "solo")]);
  assert.deepEqual([...units.keys()], ["solo"]);
});

test("event tones: choo's table, then any failure red, else grey", () => {
  assert.equal(eventTone("unit.completed"), "green");
  assert.equal(eventTone("run.stopped"), "orange");
  assert.equal(eventTone("task.validation.fail"), "red");
  assert.equal(eventTone("pr.failed"), "red");
  assert.equal(eventTone("worktree.created"), "grey");
  assert.equal(isFailureType("task.validation.fail"), true);
  assert.equal(isFailureType("task.validation.ok"), false);
  assert.equal(eventFamily("task.claude.invoke"), "task");
});

test("attempts: each RESUME starts the next, with the gap since its STOP", () => {
  const { markers, attempts, folded } = segmentAttempts([
    e(10, "run.stopped", null, { payload: { reason: "ctrl-c" } }),
    e(12, "run.resumed", null, { payload: { resumed_from_seq: 10 } }),
    e(20, "run.stopped", null, { payload: { reason: null } }),
    e(25, "run.resumed", null, {}),
    e(30, "run.completed", null),
  ]);
  assert.deepEqual(attempts.map((a) => [a.n, a.fromSeq]), [[1, 1], [2, 12], [3, 25]]);
  assert.equal(markers.get(10).reason, "ctrl-c");
  assert.equal(markers.get(12).gapMs, 2000);
  assert.equal(markers.get(12).resumedFromSeq, 10);
  assert.equal(markers.get(20).reason, null, "no reason given");
  assert.equal(markers.get(25).attempt, 3);
  assert.equal(folded.size, 0);
  assert.equal(attemptOf(attempts, 11), 1);
  assert.equal(attemptOf(attempts, 12), 2);
  assert.equal(attemptOf(attempts, 99), 3);
});

test("adjacent duplicate markers fold into one with a count", () => {
  const { markers, folded, attempts } = segmentAttempts([
    e(20, "run.stopped", null, { payload: { reason: "user" } }),
    e(21, "run.stopped", null, { payload: { status: "stopped", reason: null } }),
    e(22, "run.resumed", null),
    e(23, "run.resumed", null),
  ]);
  assert.equal(markers.get(20).count, 2);
  assert.equal(markers.get(22).count, 2);
  assert.deepEqual([...folded], [21, 23]);
  assert.equal(attempts.length, 2, "a doubled RESUME is one attempt");
});

test("a PR opened after a unit's last start makes it pr_open; a later state wins", () => {
  const units = deriveUnits([], [
    e(1, "unit.started", "a"),
    e(2, "pr.created", "a"),
    e(3, "unit.started", "b"),
    e(4, "pr.created", "b"),
    e(5, "unit.merged", "b"),
    e(6, "pr.created", "c"),
    e(7, "unit.queued", "c"),
  ]);
  assert.equal(units.get("a").status, "pr_open");
  assert.equal(units.get("b").status, "complete");
  assert.equal(units.get("c").status, "ready");
});

test("once the run has ended, a unit still ready or in progress shows as interrupted", () => {
  const units = () => deriveUnits([{ id: "d" }], [
    e(1, "unit.started", "a"),
    e(2, "unit.completed", "a"),
    e(3, "unit.started", "b"),
    e(4, "unit.queued", "c"),
    e(5, "unit.started", "p"),
    e(6, "pr.created", "p"),
  ]);
  const states = (m) => Object.fromEntries([...m.values()].map((u) => [u.id, u.status]));
  assert.deepEqual(states(settleUnits(units(), "running")), { d: "pending", a: "complete", b: "in_progress", c: "ready", p: "pr_open" });
  for (const ended of ["completed", "failed", "stopped"]) {
    assert.deepEqual(states(settleUnits(units(), ended)), { d: "pending", a: "complete", b: "interrupted", c: "interrupted", p: "pr_open" }, ended);
  }
  assert.equal(settledStatus("in_progress", undefined), "in_progress", "an unknown run status changes nothing");
});
