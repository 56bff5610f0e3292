import test from "node:test";
import assert from "node:assert/strict";
import { isEmptyQuery, matchesQuery, parseQuery } from "../search.js";

test("tokens: unit:, type:, quoted phrases and plain words", () => {
  assert.deepEqual(parseQuery('unit:api type:task.retry Timeout "exit status 1"'), {
    units: ["api"],
    types: ["task.retry"],
    words: ["timeout", "exit status 1"],
  });
  assert.deepEqual(parseQuery('unit:"my unit" foo:bar'), { units: ["my unit"], types: [], words: ["foo:bar"] });
  assert.equal(isEmptyQuery(parseQuery("   ")), true);
  assert.equal(isEmptyQuery(parseQuery("unit:")), true);
});

test("an event matches when every kind of token matches", () => {
  const e = { type: "task.validation.fail", unit: "api", error: null, payload: { output: "FAIL src/api.test.ts", exit_code: 1 } };
  assert.equal(matchesQuery(parseQuery("unit:api"), e), true);
  assert.equal(matchesQuery(parseQuery("unit:web"), e), false);
  assert.equal(matchesQuery(parseQuery("unit:web unit:api"), e), true, "units are alternatives");
  assert.equal(matchesQuery(parseQuery("type:task"), e), true, "a family");
  assert.equal(matchesQuery(parseQuery("type:task.validation"), e), true);
  assert.equal(matchesQuery(parseQuery("type:tas"), e), false, "whole segments only");
  assert.equal(matchesQuery(parseQuery("api.test FAIL"), e), true, "payload text, any case");
  assert.equal(matchesQuery(parseQuery("api.test missing"), e), false, "every word");
});

test("errors are searched, and markup is only text", () => {
  const e = { type: "unit.failed", unit: "<img src=x>", error: "boom </script>", payload: null };
  assert.equal(matchesQuery(parseQuery("</script>"), e), true);
  assert.equal(matchesQuery(parseQuery('unit:"<img src=x>"'), e), true);
});

test("the grammar's shared cases (the daemon's q= parser passes the same list)", async () => {
  const { readFile } = await import("node:fs/promises");
  const cases = JSON.parse(await readFile(new URL("./search-cases.json", import.meta.url), "utf8"));
  assert.ok(cases.length >= 10);
  for (const c of cases) assert.deepEqual(parseQuery(c.q), c.parsed, `query ${JSON.stringify(c.q)}`);
});
