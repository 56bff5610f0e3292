import test from "node:test";
import assert from "node:assert/strict";
import { formatHash, parseHash, withRoute } from "../route.js";

test("a single event's permalink survives the round trip through the hash", () => {
  const route = parseHash("#/history?repo=%2Fsrc%2Fapp&run=run_1&unit=api&seq=57");
  assert.deepEqual(route, { view: "history", repo: "/src/app", status: "", run: "run_1", unit: "api", q: "", seq: "57", since: "", task: "", failed: "", cmp: "" });
  assert.equal(formatHash(route), "#/history?repo=%2Fsrc%2Fapp&run=run_1&unit=api&seq=57");
  assert.equal(formatHash(withRoute(route, { run: "run_2", unit: "", q: "", seq: "" })), "#/history?repo=%2Fsrc%2Fapp&run=run_2");
});

test("the insights view and the side panels are in the hash", () => {
  const route = parseHash("#/insights?repo=%2Fsrc%2Fapp&since=7d&task=api&failed=1");
  assert.equal(route.view, "insights");
  assert.equal(route.since, "7d");
  assert.equal(route.task, "api");
  assert.equal(route.failed, "1");
  assert.equal(formatHash(route), "#/insights?repo=%2Fsrc%2Fapp&since=7d&task=api&failed=1");
  const compare = parseHash("#/history?repo=%2Fsrc%2Fapp&run=run_5&cmp=prev");
  assert.equal(compare.cmp, "prev");
  assert.equal(formatHash(withRoute(compare, { cmp: "", task: "web" })), "#/history?repo=%2Fsrc%2Fapp&run=run_5&task=web");
  // An unknown view is the History view.
  assert.equal(parseHash("#/elsewhere").view, "history");
});
