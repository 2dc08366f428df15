// Takes a screenshot of a running celadon page in Debian's Chromium, for
// the README. Usage: node screenshot.mjs URL OUT.png [light|dark]
import { chromium } from 'playwright-core';

const [url, out, scheme = 'light'] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node screenshot.mjs URL OUT.png [light|dark]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 560 }, colorScheme: scheme });
await page.goto(url);
await page.locator('.conn[data-state="live"]').waitFor();
await page.waitForTimeout(1500);
await page.screenshot({ path: out });
await browser.close();
