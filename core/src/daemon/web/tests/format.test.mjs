// node --test core/src/daemon/web/tests/
import test from "node:test";
import assert from "node:assert/strict";
import {
  activeMs, baseName, formatDuration, normaliseRepo, pageBefore, pageCount, parseTime, plural, wallMs,
} from "../format.js";

test("durations read like choo's: hours and minutes, minutes and seconds, seconds", () => {
  assert.equal(formatDuration(3_900_000), "1h 5m");
  assert.equal(formatDuration(192_000), "3m 12s");
  assert.equal(formatDuration(45_900), "45s");
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(null), "--");
  assert.equal(formatDuration(-5), "--");
  assert.equal(formatDuration(NaN), "--");
});

test("Go's zero time and garbage are unknown times, nine fractional digits parse", () => {
  assert.equal(parseTime("0001-01-01T00:00:00Z"), null);
  assert.equal(parseTime("yesterday"), null);
  assert.equal(parseTime(""), null);
  assert.equal(parseTime(null), null);
  assert.equal(parseTime("2026-12-02T18:42:00.123456789Z").getTime(), Date.UTC(2026, 11, 2, 18, 42, 0, 123));
});

test("wall time runs to completion, or to now while running", () => {
  const run = { started_at: "2026-01-01T00:00:00Z", completed_at: "2026-01-01T00:01:00Z", status: "completed" };
  assert.equal(wallMs(run, Date.UTC(2030, 0, 1)), 60_000);
  const running = { started_at: "2026-01-01T00:00:00Z", completed_at: null, status: "running" };
  assert.equal(wallMs(running, Date.UTC(2026, 0, 1, 0, 0, 30)), 30_000);
  const stoppedWithoutEnd = { started_at: "2026-01-01T00:00:00Z", completed_at: null, status: "stopped" };
  assert.equal(wallMs(stoppedWithoutEnd, Date.UTC(2026, 0, 2)), null);
});

test("active time adds the open running period to the stored one", () => {
  const now = Date.UTC(2026, 0, 1, 0, 10);
  assert.equal(activeMs({ active_ms: 5000, active_since: null }, now), 5000);
  assert.equal(activeMs({ active_ms: 5000, active_since: "2026-01-01T00:09:00Z" }, now), 65_000);
  assert.equal(activeMs({}, now), null);
});

test("page counts: an empty list is page 1 of 1, 45 runs by 20 are 3 pages", () => {
  assert.equal(pageCount(0, 20), 1);
  assert.equal(pageCount(20, 20), 1);
  assert.equal(pageCount(21, 20), 2);
  assert.equal(pageCount(45, 20), 3);
});

test("seq pages: the tail, an earlier page, and the first page clamp at seq 1", () => {
  assert.deepEqual(pageBefore(1201, 250), { after_seq: 950, limit: 250 });
  assert.deepEqual(pageBefore(951, 250), { after_seq: 700, limit: 250 });
  assert.deepEqual(pageBefore(101, 250), { after_seq: 0, limit: 100 });
  assert.deepEqual(pageBefore(1, 250), { after_seq: 0, limit: 0 });
});

test("repository paths lose a trailing slash (the API matches byte for byte)", () => {
  assert.equal(normaliseRepo("/src/app/"), "/src/app");
  assert.equal(normaliseRepo("/src/app"), "/src/app");
  assert.equal(normaliseRepo("/"), "/");
  assert.equal(baseName("/src/app"), "app");
  assert.equal(plural(1, "run"), "1 run");
  assert.equal(plural(2, "run"), "2 runs");
});

test("relative mode: offsets from the run's start, and the time since elsewhere", async () => {
  const { agoText, formatOffset, getZone, isRelative, setZone } = await import("../format.js");
  assert.equal(formatOffset(0), "+0s");
  assert.equal(formatOffset(83_000), "+1m 23s");
  assert.equal(formatOffset(3_900_000), "+1h 5m");
  assert.equal(formatOffset(-5_000), "-5s");
  assert.equal(formatOffset(null), "--");
  const now = Date.parse("2026-12-02T18:45:12Z");
  assert.equal(agoText(new Date("2026-12-02T18:42:00Z"), now), "3m 12s ago");
  assert.equal(agoText(new Date(now - 200), now), "just now");
  setZone("relative");
  assert.equal(getZone(), "relative");
  assert.equal(isRelative(), true);
  setZone("nonsense");
  assert.equal(getZone(), "local", "an unknown mode falls back to local");
  assert.equal(isRelative(), false);
});
