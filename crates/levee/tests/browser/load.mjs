// How long the console's pages take to load in the system's headless
// Chromium, as a first visit: each load in a new browser context (an
// empty cache), after one load to warm Chromium itself.
//
//   node load.mjs <console url> <loads per page> [token]
//
// Prints one JSON line: per page, every load's `load_ms` (navigation
// start to the load event) and `ready_ms` (to the page's data drawn:
// the graph's nodes, the chart, the lake's tables), and their medians.
// Used by crates/levee/tests/it/console_load.rs, which is run by hand.
import { chromium } from "playwright-core";
import { args, executablePath } from "./chromium.mjs";

const [url, n = "9", token] = process.argv.slice(2);
const loads = Number(n);
if (!url || !(loads > 0)) {
  console.error("usage: node load.mjs <console url> <loads per page> [token]");
  process.exit(64);
}
// What each page shows once its data came.
const READY = {
  pipeline: "svg.graph g.node",
  metrics: "svg.chart",
  sql: "[data-testid=sql-tables] [data-testid=sql-table]",
};

const browser = await chromium.launch({ executablePath, args }).catch((e) => {
  console.error(`Chromium could not start: ${e.message.split("\n")[0]}`);
  process.exit(2);
});

async function once(page) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  if (token) {
    await context.addInitScript((t) => sessionStorage.setItem("levee.token", t), token);
  }
  const tab = await context.newPage();
  await tab.goto(`${url}#/${page}`, { waitUntil: "load" });
  await tab.waitForSelector(READY[page], { timeout: 30_000 });
  const times = await tab.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    return { load_ms: nav.loadEventEnd - nav.startTime, ready_ms: performance.now() - nav.startTime };
  });
  await context.close();
  return times;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x) => Math.round(x * 10) / 10;
await once("pipeline");
const report = {};
for (const page of Object.keys(READY)) {
  const runs = [];
  for (let i = 0; i < loads; i++) runs.push(await once(page));
  report[page] = {
    load_ms: runs.map((r) => round(r.load_ms)),
    ready_ms: runs.map((r) => round(r.ready_ms)),
    median_load_ms: round(median(runs.map((r) => r.load_ms))),
    median_ready_ms: round(median(runs.map((r) => r.ready_ms))),
  };
}
await browser.close();
process.stdout.write(JSON.stringify(report) + "\n");
