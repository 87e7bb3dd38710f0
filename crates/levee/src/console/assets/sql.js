// levee console: the SQL page.
//
// An editor (Ctrl+Enter runs it, or the selection in it) with the lake's
// tables and columns beside it (a click inserts the name); the answer as a
// table, and as a chart when it has a time, `dt` or `hour` column; the
// accounting line (files, bytes scanned, Athena's price) under it; CSV and
// Parquet downloads; the "try this" list (GET /api/examples) and a history
// of past queries kept in localStorage. Elements the browser tests find
// carry data-testid attributes.
"use strict";
(function () {
  const levee = window.levee;
  const el = (...a) => levee.el(...a);
  const HISTORY_KEY = "levee.sql.history";
  const HISTORY_MAX = 50;
  // Rows drawn in the table: more is slow to draw and not read by anyone;
  // the downloads have them all.
  const TABLE_ROWS = 1000;
  const NUMERIC = /^(Int|UInt|Float|Decimal)/;
  const STYLE = `
.sql { display: grid; grid-template-columns: minmax(13em, 19em) 1fr; gap: 1em; align-items: start; }
.sql aside { max-height: 80vh; overflow: auto; }
.sql aside details { margin-bottom: .5em; }
.sql aside summary { cursor: pointer; }
.sql aside ul { list-style: none; margin: .25em 0 .25em 1em; padding: 0; }
.sql .name { background: none; border: 0; padding: 0; color: var(--accent); cursor: pointer; font: inherit; }
.sql .type, .sql .size { color: var(--muted); font-size: .85em; margin-left: .4em; }
.sql textarea { width: 100%; min-height: 9em; font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
  padding: .6em; border: 1px solid var(--line); border-radius: 6px; resize: vertical; }
.sql .accounting { color: var(--muted); margin: .5em 0; }
.sql .scroll { max-height: 60vh; overflow: auto; }
.sql td { font-variant-numeric: tabular-nums; white-space: pre; }
.sql .examples li, .sql .history li { margin: .35em 0; }
.sql .examples pre { margin: .2em 0 0; color: var(--muted); font-size: .85em; white-space: pre-wrap; }
.sql .history code { cursor: pointer; }
`;

  let alive = null;

  function ensureStyle() {
    if (document.getElementById("sql-style")) return;
    document.head.append(el("style", { id: "sql-style" }, STYLE));
  }

  function history() {
    try {
      const list = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
      return Array.isArray(list) ? list : [];
    } catch (_) {
      return [];
    }
  }

  function remember(entry) {
    const list = history().filter((h) => h.sql !== entry.sql);
    list.unshift(entry);
    localStorage.setItem(HISTORY_KEY, JSON.stringify(list.slice(0, HISTORY_MAX)));
  }

  // Athena's price, with as many decimals as it takes to show two digits.
  function price(usd) {
    if (!usd) return "$0";
    const decimals = Math.max(2, 1 - Math.floor(Math.log10(usd)));
    return "$" + usd.toFixed(Math.min(decimals, 10));
  }

  // `12 rows in 0.084 s · read 3 of 168 files (3 of 168 partitions),
  // scanned 1.2 MiB · Athena would charge $0.000048 (10 MB minimum)`
  function accounting(stats) {
    const rows = stats.rows === 1 ? "1 row" : levee.num(stats.rows) + " rows";
    let text = `${rows} in ${stats.elapsed_seconds.toFixed(3)} s · read ${stats.files_read} of ` +
      `${stats.files_in_tables} files (${stats.partitions_read} of ${stats.partitions_total} partitions), ` +
      `scanned ${levee.bytes(stats.bytes_scanned)}`;
    if (stats.whole) {
      text += ` (${levee.bytes(stats.parquet.bytes)} Parquet, ${levee.bytes(stats.json.bytes)} JSON)`;
    }
    text += ` · Athena would charge ${price(stats.cost_usd)}`;
    if (stats.minimum_applies) text += " (10 MB minimum)";
    if (stats.damaged_files && stats.damaged_files.length) {
      text += ` · ${stats.damaged_files.length} damaged file(s) left out`;
    }
    return text;
  }

  // The x of each row (epoch ms) when the answer has a time, `dt` or
  // `hour` column, with the names of the columns it came from; else null.
  function timeAxis(columns, rows) {
    const names = columns.map((c) => c.name);
    const time = columns.find((c) => c.name === "time" || c.type.startsWith("Timestamp"));
    const hasDt = names.includes("dt"), hasHour = names.includes("hour");
    if (!time && !hasDt && !hasHour) return null;
    const used = new Set(time ? [time.name] : [hasDt && "dt", hasHour && "hour"].filter(Boolean));
    const at = (row) => {
      if (time) {
        const v = row[time.name];
        if (v === null || v === undefined) return NaN;
        if (typeof v === "number") return v;
        return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : v + "Z");
      }
      // A partition's day and hour as the browser's own time, so that the
      // chart's labels read as the `dt` and `hour` values do.
      const [y, m, d] = hasDt ? String(row.dt).split("-").map(Number) : [1970, 1, 1];
      return new Date(y, m - 1, d, hasHour ? Number(row.hour) : 0).getTime();
    };
    return { used, x: rows.map(at) };
  }

  // Lines per numeric column; or, with one text column beside one numeric
  // one (`dt, type, count(*)`), a line per text value (the top 10, the
  // rest folded into "other").
  function chartData(columns, rows) {
    const axis = timeAxis(columns, rows);
    if (!axis) return null;
    const rest = columns.filter((c) => !axis.used.has(c.name));
    const numeric = rest.filter((c) => NUMERIC.test(c.type));
    const text = rest.filter((c) => !NUMERIC.test(c.type));
    if (!numeric.length) return null;
    const xs = [...new Set(axis.x.filter((v) => !Number.isNaN(v)))].sort((a, b) => a - b);
    const index = new Map(xs.map((v, i) => [v, i]));
    const series = [];
    if (text.length === 1 && numeric.length === 1) {
      const key = text[0].name, value = numeric[0].name;
      const totals = new Map();
      rows.forEach((r) => totals.set(String(r[key]), (totals.get(String(r[key])) || 0) + Number(r[value] || 0)));
      const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map((e) => e[0]);
      const named = new Map(top.map((name) => [name, new Array(xs.length).fill(null)]));
      const other = new Array(xs.length).fill(null);
      rows.forEach((r, i) => {
        const j = index.get(axis.x[i]);
        if (j === undefined) return;
        const line = named.get(String(r[key])) || other;
        line[j] = (line[j] || 0) + Number(r[value] || 0);
      });
      for (const [name, values] of named) series.push({ name, values });
      if (totals.size > top.length) series.push({ name: "other", values: other });
    } else {
      for (const c of numeric) {
        const values = new Array(xs.length).fill(null);
        rows.forEach((r, i) => {
          const j = index.get(axis.x[i]);
          if (j !== undefined && r[c.name] !== null) values[j] = (values[j] || 0) + Number(r[c.name]);
        });
        series.push({ name: c.name, values });
      }
    }
    return { x: xs, series, stacked: false };
  }

  function cell(value, type) {
    const shown = value === null || value === undefined ? "" :
      typeof value === "object" ? JSON.stringify(value) : String(value);
    return el("td", { class: NUMERIC.test(type) ? "num" : null }, shown);
  }

  function resultTable(doc) {
    const head = el("tr", {}, doc.columns.map((c) =>
      el("th", { class: NUMERIC.test(c.type) ? "num" : null, title: c.type }, c.name)));
    const body = doc.rows.slice(0, TABLE_ROWS).map((r) =>
      el("tr", {}, doc.columns.map((c) => cell(r[c.name], c.type))));
    return el("div", { class: "scroll" },
      el("table", { "data-testid": "sql-rows" }, el("thead", {}, head), el("tbody", {}, body)));
  }

  async function download(sql, kind) {
    const response = await levee.api("/api/query." + kind, {
      method: "POST",
      raw: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sql }),
    });
    const blob = await response.blob();
    const disposition = response.headers.get("content-disposition") || "";
    const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "levee-query." + kind;
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10e3);
    return { name, bytes: blob.size };
  }

  levee.pages.sql = {
    mount(root) {
      ensureStyle();
      const page = (alive = {});
      const live = () => alive === page;
      const editor = el("textarea", { "data-testid": "sql-editor", spellcheck: "false", "aria-label": "SQL" });
      const result = el("div", { "data-testid": "sql-result" });
      const aside = el("aside", { class: "panel", "data-testid": "sql-tables" }, el("p", { class: "note" }, "Loading tables…"));
      const examples = el("ul", { class: "examples", "data-testid": "sql-examples" });
      const past = el("ul", { class: "history", "data-testid": "sql-history" });

      const insert = (text) => {
        const { selectionStart: a, selectionEnd: b, value } = editor;
        editor.value = value.slice(0, a) + text + value.slice(b);
        editor.selectionStart = editor.selectionEnd = a + text.length;
        editor.focus();
      };
      const statement = () => {
        const { selectionStart: a, selectionEnd: b, value } = editor;
        return (b > a ? value.slice(a, b) : value).trim();
      };

      function showHistory() {
        past.replaceChildren(...history().map((h) => el("li", {},
          el("code", { title: "put it in the editor", onclick: () => { editor.value = h.sql; editor.focus(); } },
            h.sql.length > 160 ? h.sql.slice(0, 160) + "…" : h.sql),
          el("span", { class: "size" }, h.ok ? `${levee.num(h.rows)} rows` : "failed",
            " · " + new Date(h.at).toLocaleString()))));
      }

      async function run(sql) {
        sql = sql || statement();
        if (!sql) return;
        result.replaceChildren(el("p", { class: "note" }, "Running…"));
        levee.status("running…");
        let doc;
        try {
          doc = await levee.api("/api/query", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ sql }),
          });
        } catch (e) {
          if (!live()) return;
          remember({ sql, at: Date.now(), ok: false });
          showHistory();
          result.replaceChildren(el("pre", { class: "error", "data-testid": "sql-error" }, e.message));
          levee.status("the query failed", true);
          return;
        }
        if (!live()) return;
        remember({ sql, at: Date.now(), ok: true, rows: doc.stats.rows });
        showHistory();
        levee.status("");
        const parts = [el("p", { class: "accounting", "data-testid": "sql-accounting" }, accounting(doc.stats))];
        const chart = doc.rows.length ? chartData(doc.columns, doc.rows) : null;
        if (chart) {
          // Classed before it is drawn: levee.chart sizes itself by the box.
          const svg = el("svg", { class: "chart", "data-testid": "sql-chart" });
          parts.push(el("div", { class: "panel" }, svg));
          // Drawn once in the page, so that it knows its width.
          requestAnimationFrame(() => levee.chart(svg, chart));
        }
        const shown = Math.min(doc.rows.length, TABLE_ROWS);
        if (shown < doc.stats.rows) {
          parts.push(el("p", { class: "note", "data-testid": "sql-cut" },
            `Showing the first ${levee.num(shown)} of ${levee.num(doc.stats.rows)} rows: download them all as CSV or Parquet.`));
        }
        parts.push(resultTable(doc));
        result.replaceChildren(...parts);
      }

      async function save(kind) {
        const sql = statement();
        if (!sql) return;
        try {
          const file = await download(sql, kind);
          levee.status(`downloaded ${file.name} (${levee.bytes(file.bytes)})`);
        } catch (e) {
          levee.status(e.message, true);
        }
      }

      editor.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          run();
        }
      });

      root.append(
        el("h1", {}, "SQL"),
        el("div", { class: "sql" },
          aside,
          el("section", {},
            editor,
            el("div", { class: "controls" },
              el("button", { "data-testid": "sql-run", onclick: () => run() }, "Run"),
              el("span", { class: "note" }, "Ctrl+Enter runs the editor, or what is selected in it"),
              el("button", { class: "plain", "data-testid": "sql-csv", onclick: () => save("csv") }, "CSV"),
              el("button", { class: "plain", "data-testid": "sql-parquet", onclick: () => save("parquet") }, "Parquet")),
            result,
            el("h2", {}, "Try this"),
            examples,
            el("h2", {}, "History ",
              el("button", { class: "plain", onclick: () => { localStorage.removeItem(HISTORY_KEY); showHistory(); } }, "clear")),
            past)));
      showHistory();
      const last = history()[0];
      editor.value = last ? last.sql : "show tables";

      levee.api("/api/tables").then((doc) => {
        if (!live()) return;
        if (!doc.lake) {
          aside.replaceChildren(el("p", { class: "note", "data-testid": "sql-no-lake" }, doc.message || "No lake."));
          return;
        }
        const list = doc.tables.map((t) => el("details", { open: doc.tables.length <= 3 },
          el("summary", {},
            el("button", { class: "name", "data-testid": "sql-table", onclick: () => insert(t.name) }, t.table),
            el("span", { class: "size" }, [
              t.hours !== undefined ? `${t.hours} h` : null,
              t.rows ? `${levee.num(t.rows)} rows` : null,
            ].filter(Boolean).join(", "))),
          el("ul", {},
            Object.entries(t.copies).map(([copy, name]) => el("li", {},
              el("button", { class: "name", onclick: () => insert(name) }, `${t.table}_${copy}`))),
            t.columns.map((c) => el("li", {},
              el("button", { class: "name", "data-testid": "sql-column", onclick: () => insert(c.name) }, c.name),
              el("span", { class: "type" }, c.type))))));
        const skipped = (doc.skipped || []).map((s) => el("p", { class: "error" }, `${s.table}: ${s.error}`));
        aside.replaceChildren(el("p", { class: "note" }, doc.lake), ...list, ...skipped);
        if (!doc.tables.length) aside.append(el("p", { class: "note" }, "No tables yet."));
      }).catch((e) => live() && aside.replaceChildren(el("p", { class: "error" }, e.message)));

      levee.api("/api/examples").then((list) => {
        if (!live()) return;
        examples.replaceChildren(...list.map((x) => el("li", {},
          el("button", { class: "name", "data-testid": "sql-example", onclick: () => { editor.value = x.sql; run(x.sql); } }, x.title),
          el("pre", {}, x.sql))));
        if (!list.length) examples.append(el("li", { class: "note" }, "Nothing to try until the lake has tables."));
      }).catch((e) => live() && examples.replaceChildren(el("li", { class: "error" }, e.message)));
    },

    unmount() {
      alive = null;
    },
  };
})();
