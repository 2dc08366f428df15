// celadon under --url-prefix=flower behind nginx at /flower/: every page
// (Workers, Worker, Tasks, Task, Broker, Graphs) loads there, its links and
// the router stay under the prefix, and it stays current. Through a proxy
// that passes the websocket on, the pages are live; through Flower's
// documented configuration, which does not, the indicator says so and the
// pages keep current by fetching their view.

import { expect, Page, test } from '@playwright/test';
import { Cluster, Proxying } from './support/cluster';
import { expectSameDocument, markDocument } from './support/page';

let cluster: Cluster;

test.beforeEach(() => {
  cluster = new Cluster();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) console.log(cluster.logs());
  await cluster.stop();
});

/** celadon under /flower behind nginx; returns nginx's /flower URL. */
async function behindNginx(proxying: Proxying): Promise<string> {
  await cluster.startRedis();
  const celadon = await cluster.startCeladon(0, ['--url-prefix=flower']);
  return cluster.startNginx(celadon, '/flower', proxying);
}

/** Visits every page by following the app's own links (the router under
 * the base, without a reload), checking at each that it shows what it
 * should, that it changes while shown, and that the indicator says
 * `state`; then loads each page afresh from the server. */
async function everyPage(page: Page, base: string, state: 'live' | 'polling') {
  const failed: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/ws')) failed.push(`${r.status()} ${r.url()}`);
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const conn = page.locator('.conn');
  const nav = (name: string) => page.locator('header.topbar nav a', { hasText: name });

  await page.goto(`${base}/`);
  await expect(conn).toHaveAttribute('data-state', state);
  await markDocument(page);
  // A worker started after the page loaded shows up.
  cluster.startWorker('px');
  await expect(page.locator('tr[data-worker="px@e2e"]')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });

  await nav('Tasks').click();
  await expect(page).toHaveURL(`${base}/tasks`);
  await expect(conn).toHaveAttribute('data-state', state);
  const [id] = await cluster.send('add', { args: [2, 3] });
  const row = page.locator(`tr[data-task="${id}"]`);
  await expect(row.locator('[data-col=state] .badge')).toHaveText('SUCCESS', { timeout: 10_000 });

  await row.locator('[data-col=uuid] a').click();
  await expect(page).toHaveURL(`${base}/task/${id}`);
  await expect(page.getByTestId('task-fields').locator('[data-field=state]')).toHaveText('SUCCESS');

  await page.getByTestId('task-fields').locator('[data-field=worker] a').click();
  await expect(page).toHaveURL(`${base}/worker/px%40e2e`);
  await page.locator('a.tab[data-tab=tasks]').click();
  // `active` is asked of a worker only while its page is shown.
  await expect(page.getByText('has not answered `active`')).toHaveCount(0, { timeout: 15_000 });

  await nav('Broker').click();
  await expect(page).toHaveURL(`${base}/broker`);
  await cluster.send('add', { args: [1, 1], queue: 'nobody', count: 2 });
  await expect(page.locator('tr[data-queue="nobody"] [data-col=messages]')).toHaveText('2', { timeout: 10_000 });

  await nav('Graphs').click();
  await expect(page).toHaveURL(new RegExp(`^${base}/graphs`));
  await expect(page.getByTestId('throughput-chart')).toBeVisible();
  await expect(conn).toHaveAttribute('data-state', state);
  await expectSameDocument(page);

  for (const path of ['/', '/workers', '/worker/px%40e2e', '/tasks', `/task/${id}`, '/broker', '/graphs']) {
    await page.goto(`${base}${path}`);
    await expect(conn, path).toHaveAttribute('data-state', state);
  }
  await expect(page.getByTestId('throughput-chart')).toBeVisible();
  expect(failed).toEqual([]);
  expect(errors).toEqual([]);
}

test('behind nginx passing websockets, every page under /flower/ is live', async ({ page }) => {
  const base = await behindNginx('websocket');
  await everyPage(page, base, 'live');
});

test("behind Flower's documented nginx (no Upgrade), every page under /flower/ says so and keeps current", async ({ page }) => {
  const base = await behindNginx('flower');
  await page.goto(`${base}/`);
  const conn = page.locator('.conn');
  await expect(conn).toHaveAttribute('data-state', 'polling');
  await expect(conn).toContainText('no websocket');
  await expect(conn).toHaveAttribute('title', /Upgrade/);
  await everyPage(page, base, 'polling');
});
