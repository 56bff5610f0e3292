import test from "node:test";
import assert from "node:assert/strict";
import { layoutGraph, validateGraph } from "../layout.js";
import { formatHash, parseHash } from "../route.js";

test("a malformed graph is refused or cleaned, never trusted", () => {
  assert.equal(validateGraph(null), null);
  assert.equal(validateGraph({ nodes: { a: 1 } }), null);
  assert.equal(validateGraph({ nodes: [] }), null);
  const g = validateGraph({
    nodes: [{ id: "a", level: 0 }, { id: "b", level: 1 }, { id: "a" }, null],
    edges: [{ from: "b", to: "a" }, { from: "b", to: "ghost" }, "x"],
    levels: "nope",
  });
  assert.deepEqual(g.nodes.map((n) => n.id), ["a", "b"]);
  assert.deepEqual(g.edges, [{ from: "b", to: "a" }]);
  assert.deepEqual(g.levels, [["a"], ["b"]]);
});

test("levels missing a node get it appended", () => {
  const g = validateGraph({ nodes: [{ id: "a" }, { id: "b" }], edges: [], levels: [["a"]] });
  assert.deepEqual(g.levels, [["a"], ["b"]]);
});

test("choo's layout: levels 100 px apart from y=80, nodes 240 px apart and centred", () => {
  const g = validateGraph({ nodes: [{ id: "a" }, { id: "b" }, { id: "c" }], edges: [], levels: [["a", "b"], ["c"]] });
  const { positions } = layoutGraph(g);
  assert.deepEqual(positions.get("a"), { x: -120, y: 80, level: 0 });
  assert.deepEqual(positions.get("b"), { x: 120, y: 80, level: 0 });
  assert.deepEqual(positions.get("c"), { x: 0, y: 180, level: 1 });
});

test("barycentric ordering uncrosses edges", () => {
  // x depends on b, y on a: drawn in the given order the two edges cross.
  const g = validateGraph({
    nodes: [{ id: "a" }, { id: "b" }, { id: "x" }, { id: "y" }],
    edges: [{ from: "x", to: "b" }, { from: "y", to: "a" }],
    levels: [["a", "b"], ["x", "y"]],
  });
  const { order } = layoutGraph(g);
  assert.deepEqual(order[1], ["y", "x"]);
});

test("edges step from the dependency's bottom to the dependent's top", () => {
  const g = validateGraph({ nodes: [{ id: "a" }, { id: "b" }], edges: [{ from: "b", to: "a" }], levels: [["a"], ["b"]] });
  const { edges } = layoutGraph(g);
  assert.equal(edges[0].path, "M0,105V130H0V155");
});

test("routes round-trip through the hash, empty keys left out", () => {
  const none = { since: "", task: "", failed: "", cmp: "" };
  const route = { view: "history", repo: "/src/a b", status: "failed", run: "run_1", unit: "", q: 'type:unit "a b"', seq: "", ...none };
  const hash = formatHash(route);
  assert.equal(hash, "#/history?repo=%2Fsrc%2Fa+b&status=failed&run=run_1&q=type%3Aunit+%22a+b%22");
  assert.deepEqual(parseHash(hash), route);
  assert.deepEqual(parseHash(""), { view: "history", repo: "", status: "", run: "", unit: "", q: "", seq: "", ...none });
});
