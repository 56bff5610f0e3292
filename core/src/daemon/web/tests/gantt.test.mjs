import test from "node:test";
import assert from "node:assert/strict";
import { LABEL_W, ROW_H, layoutGantt, linearScale, niceTicks, orderRows, statusTextPlace, stoppedIntervals } from "../gantt-layout.js";
import { segmentAttempts } from "../status.js";

const T0 = Date.parse("2026-01-01T10:00:00Z");
const at = (s) => new Date(T0 + s * 1000).toISOString();
const unit = (id, seq, from, to, extra = {}) => ({ unit: id, status: "complete", first_seq: seq, last_seq: seq + 5, first_time: at(from), last_time: at(to), started_time: null, events: 6, ...extra });

test("the linear scale maps the domain onto the range, a zero span onto its start", () => {
  const x = linearScale(100, 200, 0, 1000);
  assert.equal(x(100), 0);
  assert.equal(x(150), 500);
  assert.equal(x(200), 1000);
  assert.equal(linearScale(5, 5, 10, 20)(5), 10);
});

test("axis ticks are round multiples of the smallest step that fits", () => {
  const { step, ticks } = niceTicks(T0 + 7000, T0 + 10 * 60 * 1000, 6);
  assert.equal(step, 2 * 60 * 1000);
  assert.deepEqual(ticks.map((t) => (t - T0) / 60000), [2, 4, 6, 8, 10]);
  assert.equal(niceTicks(T0, T0 + 3000, 10).step, 1000);
  // A long run gets whole days, never thousands of ticks.
  assert.ok(niceTicks(T0, T0 + 40 * 86400000, 8).ticks.length <= 8);
});

test("stopped intervals run from each STOP to the next RESUME, the last one open to the end", () => {
  const run = [
    { seq: 10, type: "run.stopped", time: at(60), payload: { reason: "ctrl-c" } },
    { seq: 11, type: "run.stopped", time: at(60) }, // folded duplicate
    { seq: 12, type: "run.resumed", time: at(360) },
    { seq: 20, type: "run.stopped", time: at(500) },
  ];
  const { markers } = segmentAttempts(run);
  const stops = stoppedIntervals(markers, T0 + 900 * 1000);
  assert.equal(stops.length, 2);
  assert.deepEqual(
    stops.map((s) => [(s.from - T0) / 1000, (s.to - T0) / 1000, s.open, s.reason, s.attempt, s.count]),
    [
      [60, 360, false, "ctrl-c", 1, 2],
      [500, 900, true, null, 2, 1],
    ],
  );
  // A RESUME with no STOP before it opens nothing.
  assert.deepEqual(stoppedIntervals([{ kind: "resume", seq: 3, time: at(1) }], T0), []);
});

test("rows sort by first event, or by graph level; graph units with no events get an empty row", () => {
  const units = [unit("b", 9, 30, 40), unit("a", 2, 0, 20), unit("c", 5, 10, 50)];
  assert.deepEqual(orderRows(units).map((r) => r.unit), ["a", "c", "b"]);
  const levels = [["b"], ["c", "a"], ["d"]];
  const byLevel = orderRows(units, { order: "level", levels });
  assert.deepEqual(byLevel.map((r) => [r.unit, r.level]), [["b", 0], ["a", 1], ["c", 1], ["d", 2]]);
  assert.equal(byLevel[3].status, "pending");
  assert.deepEqual(orderRows(units, { levels }).map((r) => r.unit), ["a", "c", "b", "d"]);
});

test("bars span first to last event, waiting before unit.started, rows stacked by ROW_H", () => {
  const g = layoutGantt({
    units: [unit("a", 1, 0, 100, { started_time: at(20) }), unit("b", 8, 50, 50, { status: "failed" })],
    run: { started_at: at(0), completed_at: at(100), status: "failed" },
    width: LABEL_W + 100 + 16,
  });
  assert.equal(g.t0, T0);
  assert.equal(g.t1, T0 + 100000);
  assert.equal(g.x0, LABEL_W);
  assert.equal(g.x1, LABEL_W + 100);
  const [a, b] = g.rows;
  assert.deepEqual(a.wait, { x: LABEL_W, w: 20 });
  assert.deepEqual(a.bar, { x: LABEL_W + 20, w: 80 });
  assert.equal(b.y, ROW_H);
  // One event still shows: at least 3 px.
  assert.deepEqual(b.bar, { x: LABEL_W + 50, w: 3 });
  assert.equal(b.wait, null);
  assert.equal(g.height, 2 * ROW_H);
  assert.equal(g.nowX, null, "a finished run has no now line");
});

test("a running run stretches the domain and its open units to now, not while it is stopped", () => {
  const units = [unit("a", 1, 0, 10, { status: "in_progress" }), unit("b", 3, 0, 10)];
  const run = { started_at: at(0), status: "running" };
  const g = layoutGantt({ units, run, width: LABEL_W + 200 + 16, now: T0 + 200000 });
  assert.equal(g.t1, T0 + 200000);
  assert.equal(g.nowX, LABEL_W + 200);
  assert.equal(g.rows[0].live, true);
  assert.equal(g.rows[0].bar.w, 200);
  assert.equal(g.rows[1].live, false);
  assert.equal(g.rows[1].bar.w, 10);
  const stopped = layoutGantt({
    units,
    run,
    markers: [{ kind: "stop", seq: 9, time: at(50), reason: "ctrl-c", count: 1, attempt: 1 }],
    width: LABEL_W + 200 + 16,
    now: T0 + 200000,
  });
  assert.equal(stopped.rows[0].live, false);
  assert.equal(stopped.stops.length, 1);
  assert.deepEqual([stopped.stops[0].x, stopped.stops[0].w, stopped.stops[0].open], [LABEL_W + 50, 150, true]);
});

test("stopped intervals are placed on the chart's scale", () => {
  const g = layoutGantt({
    units: [unit("a", 1, 0, 100)],
    run: { started_at: at(0), completed_at: at(100), status: "completed" },
    markers: [
      { kind: "stop", seq: 3, time: at(20), reason: "user", count: 1, attempt: 1 },
      { kind: "resume", seq: 4, time: at(70), count: 1, attempt: 2 },
    ],
    width: LABEL_W + 1000 + 16,
  });
  assert.deepEqual(g.stops.map((s) => [s.x, s.w, s.reason, s.open]), [[LABEL_W + 200, 500, "user", false]]);
});

test("the status text goes right of the bar, or left of it at the right edge", () => {
  assert.deepEqual(statusTextPlace({ bar: { x: 200, w: 50 }, wait: null }, 1000), { x: 256, anchor: "start" });
  assert.deepEqual(statusTextPlace({ bar: { x: 600, w: 390 }, wait: null }, 1000), { x: 594, anchor: "end" });
  assert.equal(statusTextPlace({ bar: { x: LABEL_W, w: 830 }, wait: null }, 1000).inside, true);
});
