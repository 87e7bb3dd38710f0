// levee console: the Pipeline page.
//
// GET /api/pipeline every 2 s, drawn as an SVG graph in three columns
// (sources, filters, outputs): each node with its rates, an output's
// buffer fill, its errors, drops and retries, and a sparkline of its
// events per second over the history; each edge with the rate of the
// events leaving its sender. A table below lists every figure.
//
// Hooks the browser test reads: each node `[data-testid=pipeline-node]`
// with `data-name` and `data-kind`; each edge's label
// `[data-testid=edge-rate]` with `data-edge` (`from->to`, by node id) and
// `data-rate` (events per second).
"use strict";
(function () {
  const levee = window.levee;
  const el = (...a) => levee.el(...a);
  const EVERY = 2000;
  const NODE_W = 230, NODE_H = 92, GAP = 26, TOP = 34;
  const COLUMNS = ["source", "filter", "output"];
  const TITLES = { source: "Sources", filter: "Filters", output: "Outputs" };

  let timer = null;
  let root = null;

  const rate = (v) => (v === null || v === undefined ? "–" : levee.num(v) + "/s");

  function node(n, x, y) {
    const g = el("g", {
      class: "node" + (n.behind ? " behind" : "") + ((n.errors_per_s || 0) > 0 ? " failing" : ""),
      transform: `translate(${x},${y})`,
      "data-testid": "pipeline-node",
      "data-node": n.id,
      "data-name": n.name,
      "data-kind": n.kind,
    });
    g.append(el("rect", { width: NODE_W, height: NODE_H, rx: 8 }));
    g.append(el("title", {}, `${n.kind} ${n.name} (${n.type})` + (n.pattern ? ` ${n.kind === "source" ? "tag" : "match"} ${n.pattern}` : "")));
    // Long names are cut before the sparkline; the title has them whole.
    g.append(el("text", { class: "name", x: 10, y: 18 }, n.name.length > 18 ? n.name.slice(0, 17) + "…" : n.name));
    const what = n.kind === "source"
      ? n.type + " · " + (n.pattern === null ? "tags from clients" : n.pattern)
      : n.type + " · " + n.pattern;
    g.append(el("text", { class: "sub", x: 10, y: 33 }, what.length > 36 ? what.slice(0, 35) + "…" : what));
    const flow = n.kind === "source"
      ? "out " + rate(n.in_per_s)
      : "in " + rate(n.in_per_s) + " · out " + rate(n.out_per_s);
    g.append(el("text", { class: "sub", x: 10, y: 50, "data-rate": n.out_per_s ?? n.in_per_s ?? "" }, flow));
    const trouble = [];
    if (n.errors) trouble.push(levee.num(n.errors) + " errors");
    if (n.drops) trouble.push(levee.num(n.drops) + " dropped");
    if (n.retries) trouble.push(levee.num(n.retries) + " retries");
    if (n.behind) trouble.unshift("falling behind: " + n.behind);
    if (trouble.length) g.append(el("text", { class: "bad", x: 10, y: 66 }, trouble.join(" · ")));
    else if (n.kind === "source" && n.checkpoint_lag_bytes) {
      g.append(el("text", { class: "sub", x: 10, y: 66 }, "lag " + levee.bytes(n.checkpoint_lag_bytes)));
    }
    if (n.kind === "output" && n.buffer_fill !== null && n.buffer_fill !== undefined) {
      const fill = Math.max(0, Math.min(1, n.buffer_fill));
      const w = 90;
      g.append(
        el("rect", { class: "fill-bg", x: 10, y: 74, width: w, height: 8, rx: 3 }),
        el("rect", { class: "fill" + (fill >= 0.9 ? " full" : fill >= 0.5 ? " high" : ""), x: 10, y: 74, width: Math.max(1, w * fill), height: 8, rx: 3 }),
        el("text", { class: "sub", x: 106, y: 82 }, "buffer " + Math.round(fill * 100) + "%")
      );
    }
    if (Array.isArray(n.spark) && n.spark.some((v) => v !== null)) {
      const values = n.spark;
      const max = Math.max(1e-9, ...values.filter((v) => v !== null));
      const sw = 70, sh = 16, sx = NODE_W - sw - 8, sy = 6;
      const points = values
        .map((v, i) => (v === null ? null : `${(sx + (i / Math.max(1, values.length - 1)) * sw).toFixed(1)},${(sy + sh - (v / max) * sh).toFixed(1)}`))
        .filter((p) => p)
        .join(" ");
      g.append(el("polyline", { class: "spark", points }, el("title", {}, "events/s over the last " + levee.num(values.length) + " points")));
    }
    return g;
  }

  function draw(container, data) {
    const byKind = { source: [], filter: [], output: [] };
    for (const n of data.nodes) byKind[n.kind].push(n);
    const width = Math.max(3 * NODE_W + 2 * 80, container.clientWidth || 900);
    const colX = (c) => (c * (width - NODE_W)) / 2;
    const rows = Math.max(1, ...COLUMNS.map((k) => byKind[k].length));
    const height = TOP + rows * (NODE_H + GAP);
    const at = {};
    COLUMNS.forEach((kind, c) => {
      byKind[kind].forEach((n, r) => (at[n.id] = { x: colX(c), y: TOP + r * (NODE_H + GAP), c }));
    });
    const svg = el("svg", { class: "graph", viewBox: `0 0 ${width} ${height}`, height });
    COLUMNS.forEach((kind, c) =>
      svg.append(el("text", { class: "col", x: colX(c) + 4, y: 16 }, TITLES[kind] + (byKind[kind].length ? "" : " (none)")))
    );
    const edges = el("g");
    const labels = el("g");
    for (const e of data.edges) {
      const a = at[e.from], b = at[e.to];
      if (!a || !b) continue;
      let d, lx, ly;
      if (a.c === b.c) {
        // Filter to filter, down the column, curving out on the right.
        const x = a.x + NODE_W, y1 = a.y + NODE_H / 2, y2 = b.y + NODE_H / 2;
        d = `M${x},${y1} C${x + 40},${y1} ${x + 40},${y2} ${x},${y2}`;
        lx = x + 34; ly = (y1 + y2) / 2;
      } else {
        const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
        const mid = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
        // Labelled at 70% of the way, not the middle: two edges that cross
        // (row 1 to 2 and row 2 to 1) meet at the middle, and their labels
        // would cover each other there.
        const t = 0.7, u = 1 - t;
        lx = u * u * u * x1 + 3 * u * t * mid + t * t * t * x2;
        ly = (u * u * u + 3 * u * u * t) * y1 + (3 * u * t * t + t * t * t) * y2;
      }
      edges.append(el("path", { class: "edge" + (e.maybe ? " maybe" : ""), d, "data-from": e.from, "data-to": e.to }));
      // A dashed edge (tags known only at run time) has no rate of its own.
      if (e.maybe) continue;
      const text = rate(e.rate);
      const w = 8 + 6.5 * text.length;
      labels.append(el("g", { "data-testid": "edge-rate", "data-edge": e.from + "->" + e.to, "data-rate": e.rate ?? "" },
        el("rect", { x: lx - w / 2, y: ly - 9, width: w, height: 16, rx: 4, fill: "#fff" }),
        el("text", { class: "rate", x: lx, y: ly + 3, "text-anchor": "middle" }, text)));
    }
    svg.append(edges);
    for (const n of data.nodes) svg.append(node(n, at[n.id].x, at[n.id].y));
    svg.append(labels);
    return svg;
  }

  function table(data) {
    const cols = [
      ["kind", (n) => n.kind], ["name", (n) => n.name], ["type", (n) => n.type],
      ["in/s", (n) => levee.num(n.in_per_s)], ["out/s", (n) => levee.num(n.out_per_s)],
      ["bytes/s", (n) => levee.bytes(n.bytes_per_s)], ["errors", (n) => levee.num(n.errors)],
      ["drops", (n) => levee.num(n.drops)], ["retries", (n) => levee.num(n.retries)],
      ["buffer", (n) => (n.buffer_fill === null || n.buffer_fill === undefined ? "–" : Math.round(n.buffer_fill * 100) + "% of " + levee.bytes(n.buffer_limit))],
      ["oldest", (n) => (n.oldest_age_s === null || n.oldest_age_s === undefined ? "–" : levee.num(n.oldest_age_s) + " s")],
      ["lag", (n) => (n.checkpoint_lag_bytes === null || n.checkpoint_lag_bytes === undefined ? "–" : levee.bytes(n.checkpoint_lag_bytes))],
    ];
    const numeric = (i) => i >= 3;
    return el("table", { class: "figures" },
      el("thead", {}, el("tr", {}, cols.map(([h], i) => el("th", { class: numeric(i) ? "num" : null }, h)))),
      el("tbody", {}, data.nodes.map((n) =>
        el("tr", { "data-node": n.id, class: n.behind ? "behind" : null },
          cols.map(([, f], i) => el("td", { class: numeric(i) ? "num" : null }, f(n)))))));
  }

  async function refresh() {
    try {
      const data = await levee.api("/api/pipeline");
      if (!root) return;
      if (!data.running) {
        root.replaceChildren(el("h1", {}, "Pipeline"), el("p", { class: "note", id: "no-pipeline" }, data.reason));
        stop();
        return;
      }
      const graph = root.querySelector(".graph-box");
      graph.replaceChildren(draw(graph, data));
      root.querySelector(".table-box").replaceChildren(table(data));
      levee.status("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      levee.status(e.message, true);
    }
  }

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  levee.pages.pipeline = {
    mount(main) {
      root = el("section", { id: "pipeline" },
        el("h1", {}, "Pipeline"),
        el("div", { class: "panel graph-box" }, el("p", { class: "note" }, "Loading…")),
        el("h2", {}, "Figures"),
        el("div", { class: "panel table-box" }),
        el("p", { class: "note" }, "Rates over the last 5 s of levee's own metrics, refreshed every 2 s; sparklines: events per second over the last hour; dashed edges: tags named at run time (a forward or http source's clients, a retag from a field), so events may go that way."));
      main.append(root);
      refresh();
      timer = setInterval(refresh, EVERY);
    },
    unmount() {
      stop();
      root = null;
    },
  };
})();
