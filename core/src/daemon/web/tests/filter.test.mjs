import test from "node:test";
import assert from "node:assert/strict";
import { isFailure, passes, sameParams, serverParams } from "../filter.js";
import { parseQuery } from "../search.js";

const base = { family: "", unit: "", failures: false, query: "", hide: true, attempt: 0 };

test("no filter asks the server for every event", () => {
  assert.equal(serverParams(base), null);
  assert.equal(serverParams({ ...base, attempt: 2 }), null, "the attempt picks among loaded rows");
  assert.equal(serverParams({ ...base, query: "   " }), null, "a blank search is none");
});

test("each filter becomes the events API parameter that reads the same events", () => {
  assert.deepEqual(serverParams({ ...base, family: "task", unit: "api", failures: true, query: " type:task.retry boom " }), {
    type: "task",
    unit: "api",
    failed: "true",
    q: "type:task.retry boom",
  });
});

test("a highlighting search is not sent: every event is read, the matches marked", () => {
  assert.deepEqual(serverParams({ ...base, unit: "api", query: "boom", hide: false }), { unit: "api" });
  assert.equal(serverParams({ ...base, query: "boom", hide: false }), null);
});

test("sameParams compares what would be read", () => {
  assert.equal(sameParams(null, null), true);
  assert.equal(sameParams(null, { unit: "a" }), false);
  assert.equal(sameParams({ unit: "a", q: "x" }, { q: "x", unit: "a" }), true);
  assert.equal(sameParams({ unit: "a" }, { unit: "a", failed: "true" }), false);
});

test("a live event passes the filter as the server would decide", () => {
  const retry = { type: "task.retry", unit: "api", error: null, payload: { reason: "Timeout" } };
  const failed = { type: "unit.failed", unit: "web", error: "exit 1", payload: null };
  const parsed = parseQuery("timeout");
  assert.equal(passes(base, parseQuery(""), retry), true);
  assert.equal(passes({ ...base, unit: "api" }, parseQuery(""), retry), true);
  assert.equal(passes({ ...base, unit: "web" }, parseQuery(""), retry), false);
  assert.equal(passes({ ...base, family: "task" }, parseQuery(""), retry), true);
  assert.equal(passes({ ...base, family: "unit" }, parseQuery(""), retry), false);
  assert.equal(passes({ ...base, failures: true }, parseQuery(""), retry), false);
  assert.equal(passes({ ...base, failures: true }, parseQuery(""), failed), true);
  assert.equal(passes({ ...base, query: "timeout" }, parsed, retry), true);
  assert.equal(passes({ ...base, query: "timeout" }, parsed, failed), false);
  assert.equal(passes({ ...base, query: "timeout", hide: false }, parsed, failed), true, "highlight hides nothing");
});

test("a failure is a failing type or a non-empty error, like failed=true", () => {
  assert.equal(isFailure({ type: "task.validation.fail" }), true);
  assert.equal(isFailure({ type: "run.failed" }), true);
  assert.equal(isFailure({ type: "task.completed", error: "exit status 1" }), true);
  assert.equal(isFailure({ type: "task.completed", error: "" }), false);
  assert.equal(isFailure({ type: "unit.Failed" }), false, "case-sensitive, as the SQL is");
});
