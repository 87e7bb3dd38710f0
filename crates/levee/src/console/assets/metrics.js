// levee console: the Metrics page.
//
// Any counter family levee keeps (the metric filters' first), broken down
// by one of its labels over the last hour: the top values and the rest
// folded into "other", stacked or as lines. The choice is kept in the
// hash (#/metrics?name=outgoing_msg_total&by=type&lines=1) so a graph can
// be linked to.
"use strict";
(function () {
  const levee = window.levee;
  const el = (...a) => levee.el(...a);

  let root = null;
  let timer = null;
  let choice = {};

  function readHash() {
    const query = location.hash.split("?")[1] || "";
    const params = new URLSearchParams(query);
    return { name: params.get("name") || "", by: params.get("by") || "", lines: params.get("lines") === "1" };
  }

  function writeHash() {
    const params = new URLSearchParams();
    if (choice.name) params.set("name", choice.name);
    if (choice.by) params.set("by", choice.by);
    if (choice.lines) params.set("lines", "1");
    // replaceState: no hashchange, so the page is not mounted again.
    history.replaceState(null, "", "#/metrics?" + params.toString());
  }

  async function draw() {
    if (!root || !choice.name) return;
    const chart = root.querySelector("svg.chart");
    const path = "/api/metrics/series?name=" + encodeURIComponent(choice.name) +
      (choice.by ? "&by=" + encodeURIComponent(choice.by) : "");
    try {
      const data = await levee.api(path);
      if (!root) return;
      root.querySelector(".figure-help").textContent =
        (data.help ? data.help + " — " : "") + data.unit + ", a point every " + data.resolution_s + " s";
      levee.chart(chart, { x: data.x, series: data.series, stacked: !choice.lines });
      chart.dataset.series = data.series.map((s) => s.name).join(",");
      levee.status("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      levee.status(e.message, true);
    }
  }

  function select(id, options, value, onchange) {
    const s = el("select", { id, onchange },
      options.map(([v, label]) => el("option", { value: v, selected: v === value }, label)));
    return s;
  }

  async function mount(main) {
    const mine = (root = el("section", { id: "metrics" }, el("h1", {}, "Metrics")));
    main.append(root);
    let data;
    try {
      data = await levee.api("/api/metrics");
    } catch (e) {
      if (root === mine) root.append(el("p", { class: "error" }, e.message));
      return;
    }
    if (root !== mine) return;
    if (!data.running) {
      root.append(el("p", { class: "note", id: "no-pipeline" }, data.reason));
      return;
    }
    if (!data.families.length) {
      root.append(el("p", { class: "note" }, "No counter yet: the first point comes one resolution after start."));
      return;
    }
    choice = readHash();
    const family = data.families.find((f) => f.name === choice.name) || data.families[0];
    choice.name = family.name;
    if (choice.by && !family.labels.includes(choice.by)) choice.by = "";
    if (!choice.by && !readHash().name && family.labels.length) choice.by = family.labels[0];

    const byOptions = (f) => [["", "(total)"]].concat(f.labels.map((l) => [l, l]));
    const bySelect = select("by", byOptions(family), choice.by, (e) => {
      choice.by = e.target.value;
      writeHash();
      draw();
    });
    const familySelect = select("family",
      data.families.map((f) => [f.name, f.name]), choice.name, (e) => {
        const f = data.families.find((x) => x.name === e.target.value);
        choice.name = f.name;
        choice.by = f.labels[0] || "";
        bySelect.replaceChildren(...byOptions(f).map(([v, l]) => el("option", { value: v, selected: v === choice.by }, l)));
        writeHash();
        draw();
      });
    const lines = el("input", { type: "checkbox", id: "lines", checked: choice.lines, onchange: (e) => {
      choice.lines = e.target.checked;
      writeHash();
      draw();
    } });
    root.append(
      el("div", { class: "controls" },
        el("label", {}, "Counter ", familySelect),
        el("label", {}, "by ", bySelect),
        el("label", {}, lines, " lines (not stacked)")),
      el("p", { class: "note figure-help" }),
      el("div", { class: "panel" }, el("svg", { class: "chart", role: "img" })),
      el("p", { class: "note" }, "The top 20 values of the label over the last hour each have their own series; the rest are summed as \"other\"."));
    writeHash();
    await draw();
    const every = Math.min(10, Math.max(2, data.resolution_s)) * 1000;
    if (root === mine) timer = setInterval(draw, every);
  }

  levee.pages.metrics = {
    mount(main) {
      mount(main);
    },
    unmount() {
      if (timer) clearInterval(timer);
      timer = null;
      root = null;
    },
  };
})();
