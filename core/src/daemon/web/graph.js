// The dependency graph, drawn as choo draws it (layout.js), as an instance
// per container (choo's module-level state would let two graphs clobber
// each other). Labels are SVG text nodes; pan and zoom use the vendored
// d3-zoom when it loaded, with a "fit" action.

import { h, s, replace } from "./dom.js";
import { NODE_H, NODE_W, layoutGraph } from "./layout.js";
import { NODE_STATUSES, countStatuses, nodeGlyph, nodeStatusLabel } from "./status.js";

const LABEL_MAX = 26;
const BLOCK = 8;
const BLOCK_GAP = 3;

const truncate = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

/** A graph view bound to one container element. */
export class GraphView {
  constructor(container, { onSelect } = {}) {
    this.container = container;
    this.onSelect = onSelect ?? (() => {});
    this.layout = null;
    this.zoom = null;
    this.svg = null;
    this.viewport = null;
    this.observer = null;
    this.selected = "";
  }

  /** "6 units: 2 complete, 1 failed, …" for the graph's accessible name. */
  summary(graph, units) {
    const counts = countStatuses(new Map(graph.nodes.map((n) => [n.id, units.get(n.id) ?? { status: "pending" }])));
    return `${graph.nodes.length} units: ${NODE_STATUSES.filter(([st]) => counts[st])
      .map(([st, label]) => `${counts[st]} ${label}`)
      .join(", ")}`;
  }

  /** Draws `graph` (validated) with the units' derived states (Map). */
  render(graph, units) {
    this.data = graph;
    this.layout = layoutGraph(graph);
    const summary = this.summary(graph, units);
    const viewport = s("g", { class: "viewport" });
    const svg = s(
      "svg",
      // A group, not an image: its unit nodes are focusable controls.
      { role: "group", "aria-label": `Dependency graph. ${summary}`, "data-graph": "1" },
      s("title", { text: `Dependency graph. ${summary}` }),
      s(
        "defs",
        {},
        s(
          "marker",
          { id: "arrow", viewBox: "0 -5 10 10", refX: "9", refY: "0", markerWidth: "7", markerHeight: "7", orient: "auto" },
          s("path", { d: "M0,-5L10,0L0,5", class: "arrow" }),
        ),
      ),
      viewport,
    );
    const edgeLayer = s("g", { class: "edges" });
    for (const e of this.layout.edges) {
      edgeLayer.append(s("path", { class: "edge", d: e.path, "marker-end": "url(#arrow)", "data-from": e.from, "data-to": e.to }));
    }
    const nodeLayer = s("g", { class: "nodes" });
    this.nodes = new Map();
    for (const node of graph.nodes) {
      const el = this.node(node, units.get(node.id));
      this.nodes.set(node.id, el);
      nodeLayer.append(el);
    }
    viewport.append(edgeLayer, nodeLayer);
    replace(this.container, svg);
    this.svg = svg;
    this.viewport = viewport;
    this.attachZoom();
    this.fit();
    if (!this.observer && typeof ResizeObserver === "function") {
      // Drawn while hidden, the box is 0×0: fit again once it has a size.
      this.observer = new ResizeObserver(() => this.fit());
      this.observer.observe(this.container);
    }
    return summary;
  }

  node(node, unit) {
    const p = this.layout.positions.get(node.id);
    const status = unit?.status ?? "pending";
    const tasks = unit?.tasks ?? 0;
    const done = Math.min(unit?.done ?? 0, tasks);
    const progress = tasks > 0 ? `, ${done} of ${tasks} tasks` : "";
    const g = s("g", {
      class: `node status-${status}`,
      transform: `translate(${p.x - NODE_W / 2},${p.y - NODE_H / 2})`,
      tabindex: "0",
      role: "button",
      "aria-label": `unit ${node.id}, ${nodeStatusLabel(status)}${progress}`,
      "data-unit": node.id,
      "data-status": status,
    });
    const body = s("rect", { class: `body st-${status}`, width: NODE_W, height: NODE_H, rx: 6, ry: 6 });
    if (status === "in_progress" && tasks === 0) body.classList.add("pulse");
    g.append(
      s("title", { text: `${node.id} — ${nodeStatusLabel(status)}${progress}` }),
      body,
      s(
        "text",
        { class: "label", x: NODE_W / 2, y: tasks > 0 ? 21 : 22, "text-anchor": "middle" },
        s("tspan", { class: "glyph", "aria-hidden": "true", text: `${nodeGlyph(status)} ` }),
        s("tspan", { class: "name", text: truncate(node.id, LABEL_MAX) }),
      ),
    );
    if (tasks === 0) {
      g.append(s("text", { class: "sub", x: NODE_W / 2, y: 39, "text-anchor": "middle", text: nodeStatusLabel(status) }));
    }
    if (tasks > 0) {
      const width = tasks * BLOCK + (tasks - 1) * BLOCK_GAP;
      const shown = Math.min(tasks, Math.floor((NODE_W - 16 + BLOCK_GAP) / (BLOCK + BLOCK_GAP)));
      const start = (NODE_W - Math.min(width, shown * (BLOCK + BLOCK_GAP) - BLOCK_GAP)) / 2;
      // Blocks sit under the label; a unit with more tasks than fit shows the first ones.
      const blocks = s("g", { class: "blocks", "aria-hidden": "true" });
      for (let i = 0; i < shown; i += 1) {
        const kind = i < done ? "done" : i === unit.current ? "current" : "todo";
        blocks.append(s("rect", { class: `block ${kind}`, x: start + i * (BLOCK + BLOCK_GAP), y: 32, width: BLOCK, height: BLOCK, rx: 1.5 }));
      }
      g.append(blocks);
    }
    g.addEventListener("mouseenter", () => this.highlight(node.id));
    g.addEventListener("mouseleave", () => this.highlight(""));
    g.addEventListener("focus", () => this.highlight(node.id));
    g.addEventListener("blur", () => this.highlight(""));
    g.addEventListener("click", () => this.onSelect(node.id));
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        this.onSelect(node.id);
      }
    });
    return g;
  }

  /**
   * Redraws the nodes whose state changed (live events), keeping the
   * layout, the zoom, the selection and the keyboard focus.
   */
  update(units) {
    if (!this.svg || !this.data) return;
    for (const node of this.data.nodes) {
      const old = this.nodes.get(node.id);
      const unit = units.get(node.id);
      const fresh = this.node(node, unit);
      if (old && old.getAttribute("aria-label") === fresh.getAttribute("aria-label")) continue;
      const focused = old && document.activeElement === old;
      old?.replaceWith(fresh);
      this.nodes.set(node.id, fresh);
      fresh.classList.toggle("selected", node.id === this.selected);
      if (focused) fresh.focus();
    }
    const summary = `Dependency graph. ${this.summary(this.data, units)}`;
    this.svg.setAttribute("aria-label", summary);
    const title = this.svg.querySelector(":scope > title");
    if (title) title.textContent = summary;
  }

  /** Dims every node not adjacent to `id` and lights its edges ("" clears). */
  highlight(id) {
    if (!this.svg) return;
    const near = new Set([id]);
    for (const e of this.layout.edges) {
      if (e.from === id) near.add(e.to);
      if (e.to === id) near.add(e.from);
    }
    for (const n of this.svg.querySelectorAll(".node")) {
      n.classList.toggle("dim", id !== "" && !near.has(n.getAttribute("data-unit")));
    }
    for (const e of this.svg.querySelectorAll(".edge")) {
      const touches = e.getAttribute("data-from") === id || e.getAttribute("data-to") === id;
      e.classList.toggle("hot", id !== "" && touches);
      e.classList.toggle("dim", id !== "" && !touches);
    }
  }

  /** Marks the unit the timeline is filtered to. */
  select(id) {
    this.selected = id;
    if (!this.svg) return;
    for (const n of this.svg.querySelectorAll(".node")) n.classList.toggle("selected", n.getAttribute("data-unit") === id);
  }

  attachZoom() {
    const d3 = globalThis.d3;
    if (!d3?.zoom) return;
    this.zoom = d3
      .zoom()
      .scaleExtent([0.15, 3])
      .on("zoom", (ev) => this.viewport.setAttribute("transform", ev.transform.toString()));
    d3.select(this.svg).call(this.zoom).on("dblclick.zoom", null);
  }

  /** Scales and centres the whole graph in the box (at most 1:1). */
  fit() {
    if (!this.svg || !this.layout) return;
    const width = this.container.clientWidth;
    const height = this.container.clientHeight;
    if (width === 0 || height === 0) return;
    const b = this.layout.bounds;
    const pad = 24;
    const k = Math.min(1, (width - 2 * pad) / b.width, (height - 2 * pad) / b.height);
    const x = width / 2 - k * (b.x + b.width / 2);
    const y = height / 2 - k * (b.y + b.height / 2);
    const d3 = globalThis.d3;
    if (this.zoom && d3) d3.select(this.svg).call(this.zoom.transform, d3.zoomIdentity.translate(x, y).scale(k));
    else this.viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
  }

  /** Stops observing the container. */
  destroy() {
    this.observer?.disconnect();
    this.observer = null;
  }
}

/** The status legend (colour plus word). */
export function legend() {
  return h(
    "div",
    { class: "legend", "aria-hidden": "true" },
    NODE_STATUSES.map(([st, label]) => h("span", {}, h("i", { class: `st-${st}` }), label)),
  );
}
