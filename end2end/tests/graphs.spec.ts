// The Graphs page after a minute of the demo's producer, with real
// workers: every chart has data, and the charted totals agree with the
// tasks /api/tasks lists for the same window.

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

type Task = { state: string; name: string };

test('after a minute of the producer, each chart has a series that agrees with /api/tasks', async ({ page, request }) => {
  test.setTimeout(240_000);
  await cluster.startRedis();
  const url = await cluster.startCeladon(0, [cluster.backendFlag()]);
  cluster.startWorker('g1');
  cluster.startWorker('g2');
  await page.goto(`${url}/`);
  for (const w of ['g1@e2e', 'g2@e2e']) {
    await expect(page.locator(`tr[data-worker="${w}"]`)).toHaveAttribute('data-status', 'online', { timeout: 40_000 });
  }
  const producer = cluster.startProducer(4);
  await page.waitForTimeout(60_000);
  producer.signal('SIGTERM');
  await producer.exited(10_000);

  // Every task finished (ETA tasks wait up to 30 s; slow ones up to 8 s).
  let tasks: Record<string, Task> = {};
  await expect
    .poll(async () => {
      tasks = await (await request.get(`${url}/api/tasks`)).json();
      return Object.values(tasks).filter((t) => !['SUCCESS', 'FAILURE', 'REVOKED'].includes(t.state)).length;
    }, { timeout: 90_000, intervals: [1_000] })
    .toBe(0);
  const count = (state: string, name?: string) =>
    Object.values(tasks).filter((t) => t.state === state && (!name || t.name === name)).length;
  expect(count('SUCCESS')).toBeGreaterThan(50);

  await page.goto(`${url}/graphs?window=5m`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  const chart = page.getByTestId('throughput-chart');
  // Tasks per second over 1-second buckets: the sum is the count.
  const total = async (series: string) =>
    Math.round(Number(await chart.locator(`li[data-series=${series}]`).getAttribute('data-total')));
  for (const [series, state] of [['succeeded', 'SUCCESS'], ['failed', 'FAILURE']] as const) {
    await expect.poll(() => total(series)).toBe(count(state));
  }
  await expect(chart.locator('path.series.ok')).toHaveAttribute('d', /L/);

  // Hovering shows the values at that time.
  await chart.locator('svg').hover({ position: { x: 300, y: 100 } });
  await expect(chart.getByTestId('chart-tip')).toContainText('tasks/s');

  // Runtimes per type, queue depth (the slow tasks back the queue up), and
  // the per-type table.
  await expect(page.getByTestId('runtime-chart').locator('.bar-group')).not.toHaveCount(0);
  const queue = page.getByTestId('queue-chart').locator('li[data-series^="celery"]');
  await expect(queue).toHaveCount(1);
  expect(Number(await queue.getAttribute('data-total'))).toBeGreaterThan(0);
  // Queue wait p95 and workers online have values.
  const wait = page.getByTestId('wait-chart').locator('li[data-series="p95 wait"]');
  expect(Number(await wait.getAttribute('data-total'))).toBeGreaterThan(0);
  const online = page.getByTestId('online-chart').locator('li[data-series=online]');
  expect(Number(await online.getAttribute('data-total'))).toBeGreaterThan(0);
  const add = page.getByTestId('types-table').locator('tr[data-type="celadon_tasks.add"]');
  await expect(add.locator('[data-col=succeeded]')).toHaveText(String(count('SUCCESS', 'celadon_tasks.add')));

  // Filtered by a task name: only its outcomes.
  await page.goto(`${url}/graphs?window=1h&task=celadon_tasks.fail`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  const failed = Math.round(Number(await chart.locator('li[data-series=failed]').getAttribute('data-total')) * 10);
  expect(failed).toBe(count('FAILURE', 'celadon_tasks.fail'));
  expect(Number(await chart.locator('li[data-series=succeeded]').getAttribute('data-total'))).toBe(0);
});
