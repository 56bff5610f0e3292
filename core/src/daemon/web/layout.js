// Pure graph layout, choo's rules (graph.js on choo main): levels top-down,
// 240 px apart horizontally and 100 px vertically, then four rounds of
// barycentric ordering to cut crossings. No DOM; unit-tested with node.

export const NODE_W = 200;
export const NODE_H = 50;
const SPACING = 240;
const LEVEL_Y = 100;
const TOP = 80;
const ROUNDS = 4;

/**
 * A graph as the daemon stores it, checked: `nodes` and `edges` arrays,
 * edges naming known nodes, `levels` an array of arrays of known ids
 * (rebuilt from each node's `level` when absent or malformed). The daemon
 * stores what `orch.started` carried verbatim, so none of this is assumed.
 *
 * Returns {nodes, edges, levels} or null when nothing drawable remains.
 */
export function validateGraph(raw) {
  if (!raw || typeof raw !== "object" || !Array.isArray(raw.nodes)) return null;
  const nodes = [];
  const seen = new Set();
  for (const n of raw.nodes) {
    if (!n || typeof n !== "object" || n.id == null) continue;
    const id = String(n.id);
    if (seen.has(id)) continue;
    seen.add(id);
    nodes.push({ ...n, id });
  }
  if (nodes.length === 0) return null;
  const edges = (Array.isArray(raw.edges) ? raw.edges : [])
    .filter((e) => e && seen.has(String(e.from)) && seen.has(String(e.to)))
    .map((e) => ({ from: String(e.from), to: String(e.to) }));
  let levels = null;
  if (Array.isArray(raw.levels) && raw.levels.every(Array.isArray)) {
    const placed = new Set();
    levels = raw.levels.map((level) =>
      level.map(String).filter((id) => seen.has(id) && !placed.has(id) && placed.add(id)),
    );
    const missing = nodes.filter((n) => !placed.has(n.id)).map((n) => n.id);
    if (missing.length) levels.push(missing);
    levels = levels.filter((l) => l.length > 0);
  } else {
    const byLevel = new Map();
    for (const n of nodes) {
      const l = Number.isInteger(n.level) && n.level >= 0 ? n.level : 0;
      if (!byLevel.has(l)) byLevel.set(l, []);
      byLevel.get(l).push(n.id);
    }
    levels = [...byLevel.keys()].sort((a, b) => a - b).map((l) => byLevel.get(l));
  }
  return { nodes, edges, levels };
}

/**
 * Node centres and edge paths for a validated graph. x is centred on 0
 * (the view fits it); y grows downwards by level.
 *
 * Returns {positions: Map id -> {x, y, level}, edges: [{from, to, path}], bounds}.
 */
export function layoutGraph(graph) {
  const positions = new Map();
  const order = graph.levels.map((level) => [...level]);
  const place = () => {
    order.forEach((level, i) => {
      const width = (level.length - 1) * SPACING;
      level.forEach((id, j) => {
        positions.set(id, { x: j * SPACING - width / 2, y: TOP + i * LEVEL_Y, level: i });
      });
    });
  };
  place();
  // In the data `from` depends on `to`: `to` sits above.
  const deps = new Map();
  const dependents = new Map();
  for (const e of graph.edges) {
    if (!deps.has(e.from)) deps.set(e.from, []);
    deps.get(e.from).push(e.to);
    if (!dependents.has(e.to)) dependents.set(e.to, []);
    dependents.get(e.to).push(e.from);
  }
  const mean = (ids, fallback) => {
    const xs = (ids ?? []).map((id) => positions.get(id)?.x).filter(Number.isFinite);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : fallback;
  };
  const sortBy = (level, neighbours) => {
    const keyed = level.map((id, index) => ({
      id,
      index,
      key: mean(neighbours.get(id), positions.get(id).x),
    }));
    keyed.sort((a, b) => a.key - b.key || a.index - b.index);
    return keyed.map((k) => k.id);
  };
  for (let round = 0; round < ROUNDS; round += 1) {
    for (let i = 1; i < order.length; i += 1) {
      order[i] = sortBy(order[i], deps);
      place();
    }
    for (let i = order.length - 2; i >= 0; i -= 1) {
      order[i] = sortBy(order[i], dependents);
      place();
    }
  }
  const edges = graph.edges.map((e) => ({ ...e, path: "" }));
  spreadEdges(edges, positions);
  let minX = Infinity;
  let maxX = -Infinity;
  let maxY = 0;
  for (const p of positions.values()) {
    minX = Math.min(minX, p.x - NODE_W / 2);
    maxX = Math.max(maxX, p.x + NODE_W / 2);
    maxY = Math.max(maxY, p.y + NODE_H / 2);
  }
  return {
    positions,
    edges,
    bounds: { x: minX, y: TOP - NODE_H / 2, width: maxX - minX, height: maxY - (TOP - NODE_H / 2) },
    order,
  };
}

/**
 * Orthogonal step paths from the dependency (above) to the dependent
 * (below): down to half-way, across, down. Several edges leaving or
 * entering one side of a node spread across ±1/3 of its width.
 */
function spreadEdges(edges, positions) {
  const offsets = (key) => {
    const groups = new Map();
    edges.forEach((e, i) => {
      const id = e[key];
      if (!groups.has(id)) groups.set(id, []);
      groups.get(id).push(i);
    });
    const out = new Array(edges.length).fill(0);
    for (const [id, list] of groups) {
      const other = key === "to" ? "from" : "to";
      list.sort((a, b) => positions.get(edges[a][other]).x - positions.get(edges[b][other]).x);
      const span = (NODE_W * 2) / 3;
      list.forEach((edgeIndex, k) => {
        out[edgeIndex] = list.length === 1 ? 0 : -span / 2 + (span * k) / (list.length - 1);
      });
      void id;
    }
    return out;
  };
  const leave = offsets("to");
  const enter = offsets("from");
  edges.forEach((e, i) => {
    const top = positions.get(e.to);
    const bottom = positions.get(e.from);
    const sx = top.x + leave[i];
    const sy = top.y + NODE_H / 2;
    const ex = bottom.x + enter[i];
    const ey = bottom.y - NODE_H / 2;
    const mid = sy + (ey - sy) / 2;
    e.path = `M${sx},${sy}V${mid}H${ex}V${ey}`;
  });
}
