// The queue browser in Chromium, with real Redis and Celery's own client:
// open a queue from the Broker page, find a message by its args, move it
// to another queue behind a confirmation that says how many messages it
// touches, see it waiting there, and find the move in the audit trail.
// On the way, the queue's depth chart has a line per priority step.

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

test('find a message by its args, move it after a dry run, see it moved and audited', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  // Nobody consumes "inbox": its messages wait.
  await cluster.send('echo', { args: ['order-1001'], queue: 'inbox', count: 5 });
  const [needle] = await cluster.send('echo', { args: ['needle-42'], kwargs: { note: 'park me' }, queue: 'inbox' });

  // Its task page says where it waits (0 is the next a worker takes).
  await page.goto(`${url}/task/${needle}`);
  await expect(page.getByTestId('task-waiting')).toContainText('Waiting in queue inbox at position 5', { timeout: 15_000 });

  await page.goto(`${url}/broker`);
  const link = page.locator('tr[data-queue="inbox"]').getByTestId('queue-link');
  await expect(link).toBeVisible({ timeout: 15_000 });
  await link.click();
  await expect(page).toHaveURL(`${url}/broker/queue/inbox`);
  await expect(page.getByTestId('queue-depth')).toContainText('6');
  await expect(page.getByTestId('messages-table').locator('tbody tr')).toHaveCount(6);

  // The page is live (it follows the broker's measurements), and its depth
  // chart draws a line per priority step once celadon has measured the
  // queue (every 2 s), without a reload: all six wait at priority 0.
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  const legend = page.getByTestId('queue-depth-chart').locator('.legend li[data-series]');
  await expect(legend).toHaveText(['priority 0', 'priority 3', 'priority 6', 'priority 9'], { timeout: 45_000 });
  await expect(legend.first()).not.toHaveAttribute('data-total', '0', { timeout: 45_000 });
  await expect(legend.nth(2)).toHaveAttribute('data-total', '0');

  await page.getByTestId('queue-search').fill('args:needle-42');
  await page.getByRole('button', { name: 'Search' }).click();
  const rows = page.getByTestId('messages-table').locator('tbody tr');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-id', needle);
  await expect(rows.first().locator('[data-col=args]')).toHaveText('["needle-42"]');
  await expect(rows.first().locator('[data-col=kwargs]')).toHaveText('{"note": "park me"}');

  await page.getByTestId('move-to').fill('parking');
  await page.locator('[data-action=move-matching]').click();
  const confirm = page.getByTestId('queue-confirm-text');
  await expect(confirm).toContainText('1 message would be moved from inbox to parking');
  await expect(confirm).toContainText('Nothing has been changed yet');
  await expect(page.getByTestId('queue-confirm')).toContainText(needle);
  await page.getByTestId('queue-confirm-yes').click();
  await expect(page.getByTestId('queue-outcome')).toContainText('1 message moved from inbox to parking');
  await expect(rows).toHaveCount(0);

  await page.goto(`${url}/broker/queue/parking`);
  const parked = page.getByTestId('messages-table').locator('tbody tr');
  await expect(parked).toHaveCount(1);
  await expect(parked.first()).toHaveAttribute('data-id', needle);
  await expect(parked.first().locator('[data-col=args]')).toHaveText('["needle-42"]');
  await page.goto(`${url}/broker/queue/inbox`);
  await expect(page.getByTestId('messages-table').locator('tbody tr')).toHaveCount(5);

  await page.goto(`${url}/audit?action=queue.move`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  const entry = page.getByTestId('audit-table').locator('tr', { hasText: 'queue.move' });
  await expect(entry).toHaveCount(2); // the dry run and the move
  await expect(entry.first()).toContainText('inbox');
  await expect(entry.first()).toContainText('parking');
  await expect(entry.first().locator('.badge')).toHaveText('ok');
  // Newest first: the move, with its outcome's counts.
  await expect(entry.first()).not.toContainText('dry_run=1');
  await expect(entry.first()).toContainText('"acted":1');
  await expect(entry.nth(1)).toContainText('dry_run=1');
});
