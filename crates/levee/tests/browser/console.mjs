// Drives levee's web console in the system's headless Chromium.
//
//   node console.mjs <console url> <artifacts dir> [pages]
//
// (`pages`, such as `sql` or `pipeline,metrics`, limits it to those.)
// Loads each page (#/pipeline, #/metrics, #/sql), checks what it shows,
// runs the SQL page's "try this" queries, downloads a CSV, saves a
// screenshot of each page in the artifacts dir, and prints one JSON report
// on stdout for crates/levee/tests/it/console_browser.rs to assert on.
// Exits 0 when it could look at every page (the Rust test judges what it
// saw), 2 when Chromium would not start, 1 when a page could not be driven.
// `LEVEE_CHROMIUM` names another Chromium than /usr/bin/chromium.
//
// What it finds in the pages (their scripts keep these hooks):
// - pipeline.js: each component a `svg.graph g.node` with `data-node`
//   (`kind:name`); each edge's label a `g` with `data-edge` (`from>to`)
//   and `data-rate` (events per second, empty when not known yet).
// - metrics.js: `#family` and `#by` (selects), the `svg.chart` with
//   `data-series` (the names drawn).
// - sql.js: `sql-tables`, `sql-table`, `sql-column`, `sql-example`,
//   `sql-editor`, `sql-result`, `sql-accounting`, `sql-rows`, `sql-chart`,
//   `sql-error`, `sql-csv`, `sql-history`.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { args, executablePath } from "./chromium.mjs";

const [url, artifacts, only] = process.argv.slice(2);
const pages = new Set((only || "pipeline,metrics,sql").split(","));
if (!url || !artifacts) {
  console.error("usage: node console.mjs <console url> <artifacts dir>");
  process.exit(64);
}
fs.mkdirSync(artifacts, { recursive: true });
const WAIT = 30_000;
const report = { url, chromium: executablePath, pages: {}, console_errors: [], page_errors: [] };

function finish(code, error) {
  if (error) report.error = error;
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(code);
}

let context;
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "levee-chromium-"));
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1400, height: 900 },
    timezoneId: "UTC",
    args,
  });
} catch (e) {
  finish(2, `Chromium could not start (${executablePath}): ${e.message.split("\n")[0]}. ` +
    "Install Debian's chromium (scripts/test-deps does), or set LEVEE_CHROMIUM.");
}

const page = context.pages()[0] || (await context.newPage());
// Every load cold, so that a page's weight counts all its files: routing
// requests through Playwright turns the browser's cache off.
await page.route("**/*", (route) => route.continue());
// The refused statement's 400 is expected; Chromium logs it as an error.
let expect400 = false;
page.on("console", (m) => {
  if (m.type() !== "error") return;
  if (expect400 && /status of 400/.test(m.text())) return;
  report.console_errors.push(m.text());
});
page.on("pageerror", (e) => report.page_errors.push(e.message));

// Loads a page of the console afresh and says how long it took and what
// it weighed (every resource's bytes as received).
async function load(hash) {
  await page.goto("about:blank");
  await page.goto(url + hash, { waitUntil: "load" });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    const bytes = [nav, ...resources].reduce((n, r) => n + (r.encodedBodySize || 0), 0);
    return { load_ms: Math.round(nav.loadEventEnd - nav.startTime), bytes, files: resources.length + 1 };
  });
}

async function shoot(name) {
  const file = path.join(artifacts, name + ".png");
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

// Polls `check` in the page until it answers something truthy.
async function until(what, check, arg) {
  try {
    const handle = await page.waitForFunction(check, arg, { timeout: WAIT, polling: 200 });
    return handle.jsonValue();
  } catch (e) {
    throw new Error(`${what}: not seen within ${WAIT / 1000} s`);
  }
}

try {
  // The pipeline: its nodes, and rates that move.
  if (pages.has("pipeline")) {
    const timing = await load("#/pipeline");
    const nodes = await until("the pipeline's nodes", () => {
      const found = [...document.querySelectorAll("svg.graph g.node[data-node]")];
      return found.length ? found.map((n) => {
        const [kind, ...name] = n.dataset.node.split(":");
        return { kind, name: name.join(":"), shown: n.querySelector(".name").textContent };
      }) : null;
    });
    const rates = await until("a live rate above 0 on an edge", () => {
      const found = [...document.querySelectorAll("svg.graph g[data-edge]")].map((r) => ({
        edge: r.dataset.edge,
        per_second: r.dataset.rate === "" ? null : Number(r.dataset.rate),
        text: r.textContent,
      }));
      return found.some((r) => r.per_second > 0) ? found : null;
    });
    report.pages.pipeline = { ...timing, nodes, rates, screenshot: await shoot("pipeline") };
  }

  // The metrics: a chart of a counter broken down by label.
  if (pages.has("metrics")) {
    const timing = await load("#/metrics");
    // The user's graph: the metric filter's counter, by `type`.
    const family = await until("the metric families", () => {
      const options = [...document.querySelectorAll("#family option")].map((o) => o.value);
      return options.length ? options.find((v) => v.startsWith("outgoing_msg")) || options[0] : null;
    });
    await page.selectOption("#family", family);
    const chart = await until("a metrics chart with lines", () => {
      const svg = document.querySelector("svg.chart");
      const drawn = svg && svg.dataset.series && svg.querySelectorAll("path.line, path.area").length;
      return drawn ? { family: document.querySelector("#family").value, by: document.querySelector("#by").value,
        series: drawn, names: svg.dataset.series.split(",") } : null;
    });
    report.pages.metrics = { ...timing, chart, screenshot: await shoot("metrics") };
  }

  // SQL: every "try this" query, its table, chart and accounting; a CSV.
  if (pages.has("sql")) {
    const timing = await load("#/sql");
    const tables = await until("the lake's tables", () => {
      const t = [...document.querySelectorAll("[data-testid=sql-table]")].map((b) => b.textContent);
      const c = document.querySelectorAll("[data-testid=sql-column]").length;
      return t.length ? { tables: t, columns: c } : null;
    });
    const titles = await until("the try-this list", () => {
      const b = [...document.querySelectorAll("[data-testid=sql-example]")].map((x) => x.textContent);
      return b.length ? b : null;
    });
    const queries = [];
    let shot = null;
    for (let i = 0; i < titles.length; i++) {
      // The click shows "Running…" at once, so the last answer is gone.
      await page.locator("[data-testid=sql-example]").nth(i).click();
      const seen = await until(`the answer to "${titles[i]}"`, () => {
        const result = document.querySelector("[data-testid=sql-result]");
        const error = result.querySelector("[data-testid=sql-error]");
        if (error) return { error: error.textContent };
        const accounting = result.querySelector("[data-testid=sql-accounting]");
        const table = result.querySelector("[data-testid=sql-rows]");
        if (!accounting || !table) return null;
        const chart = result.querySelector("[data-testid=sql-chart]");
        const lines = chart ? chart.querySelectorAll("path.line").length : 0;
        // The chart draws on the next frame: wait for it.
        if (chart && !lines) return null;
        return {
          columns: [...table.querySelectorAll("th")].map((th) => th.textContent),
          rows: [...table.querySelectorAll("tbody tr")].map((tr) => [...tr.children].map((td) => td.textContent)),
          accounting: accounting.textContent,
          chart: chart ? { lines, legend: [...chart.querySelectorAll(".legend text")].map((t) => t.textContent) } : null,
        };
      });
      queries.push({ title: titles[i], sql: await page.locator("[data-testid=sql-editor]").inputValue(), ...seen });
      // The first answer with a chart is the page's screenshot.
      if (!shot && seen.chart) shot = await shoot("sql");
    }
    const history = await page.locator("[data-testid=sql-history] li").count();

    // Typed by hand: a table's name put in by a click, run with Ctrl+Enter.
    const editor = page.locator("[data-testid=sql-editor]");
    const answer = () => until("the typed query's answer", () => {
      const result = document.querySelector("[data-testid=sql-result]");
      const error = result.querySelector("[data-testid=sql-error]");
      if (error) return { error: error.textContent };
      const table = result.querySelector("[data-testid=sql-rows]");
      if (!table || !result.querySelector("[data-testid=sql-accounting]")) return null;
      return { rows: [...table.querySelectorAll("tbody tr")].map((tr) => [...tr.children].map((td) => td.textContent)) };
    });
    await editor.fill("select count(*) as n from ");
    await page.locator("[data-testid=sql-table]").first().click();
    await editor.press("Control+Enter");
    const typed = { sql: await editor.inputValue(), ...(await answer()) };
    // A statement that would write is refused, and said so.
    expect400 = true;
    await editor.fill("create table t as select 1");
    await editor.press("Control+Enter");
    const refused = { sql: await editor.inputValue(), ...(await answer()) };
    expect400 = false;

    // The first query again, downloaded.
    await page.locator("[data-testid=sql-example]").first().click();
    await page.waitForSelector("[data-testid=sql-accounting]", { timeout: WAIT });
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: WAIT }),
      page.locator("[data-testid=sql-csv]").click(),
    ]);
    const csvPath = path.join(artifacts, download.suggestedFilename());
    await download.saveAs(csvPath);
    const csv = fs.readFileSync(csvPath, "utf8").trimEnd().split("\n");
    if (!shot) shot = await shoot("sql");
    report.pages.sql = {
      ...timing,
      ...tables,
      queries,
      history,
      typed,
      refused,
      download: { file: download.suggestedFilename(), header: csv[0], lines: csv.length - 1, first: csv[1] },
      screenshot: shot,
    };
  }
} catch (e) {
  await shoot("failed").catch(() => {});
  await context.close().catch(() => {});
  finish(1, e.message);
}
await context.close();
finish(0);
