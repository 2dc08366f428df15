// The Tasks, Task and Broker pages, live, with real workers: tasks move
// through their states without a reload, search finds exactly what it
// should, task data is inert text, and the page survives a server restart.

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

async function openLive(page: Page, url: string) {
  await page.goto(url);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await markDocument(page);
}

function taskRow(page: Page, id: string) {
  return page.locator(`tr[data-task="${id}"]`);
}

test('a task sent after load moves RECEIVED → STARTED → SUCCESS on the Tasks page', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  cluster.startWorker('busy');
  await openLive(page, `${url}/`);
  await expect(page.locator('tr[data-worker="busy@e2e"]')).toHaveAttribute('data-status', 'online', { timeout: 30_000 });

  await openLive(page, `${url}/tasks`);
  // The worker runs one task at a time: the second waits, RECEIVED, until
  // the first is done.
  const [first] = await cluster.send('slow', { args: [3] });
  await expect(taskRow(page, first).locator('[data-col=state] .badge')).toHaveText('STARTED', { timeout: 15_000 });
  const [second] = await cluster.send('slow', { args: [2] });
  const state = taskRow(page, second).locator('[data-col=state] .badge');
  await expect(state).toHaveText('RECEIVED', { timeout: 10_000 });
  await expect(state).toHaveText('STARTED', { timeout: 10_000 });
  await expect(state).toHaveText('SUCCESS', { timeout: 10_000 });
  await expect(taskRow(page, second).locator('[data-col=runtime]')).toContainText('s');
  await expectSameDocument(page);
});

test("a failed task's traceback is on its Task page, which updates live", async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  cluster.startWorker('one');
  // The worker runs one task at a time: the failing task waits behind a
  // slow one, so its page is open before it fails.
  await cluster.send('slow', { args: [4] });
  const [failed] = await cluster.send('fail', { args: ['the sky fell'] });
  await openLive(page, `${url}/task/${failed}`);
  const state = page.getByTestId('task-fields').locator('[data-field=state]');
  await expect(state).toHaveText('RECEIVED', { timeout: 30_000 });
  await expect(state).toHaveText('FAILURE', { timeout: 30_000 });
  await expect(page.getByTestId('task-traceback')).toContainText('ValueError: the sky fell');
  await expect(page.getByTestId('task-traceback')).toContainText('Traceback (most recent call last)');
  await expect(page.getByTestId('task-timeline').locator('tr[data-event=task-failed]')).toBeVisible();
  await expect(page.getByTestId('task-fields').locator('[data-field=worker]')).toHaveText('one@e2e');
  await expectSameDocument(page);
});

test('search finds exactly the failed tasks of a name; a syntax error shows inline', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  cluster.startWorker('w');
  const failed = await cluster.send('fail', { count: 3 });
  await cluster.send('add', { args: [1, 2], count: 4 });
  await cluster.send('flaky', { kwargs: { failures: 0 } });

  await openLive(page, `${url}/tasks?search=${encodeURIComponent('state:FAILURE name:celadon_tasks.fail')}`);
  const rows = page.locator('tr[data-task]');
  await expect(rows).toHaveCount(3, { timeout: 30_000 });
  const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')));
  expect(shown.sort()).toEqual([...failed].sort());
  for (const id of failed) {
    await expect(taskRow(page, id).locator('[data-col=state] .badge')).toHaveText('FAILURE');
  }
  // The URL is the view: it reloads to the same rows.
  expect(new URL(page.url()).searchParams.get('search')).toBe('state:FAILURE name:celadon_tasks.fail');

  // Typing a malformed query says why, next to the box, and keeps the page.
  const box = page.getByTestId('task-search');
  await box.fill('state:FAILURE name:"unclosed');
  await expect(page.getByTestId('search-error')).toBeVisible();
  await expect(page.getByTestId('search-error')).toContainText(/quote|unterminated|unclosed/i);
  await box.fill('state:SUCCESS');
  await expect(page.getByTestId('search-error')).toHaveCount(0);
  await expect(rows).toHaveCount(5, { timeout: 10_000 });
  expect(new URL(page.url()).searchParams.get('search')).toBe('state:SUCCESS');
  await expectSameDocument(page);
});

test('the Broker page shows a queue grow while no worker consumes it', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  await cluster.send('add', { args: [1, 1], queue: 'nobody', count: 2 });
  await openLive(page, `${url}/broker`);
  const queue = page.locator('tr[data-queue="nobody"]');
  await expect(queue.locator('[data-col=messages]')).toHaveText('2', { timeout: 15_000 });
  await expect(queue).toContainText('no consumer');
  await cluster.send('add', { args: [1, 1], queue: 'nobody', count: 5 });
  await expect(queue.locator('[data-col=messages]')).toHaveText('7', { timeout: 15_000 });
  await expectSameDocument(page);
});

test('task data with HTML in it renders as inert text', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  cluster.startWorker('w');
  let alerted = false;
  page.on('dialog', async (d) => {
    alerted = true;
    await d.dismiss();
  });
  await openLive(page, `${url}/tasks?columns=name,uuid,state,args,kwargs,result`);
  await page.evaluate(() => ((window as unknown as { pwned: number }).pwned = 0));
  const script = '<script>window.pwned = 1</script>';
  const img = '<img src=x onerror="window.pwned = 2">';
  const [id] = await cluster.send('echo', { args: [script, img], kwargs: { note: '<b>bold</b>' } });
  await expect(taskRow(page, id).locator('[data-col=state] .badge')).toHaveText('SUCCESS', { timeout: 30_000 });
  await expect(taskRow(page, id).locator('[data-col=args]')).toContainText('<script>');
  await expect(taskRow(page, id).locator('[data-col=args]')).toContainText('onerror');

  await page.click(`tr[data-task="${id}"] [data-col=uuid] a`);
  await expect(page.getByTestId('task-args')).toContainText('<img src=x onerror=');
  await expect(page.getByTestId('task-kwargs')).toContainText('<b>bold</b>');
  // No element was made from the data, and nothing ran.
  expect(await page.locator('main img, main script, main b').count()).toBe(0);
  await page.waitForTimeout(300);
  expect(await page.evaluate(() => (window as unknown as { pwned: number }).pwned)).toBe(0);
  expect(alerted).toBe(false);
  await expectSameDocument(page);
});

test('when the server restarts the page says reconnecting, then goes live again', async ({ page }) => {
  await cluster.startRedis();
  const url = await cluster.startCeladon();
  const port = Number(new URL(url).port);
  cluster.startWorker('w');
  await openLive(page, `${url}/tasks`);
  cluster.celadon!.killGroup();
  await cluster.celadon!.exited(5_000);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
  await cluster.startCeladon(port);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  // And it is live for real: a new task shows up.
  const [id] = await cluster.send('add', { args: [2, 2] });
  await expect(taskRow(page, id).locator('[data-col=state] .badge')).toHaveText('SUCCESS', { timeout: 30_000 });
  await expectSameDocument(page);
});
