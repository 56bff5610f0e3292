import test from "node:test";
import assert from "node:assert/strict";
import { formatHash, parseHash, withRoute } from "../route.js";

test("a single event's permalink survives the round trip through the hash", () => {
  const route = parseHash("#/history?repo=%2Fsrc%2Fapp&run=run_1&unit=api&seq=57");
  assert.deepEqual(route, { view: "history", repo: "/src/app", status: "", run: "run_1", unit: "api", q: "", seq: "57", since: "", task: "", failed: "", cmp: "" });
  assert.equal(formatHash(route), "#/history?repo=%2Fsrc%2Fapp&run=run_1&unit=api&seq=57");
  assert.equal(formatHash(withRoute(route, { run: "run_2", unit: "", q: "", seq: "" })), "#/history?repo=%2Fsrc%2Fapp&run=run_2");
});
