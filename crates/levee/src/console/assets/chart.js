// levee console: charts drawn as SVG, by hand.
//
// levee.chart(svg, { x: [epoch_ms, ...], series: [{ name, values }], stacked })
// draws lines (or stacked areas) over a time axis, with a y axis, a legend
// and a cursor that shows the values under the mouse. A value that is null
// (or NaN) is a gap in a line and 0 in a stack. The series named "other"
// (the folded rest) is drawn grey. levee.sparkline(svg, values) draws one
// small line without axes.
"use strict";
(function () {
  const el = (...a) => window.levee.el(...a);
  const PALETTE = [
    "#2463c6", "#e07b00", "#2f9e44", "#c92a2a", "#7048e8",
    "#0c8599", "#d6336c", "#5c940d", "#a0522d", "#1864ab",
  ];
  const OTHER = "#a6adb8";
  const MINUTE = 60e3;
  const STEPS = [1e3, 5e3, 10e3, 30e3, MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE,
    30 * MINUTE, 60 * MINUTE, 3 * 60 * MINUTE, 6 * 60 * MINUTE, 12 * 60 * MINUTE, 24 * 60 * MINUTE,
    2 * 24 * 60 * MINUTE, 7 * 24 * 60 * MINUTE, 28 * 24 * 60 * MINUTE];
  const DAY = 24 * 60 * MINUTE;

  const usable = (v) => v !== null && v !== undefined && !Number.isNaN(v);

  // A round step for about `count` ticks up to `max`: 1, 2 or 5 times a power of 10.
  function niceStep(max, count) {
    const raw = max / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }

  // A tick's label: the date (MM-DD) for ticks of a day or more, as the
  // SQL page's answers by `dt` have them, else the time of day.
  function label(ms, tick) {
    if (tick < DAY) return clock(ms, tick < MINUTE);
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, "0");
    return two(d.getMonth() + 1) + "-" + two(d.getDate());
  }

  function clock(ms, seconds) {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, "0");
    const hm = two(d.getHours()) + ":" + two(d.getMinutes());
    return seconds ? hm + ":" + two(d.getSeconds()) : hm;
  }

  function colors(series) {
    let next = 0;
    return series.map((s) => (s.name === "other" ? OTHER : PALETTE[next++ % PALETTE.length]));
  }

  window.levee.chart = function (svg, data) {
    const width = svg.clientWidth || 800;
    const height = svg.clientHeight || 320;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.classList.add("chart");
    svg.replaceChildren();
    const x = data.x || [];
    const series = data.series || [];
    const color = colors(series);

    // The legend's rows, to know how much room it takes under the plot.
    const rows = [[]];
    let used = 0;
    for (let i = 0; i < series.length; i++) {
      const w = 22 + 7 * String(series[i].name).length;
      if (used + w > width - 60 && rows[rows.length - 1].length) {
        rows.push([]);
        used = 0;
      }
      rows[rows.length - 1].push({ i, at: used });
      used += w;
    }
    const legendHeight = series.length ? rows.length * 16 + 6 : 0;
    const left = 56, right = 14, top = 10, bottom = 30 + legendHeight;
    const plotW = Math.max(10, width - left - right);
    const plotH = Math.max(10, height - top - bottom);

    if (!x.length || !series.length) {
      svg.append(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data yet"));
      return;
    }

    // Stacked: each series sits on the sum of those before it.
    const lower = [], upper = [];
    let max = 0;
    const base = new Array(x.length).fill(0);
    for (const s of series) {
      const lo = base.slice();
      const hi = [];
      for (let j = 0; j < x.length; j++) {
        const v = s.values[j];
        if (data.stacked) {
          base[j] += usable(v) ? v : 0;
          hi.push(base[j]);
          max = Math.max(max, base[j]);
        } else {
          hi.push(usable(v) ? v : null);
          if (usable(v)) max = Math.max(max, v);
        }
      }
      lower.push(lo);
      upper.push(hi);
    }
    if (max <= 0) max = 1;
    const step = niceStep(max, 4);
    const yMax = Math.ceil(max / step) * step;
    const x0 = x[0], x1 = x[x.length - 1] > x0 ? x[x.length - 1] : x0 + 1;
    const px = (t) => left + ((t - x0) / (x1 - x0)) * plotW;
    const py = (v) => top + plotH - (v / yMax) * plotH;

    const grid = el("g");
    for (let v = 0; v <= yMax + step / 2; v += step) {
      grid.append(
        el("line", { class: "grid", x1: left, x2: left + plotW, y1: py(v), y2: py(v) }),
        el("text", { x: left - 6, y: py(v) + 4, "text-anchor": "end" }, window.levee.num(v))
      );
    }
    const span = x1 - x0;
    const tick = STEPS.find((s) => span / s <= Math.max(2, plotW / 90)) || STEPS[STEPS.length - 1];
    let first = Math.ceil(x0 / tick) * tick;
    if (tick >= DAY) {
      // Days start at local midnight, where the page puts a `dt`.
      const d = new Date(x0);
      d.setHours(0, 0, 0, 0);
      first = d.getTime() < x0 ? d.getTime() + DAY : d.getTime();
    }
    for (let t = first; t <= x1; t += tick) {
      grid.append(
        el("line", { class: "grid", x1: px(t), x2: px(t), y1: top, y2: top + plotH }),
        el("text", { x: px(t), y: top + plotH + 15, "text-anchor": "middle" }, label(t, tick))
      );
    }
    grid.append(el("line", { class: "axis", x1: left, x2: left + plotW, y1: top + plotH, y2: top + plotH }));
    svg.append(grid);

    const plot = el("g");
    series.forEach((s, i) => {
      if (data.stacked) {
        let d = "";
        for (let j = 0; j < x.length; j++) d += (j ? "L" : "M") + px(x[j]).toFixed(1) + "," + py(upper[i][j]).toFixed(1);
        for (let j = x.length - 1; j >= 0; j--) d += "L" + px(x[j]).toFixed(1) + "," + py(lower[i][j]).toFixed(1);
        plot.append(el("path", { class: "area", d: d + "Z", fill: color[i], "fill-opacity": 0.75, stroke: color[i] },
          el("title", {}, s.name)));
      } else {
        let d = "", pen = false;
        for (let j = 0; j < x.length; j++) {
          const v = upper[i][j];
          if (v === null) { pen = false; continue; }
          d += (pen ? "L" : "M") + px(x[j]).toFixed(1) + "," + py(v).toFixed(1);
          pen = true;
        }
        plot.append(el("path", { class: "line", d, stroke: color[i] }, el("title", {}, s.name)));
      }
    });
    svg.append(plot);

    const legend = el("g", { class: "legend" });
    rows.forEach((row, r) => {
      for (const { i, at } of row) {
        const y = top + plotH + 38 + r * 16;
        legend.append(
          el("rect", { x: left + at, y: y - 9, width: 10, height: 10, fill: color[i] }),
          el("text", { x: left + at + 14, y }, series[i].name)
        );
      }
    });
    svg.append(legend);

    // The cursor: the nearest point's time and every series' value there.
    const cursor = el("line", { class: "cursor", y1: top, y2: top + plotH, visibility: "hidden" });
    const tip = el("g", { class: "tip", visibility: "hidden" });
    const hit = el("rect", { x: left, y: top, width: plotW, height: plotH, fill: "transparent" });
    svg.append(cursor, tip, hit);
    hit.addEventListener("mouseleave", () => {
      cursor.setAttribute("visibility", "hidden");
      tip.setAttribute("visibility", "hidden");
    });
    hit.addEventListener("mousemove", (event) => {
      const box = svg.getBoundingClientRect();
      const mx = ((event.clientX - box.left) / box.width) * width;
      const t = x0 + ((mx - left) / plotW) * (x1 - x0);
      let j = 0;
      for (let k = 1; k < x.length; k++) if (Math.abs(x[k] - t) < Math.abs(x[j] - t)) j = k;
      cursor.setAttribute("x1", px(x[j]));
      cursor.setAttribute("x2", px(x[j]));
      cursor.setAttribute("visibility", "visible");
      const lines = [span >= DAY ? new Date(x[j]).toLocaleString() : clock(x[j], true)];
      const shown = series.slice(0, 12);
      shown.forEach((s) => lines.push(s.name + ": " + window.levee.num(s.values[j])));
      if (series.length > shown.length) lines.push("…");
      const w = 12 + 6.5 * Math.max(...lines.map((l) => l.length));
      const h = 8 + lines.length * 14;
      let tx = px(x[j]) + 10;
      if (tx + w > width) tx = px(x[j]) - 10 - w;
      tip.replaceChildren(el("rect", { x: tx, y: top + 4, width: w, height: h, rx: 4 }),
        ...lines.map((l, n) => el("text", { x: tx + 6, y: top + 18 + n * 14 }, l)));
      tip.setAttribute("visibility", "visible");
    });
  };

  window.levee.sparkline = function (svg, values) {
    const width = svg.clientWidth || 120, height = svg.clientHeight || 24;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.classList.add("spark");
    svg.replaceChildren();
    const max = Math.max(1e-9, ...values.filter(usable));
    const points = values
      .map((v, j) => usable(v) ? `${((j / Math.max(1, values.length - 1)) * width).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}` : null)
      .filter((p) => p !== null)
      .join(" ");
    svg.append(el("polyline", { points }));
  };
})();
