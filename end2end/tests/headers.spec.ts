// The security headers do not get in the page's way: under celadon's
// Content-Security-Policy every page hydrates (its inline hydration
// script runs by the page's nonce, the wasm compiles), goes live over its
// websocket, and Chromium reports no violation; and no other site can
// frame it.

import { expect, test } from '@playwright/test';
import { Cluster } from './support/cluster';

let cluster: Cluster;

test.beforeEach(() => {
  cluster = new Cluster();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) console.log(cluster.logs());
  await cluster.stop();
});

test('every page hydrates and goes live under the CSP with no violation', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  const violations: string[] = [];
  page.on('console', (m) => {
    if (m.text().includes('Content Security Policy')) violations.push(m.text());
  });
  page.on('pageerror', (e) => violations.push(e.message));
  for (const path of ['/', '/tasks', '/broker', '/graphs', '/worker/nobody@e2e']) {
    const response = await page.goto(`${url}${path}`);
    const headers = response!.headers();
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['x-frame-options']).toBe('DENY');
    await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  }
  expect(violations).toEqual([]);
});
