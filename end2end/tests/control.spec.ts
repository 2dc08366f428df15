// Control from the Task page, with real workers: each action asks for
// confirmation naming what it will do, then shows what the workers
// answered; a retry says where its arguments came from and links both ways.

import { expect, Page, test } from '@playwright/test';
import { Cluster } from './support/cluster';

let cluster: Cluster;

test.beforeEach(() => {
  cluster = new Cluster();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) console.log(cluster.logs());
  await cluster.stop();
});

async function openTask(page: Page, url: string, id: string) {
  await page.goto(`${url}/task/${id}`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
}

const field = (page: Page, name: string) => page.getByTestId('task-fields').locator(`[data-field=${name}]`);

test('revoke and retry from the Task page, confirmed, with the workers\' replies', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon(0, [cluster.backendFlag()]);
  cluster.startWorker('ctl');
  await page.goto(`${url}/`);
  await expect(page.locator('tr[data-worker="ctl@e2e"]')).toHaveAttribute('data-status', 'online', { timeout: 30_000 });

  // Revoke a task waiting for its ETA: the worker's reply is shown, and the
  // task ends REVOKED without running.
  const [waiting] = await cluster.send('add', { args: [1, 2], countdown: 6 });
  await openTask(page, url, waiting);
  await expect(field(page, 'state')).toHaveText('RECEIVED', { timeout: 15_000 });
  const revoke = page.locator('[data-action=revoke]');
  await revoke.getByRole('button', { name: 'Revoke' }).click();
  await expect(revoke.getByTestId('confirm')).toContainText(`Revoke task ${waiting}?`);
  await revoke.getByTestId('confirm-yes').click();
  await expect(revoke.getByTestId('outcome-message')).toHaveText(`Revoked '${waiting}'`);
  await expect(revoke.locator('li[data-worker="ctl@e2e"]')).toContainText('flagged as revoked');
  await expect(field(page, 'state')).toHaveText('REVOKED', { timeout: 20_000 });
  // The outcome stays on screen as the state moves.
  await expect(revoke.locator('li[data-worker="ctl@e2e"]')).toBeVisible();

  // Retry a failed task: it runs again with the same arguments, as a new
  // task, and the two pages link to each other.
  const [failed] = await cluster.send('record', { args: ['once', 'more'], kwargs: { fail: true } });
  await openTask(page, url, failed);
  await expect(field(page, 'state')).toHaveText('FAILURE', { timeout: 15_000 });
  const retry = page.locator('[data-action=retry]');
  await retry.getByRole('button', { name: 'Retry' }).click();
  await expect(retry.getByTestId('confirm')).toContainText('Send celadon_tasks.record again');
  await retry.getByTestId('confirm-yes').click();
  await expect(retry.getByTestId('args-source')).toHaveText('the result backend (result_extended)');
  const link = retry.getByTestId('retried-as');
  const retried = (await link.textContent())!.trim();
  expect(retried).not.toBe(failed);
  await expect(field(page, 'retried-as')).toContainText(retried, { timeout: 10_000 });
  await link.click();
  await expect(page).toHaveURL(`${url}/task/${retried}`);
  await expect(field(page, 'state')).toHaveText('FAILURE', { timeout: 15_000 });
  await expect(field(page, 'retry-of')).toHaveText(failed);
  await expect(page.getByTestId('task-args')).toHaveText("['once', 'more']");
});

test('read-only hides every action', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon(0, ['--read-only']);
  cluster.startWorker('ro');
  const [done] = await cluster.send('add', { args: [1, 1] });
  await openTask(page, url, done);
  await expect(field(page, 'state')).toHaveText('SUCCESS', { timeout: 30_000 });
  await expect(page.getByTestId('task-actions')).toHaveCount(0);
});

test('--natural-time opens pages with times ago, until this browser chooses', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon(0, ['--natural-time']);
  cluster.startWorker('nt');
  const [done] = await cluster.send('add', { args: [2, 2] });
  await openTask(page, url, done);
  await expect(field(page, 'state')).toHaveText('SUCCESS', { timeout: 30_000 });
  const toggle = page.getByTestId('time-toggle');
  await expect(toggle).toHaveText('relative times');
  const time = page.locator('main time').first();
  await expect(time).toContainText(/now|ago/);
  await toggle.click();
  await expect(toggle).toHaveText('clock times');
  await expect(time).not.toContainText(/now|ago/);
  // The browser's choice outlasts a reload: the server's default is only
  // for a browser that has not chosen.
  await openTask(page, url, done);
  await expect(toggle).toHaveText('clock times');
});
