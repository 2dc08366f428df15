// Takes a screenshot of a running celadon page in Debian's Chromium, for
// the README. Usage: node screenshot.mjs URL OUT.png [light|dark]
import { launch } from './chromium.mjs';

const [url, out, scheme = 'light'] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node screenshot.mjs URL OUT.png [light|dark]');
  process.exit(2);
}
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 560 }, colorScheme: scheme });
await page.goto(url);
await page.locator('.conn[data-state="live"]').waitFor();
await page.waitForTimeout(1500);
await page.screenshot({ path: out });
await browser.close();
