import test from "node:test";
import assert from "node:assert/strict";
import {
  compareRows,
  durationBars,
  durationChange,
  execStatus,
  executionSummary,
  formatBytes,
  formatRate,
  formatSecs,
  percentile,
  pointsAttr,
  runIdOf,
  sortRows,
  sparkline,
  trendOf,
  windowOf,
} from "../insights-logic.js";

test("only the offered windows are taken from a route, else 30 days", () => {
  assert.equal(windowOf("7d"), "7d");
  assert.equal(windowOf("90d"), "90d");
  assert.equal(windowOf("12h"), "30d");
  assert.equal(windowOf(""), "30d");
});

test("durations read like the run list's, with a decimal under a minute when there is one", () => {
  assert.equal(formatSecs(45), "45s");
  assert.equal(formatSecs(2.4), "2.4s");
  assert.equal(formatSecs(192), "3m 12s");
  assert.equal(formatSecs(3900), "1h 5m");
  assert.equal(formatSecs(null), "–");
  assert.equal(formatRate(0.964), "96.4%");
  assert.equal(formatRate(1), "100%");
  assert.equal(formatRate(2 / 3), "66.7%");
  assert.equal(formatRate(null), "–");
  assert.equal(formatBytes(406583), "397.1 KiB");
  assert.equal(formatBytes(null), "not recorded");
});

test("a trend says its direction in words: slower is bad, a higher success rate good, more runs neutral", () => {
  assert.deepEqual(trendOf("duration", 12), { text: "+12s", word: "slower", tone: "bad" });
  assert.deepEqual(trendOf("duration", -1.5), { text: "−1.5s", word: "faster", tone: "good" });
  assert.deepEqual(trendOf("rate", 0.089), { text: "+8.9 pts", word: "better", tone: "good" });
  assert.deepEqual(trendOf("rate", -0.0625), { text: "−6.3 pts", word: "worse", tone: "bad" });
  assert.deepEqual(trendOf("count", 4), { text: "+4", word: "more", tone: "flat" });
  assert.equal(trendOf("duration", null).tone, "none");
  assert.equal(trendOf("rate", 0).word, "same");
});

test("a sparkline leaves a gap where a bucket has no finished execution and scales min to max", () => {
  const series = [
    { from: 0, executions: 1, failed: 0, p50_seconds: 10 },
    { from: 1, executions: 1, failed: 1, p50_seconds: 20 },
    { from: 2, executions: 0, failed: 0, p50_seconds: null },
    { from: 3, executions: 2, failed: 0, p50_seconds: 30 },
    { from: 4, executions: 1, failed: 0, p50_seconds: 20 },
  ];
  const s = sparkline(series, { width: 100, height: 20, pad: 0 });
  assert.equal(s.segments.length, 2);
  assert.equal(pointsAttr(s.segments[0]), "0,20 25,10");
  assert.equal(pointsAttr(s.segments[1]), "75,0 100,10");
  assert.deepEqual(s.failed, [25]);
  assert.equal(s.min, 10);
  assert.equal(s.max, 30);
  assert.equal(s.points.length, 4);
  // All equal: a flat line in the middle; none: nothing drawn.
  const flat = sparkline([{ p50_seconds: 5 }, { p50_seconds: 5 }], { width: 10, height: 10, pad: 0 });
  assert.equal(pointsAttr(flat.segments[0]), "0,5 10,5");
  assert.deepEqual(sparkline(null).segments, []);
});

test("duration bars put the oldest execution left and scale to the longest", () => {
  const newestFirst = [
    { run: "c", status: "success", duration_seconds: 20 },
    { run: "b", status: "failed", duration_seconds: 10 },
    { run: "a", status: "running", duration_seconds: null },
  ];
  const { bars, max } = durationBars(newestFirst, { width: 90, height: 52, gap: 0 });
  assert.equal(max, 20);
  assert.deepEqual(bars.map((b) => b.execution.run), ["a", "b", "c"]);
  assert.deepEqual(bars.map((b) => b.h), [2, 25, 50]);
  assert.deepEqual(bars.map((b) => b.x), [1, 31, 61]);
});

test("percentiles are nearest-rank, as docs/INSIGHTS.md defines them", () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([4, 3, 2, 1], 90), 4);
  assert.equal(percentile([], 50), null);
  const sum = executionSummary([
    { status: "success", duration_seconds: 30 },
    { status: "failed", duration_seconds: 10 },
    { status: "running", duration_seconds: null },
    { status: "success", duration_seconds: 20 },
  ]);
  assert.deepEqual(sum, { total: 4, success: 2, failed: 1, other: 1, p50: 20, p90: 30 });
});

test("an execution status is shown with a glyph, and an unknown one as unknown", () => {
  assert.deepEqual(execStatus("failed"), { status: "failed", glyph: "✗", label: "failed" });
  assert.equal(execStatus("weird").status, "unknown");
  assert.equal(execStatus("__proto__").status, "unknown");
});

test("an imported otto run's name maps back to its history id; a recorded run's is its id", () => {
  assert.equal(runIdOf("web-9d9de448/1796334424", "web-9d9de448"), "web-9d9de448:1796334424");
  assert.equal(runIdOf("web-9d9de448/1796334424-1", "web-9d9de448"), "web-9d9de448:1796334424-1");
  assert.equal(runIdOf("run_20250120_143052_a1b2", "/src/app"), "run_20250120_143052_a1b2");
  assert.equal(runIdOf("/src/app/x", "/src/app"), "/src/app/x");
});

test("a comparison lists status changes first, then exit codes, then the biggest duration changes", () => {
  const report = {
    added: [{ task: "e2e" }],
    removed: [],
    unchanged: ["lint"],
    changed: [
      { task: "slow", status_changed: false, exit_code_changed: false, duration_changed: true, duration_delta_seconds: 5 },
      { task: "slower", status_changed: false, exit_code_changed: false, duration_changed: true, duration_delta_seconds: -50 },
      { task: "build", status_changed: true, exit_code_changed: true, duration_changed: true, duration_delta_seconds: -28 },
      { task: "exit", status_changed: false, exit_code_changed: true, duration_changed: false, duration_delta_seconds: 0 },
    ],
  };
  const rows = compareRows(report);
  assert.deepEqual(rows.changed.map((c) => c.task), ["build", "exit", "slower", "slow"]);
  assert.deepEqual(rows.counts, { status: 1, exit: 2, duration: 3, added: 1, removed: 0, unchanged: 1 });
  assert.equal(durationChange(29, -28), "−28s (−97%)");
  assert.equal(durationChange(0, 3), "+3s");
  assert.equal(durationChange(10, null), "–");
});

test("the per-unit table sorts by a column, rows without the figure last, ties in the API's order", () => {
  const rows = [
    { task: "api", total: 4, p50_seconds: 12, trend: { p50_delta_seconds: 2 } },
    { task: "web", total: 4, p50_seconds: null, trend: null },
    { task: "lint", total: 3, p50_seconds: 2, trend: { p50_delta_seconds: 0 } },
    { task: "e2e", total: 1, p50_seconds: 40, trend: { p50_delta_seconds: null } },
  ];
  assert.deepEqual(sortRows(rows, "p50").map((r) => r.task), ["e2e", "api", "lint", "web"]);
  assert.deepEqual(sortRows(rows, "p50", "asc").map((r) => r.task), ["lint", "api", "e2e", "web"]);
  assert.deepEqual(sortRows(rows, "total").map((r) => r.task), ["api", "web", "lint", "e2e"]);
  assert.deepEqual(sortRows(rows, "task", "asc").map((r) => r.task), ["api", "e2e", "lint", "web"]);
  assert.deepEqual(sortRows(rows, "p50_change").map((r) => r.task), ["api", "lint", "web", "e2e"]);
  assert.deepEqual(sortRows(rows, "constructor").map((r) => r.task), ["api", "web", "lint", "e2e"]);
});
