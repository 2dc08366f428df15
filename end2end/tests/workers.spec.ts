// The Workers page, live: workers appear and go offline without a reload.

import { expect, Page, test } from '@playwright/test';
import { Cluster } from './support/cluster';
import { expectSameDocument, markDocument } from './support/page';

let cluster: Cluster;

test.beforeEach(() => {
  cluster = new Cluster();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) console.log(cluster.logs());
  await cluster.stop();
});

function row(page: Page, hostname: string) {
  return page.locator(`tr[data-worker="${hostname}"]`);
}

test('workers appear, stop and die on the page without a reload', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  cluster.startWorker('first');

  await page.goto(url);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await expect(row(page, 'first@e2e')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });
  await markDocument(page);

  // A second worker started after the page loaded appears by itself.
  const second = cluster.startWorker('second');
  await expect(row(page, 'second@e2e')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });
  await expect(row(page, 'second@e2e').locator('[data-col=software]')).toHaveText('py-celery 5.7.0 (Linux)');
  await expect(page.getByTestId('online-workers').locator('.value')).toHaveText('2');

  // Warm shutdown: worker-offline turns it offline at once.
  second.signal('SIGTERM');
  await second.exited(20_000);
  await expect(row(page, 'second@e2e')).toHaveAttribute('data-status', 'offline', { timeout: 5_000 });
  await expect(row(page, 'second@e2e').locator('.badge')).toHaveText('Offline');

  // SIGKILL: no worker-offline; heartbeat expiry (freq × 2 = 4 s) does it.
  const third = cluster.startWorker('third');
  await expect(row(page, 'third@e2e')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });
  third.killGroup();
  await expect(row(page, 'third@e2e')).toHaveAttribute('data-status', 'offline', { timeout: 10_000 });

  await expect(row(page, 'first@e2e')).toHaveAttribute('data-status', 'online');
  await expect(page.getByTestId('online-workers').locator('.value')).toHaveText('1');
  await expectSameDocument(page);
  expect(errors).toEqual([]);
});

test('the page says the broker is unreachable, then goes live when Redis appears', async ({ page }) => {
  const url = await cluster.startCeladon();

  await page.goto(url);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'broker-unreachable');
  await expect(page.locator('.conn')).toContainText('broker unreachable');
  await expect(page.getByTestId('no-workers')).toBeVisible();
  await markDocument(page);

  await cluster.startRedis();
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live', { timeout: 10_000 });
  cluster.startWorker('late');
  await expect(row(page, 'late@e2e')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });
  await expectSameDocument(page);
});
