// Watches a live celadon page in Debian's Chromium for celadon-bench's
// under-load stage. Usage: node under-load.mjs URL PATTERN
//
// Prints "ready" once the page is live and observed. On a line "start" on
// stdin it begins recording; on "stop" it prints one JSON line and exits:
//   { seen: { text: epoch ms }, longTasks: [ms, ...], updates, calibrated }
// `seen` holds when each distinct match of PATTERN (a regular expression)
// first entered the page's DOM, in the system clock (the bench compares it
// with when it published); `longTasks` the durations of the main thread's
// long tasks (Chromium's Long Tasks API) while recording; `updates` how
// many times the DOM changed meanwhile; `calibrated` whether a deliberate
// 150 ms task afterwards was seen as one (if not, the long-task figures
// are worthless and the bench says so).
import { launch } from './chromium.mjs';
import { createInterface } from 'node:readline';

const [url, pattern] = process.argv.slice(2);
if (!url || !pattern) {
  console.error('usage: node under-load.mjs URL PATTERN');
  process.exit(2);
}
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto(url);
await page.locator('.conn[data-state="live"]').waitFor();
await page.evaluate((source) => {
  const re = new RegExp(source, 'g');
  const w = window;
  w.benchSeen = {};
  w.benchLong = [];
  w.benchOn = false;
  w.benchUpdates = 0;
  const now = () => performance.timeOrigin + performance.now();
  // Only nodes that changed are read: reading the whole table on every
  // mutation would itself make long tasks.
  new MutationObserver((records) => {
    if (!w.benchOn) return;
    w.benchUpdates += 1;
    const at = now();
    for (const r of records) {
      const nodes = r.type === 'characterData' ? [r.target] : r.addedNodes;
      for (const n of nodes) {
        for (const m of (n.textContent || '').matchAll(re)) {
          if (!(m[0] in w.benchSeen)) w.benchSeen[m[0]] = at;
        }
      }
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
  new PerformanceObserver((list) => {
    if (!w.benchOn) return;
    for (const e of list.getEntries()) w.benchLong.push(e.duration);
  }).observe({ type: 'longtask' });
}, pattern);
console.log('ready');

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === 'start') {
    await page.evaluate(() => { window.benchOn = true; });
  } else if (line.trim() === 'stop') {
    // Long-task entries are delivered after the task: let the last arrive.
    await page.waitForTimeout(200);
    const result = await page.evaluate(() => ({
      seen: window.benchSeen, longTasks: window.benchLong, updates: window.benchUpdates,
    }));
    // Calibration: a deliberate 150 ms task must be seen, or the numbers
    // above mean nothing.
    // (From a timer: a script run by DevTools is not a task the page sees.)
    await page.evaluate(() => {
      window.benchLong = [];
      setTimeout(() => {
        const t = performance.now();
        while (performance.now() - t < 150) { /* busy */ }
      }, 0);
    });
    await page.waitForTimeout(300);
    result.calibrated = await page.evaluate(() => window.benchLong.some((d) => d >= 140));
    console.log(JSON.stringify(result));
    lines.close();
    break;
  }
}
await browser.close();
