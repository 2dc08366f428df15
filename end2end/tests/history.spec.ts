// The Tasks page over history: tasks that finished before celadon stopped
// (cleanly, then killed) are listed after it starts again on the same
// history file, found by their args over "Last hour", open their Task
// page (from history, for the one memory no longer holds), and are in the
// CSV the page downloads, exactly as sent. Under
// --url-prefix, a range in the URL loads, hydrates and downloads under it.

import { expect, Page, test } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
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

/** Waits until celadon at `base` has task `id` in SUCCESS. */
async function succeeded(base: string, id: string) {
  await expect
    .poll(async () => {
      const r = await fetch(`${base}/api/task/info/${id}`);
      return r.ok ? ((await r.json()) as { state: string }).state : `HTTP ${r.status}`;
    }, { timeout: 30_000 })
    .toBe('SUCCESS');
}

/** The records of an RFC 4180 text, each a list of fields. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || record.length > 0) records.push([...record, field]);
  return records;
}

/** Clicks a download link; returns the URL it fetched and the file's records. */
async function download(page: Page, format: string): Promise<{ url: string; records: string[][] }> {
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    page.locator(`a[data-download=${format}]`).click(),
  ]);
  const saved = await file.path();
  return { url: file.url(), records: parseCsv(fs.readFileSync(saved, 'utf8')) };
}

function taskRow(page: Page, id: string) {
  return page.locator(`tr[data-task="${id}"]`);
}

test('tasks finished before a SIGTERM and a SIGKILL are found in history, opened, and downloaded', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await cluster.startRedis();
  const db = path.join(cluster.dir, 'history.db');
  const flags = [`--db=${db}`, '--state-save-interval=200'];
  cluster.startWorker('hist');
  const tag = `order-${Math.random().toString(36).slice(2, 10)}`;

  // One task finishes, then celadon stops cleanly.
  let url = await cluster.startCeladon(0, flags);
  const [termed] = await cluster.send('echo', { args: [`${tag}-term`] });
  await succeeded(url, termed);
  await cluster.stopCeladon('SIGTERM');

  // Another finishes, and celadon is killed once its save loop wrote it.
  url = await cluster.startCeladon(0, flags);
  await succeeded(url, termed);
  const [killed] = await cluster.send('echo', { args: [`${tag}-kill`] });
  await succeeded(url, killed);
  await expect.poll(() => cluster.storedState(db, killed), { timeout: 10_000 }).toBe('SUCCESS');
  await cluster.stopCeladon('SIGKILL');

  // Started again holding one task in memory: the older one is listed,
  // and shown, from history alone.
  url = await cluster.startCeladon(0, [...flags, '--max-tasks=1']);
  await page.goto(`${url}/tasks`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await markDocument(page);
  await page.locator('details.columns summary').click();
  await page.locator('a[data-column=args]').click();
  await page.getByTestId('range').locator('[data-range="1h"]').click();
  await expect(page).toHaveURL(/[?&]range=1h(&|$)/);
  await expect(page.getByTestId('range').locator('[data-range="1h"]')).toHaveClass(/selected/);
  await page.getByTestId('task-search').fill(`args:${tag}`);

  const rows = page.locator('tr[data-task]');
  await expect(rows).toHaveCount(2, { timeout: 15_000 });
  // Newest change first.
  expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-task')))).toEqual([killed, termed]);
  for (const [id, arg] of [[termed, `${tag}-term`], [killed, `${tag}-kill`]]) {
    await expect(taskRow(page, id).locator('[data-col=uuid] a')).toHaveText(id);
    await expect(taskRow(page, id).locator('[data-col=state] .badge')).toHaveText('SUCCESS');
    await expect(taskRow(page, id).locator('[data-col=args]')).toHaveText(`['${arg}']`);
  }
  await expect(page.getByTestId('task-count')).toHaveText('tasks 1–2');
  await expect(page.locator('.pager .page.disabled', { hasText: 'older' })).toBeVisible();
  // A search on args reads history's word index: the page says so.
  await expect(page.getByTestId('history-note')).toContainText('holding the searched words whole');
  await page.getByTestId('history-refresh').click();
  await expect(rows).toHaveCount(2);

  const csv = await download(page, 'csv');
  expect(new URL(csv.url).pathname).toBe('/api/tasks');
  expect(new URL(csv.url).searchParams.get('search')).toBe(`args:${tag}`);
  expect(new URL(csv.url).searchParams.get('since')).toMatch(/^\d+$/);
  const [header, ...records] = csv.records;
  expect(header.slice(0, 3)).toEqual(['uuid', 'name', 'state']);
  const args = header.indexOf('args');
  expect(records.map((r) => [r[0], r[2], r[args]])).toEqual([
    [killed, 'SUCCESS', `['${tag}-kill']`],
    [termed, 'SUCCESS', `['${tag}-term']`],
  ]);

  await taskRow(page, termed).locator('[data-col=uuid] a').click();
  await expect(page).toHaveURL(`${url}/task/${termed}`);
  await expect(page.getByTestId('task-from-history')).toBeVisible();
  await expect(page.getByTestId('task-fields').locator('[data-field=state]')).toHaveText('SUCCESS');
  await expect(page.getByTestId('task-fields').locator('[data-field=worker]')).toHaveText('hist@e2e');
  await expect(page.getByTestId('task-args')).toHaveText(`['${tag}-term']`);
  // Its timeline, from the time of each of its events, as in memory.
  const timeline = page.getByTestId('task-timeline');
  await expect(timeline.locator('tr[data-event=task-started]')).toBeVisible();
  await expect(timeline.locator('tr[data-event=task-succeeded] td').last()).toHaveText('hist@e2e');
  // The task memory holds, its page shows live, as before.
  await page.goBack();
  await taskRow(page, killed).locator('[data-col=uuid] a').click();
  await expect(page).toHaveURL(`${url}/task/${killed}`);
  await expect(page.getByTestId('task-fields').locator('[data-field=state]')).toHaveText('SUCCESS');
  await expect(page.getByTestId('task-timeline').locator('tr[data-event=task-succeeded]')).toBeVisible();
  await expect(page.getByTestId('task-from-history')).toHaveCount(0);
  await expectSameDocument(page);
  expect(errors).toEqual([]);
});

test('under --url-prefix, a range in the URL loads, hydrates, lists and downloads under the prefix', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const failed: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/ws')) failed.push(`${r.status()} ${r.url()}`);
  });
  await cluster.startRedis();
  const url = await cluster.startCeladon(0, ['--url-prefix=flower', '--state-save-interval=200']);
  const base = `${url}/flower`;
  cluster.startWorker('px');
  const tag = `order-${Math.random().toString(36).slice(2, 10)}`;
  const [id] = await cluster.send('echo', { args: [tag] });
  await succeeded(base, id);

  await page.goto(`${base}/tasks?range=24h&search=${encodeURIComponent(tag)}`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('tr[data-task]')).toHaveCount(1, { timeout: 15_000 });
  await expect(taskRow(page, id).locator('[data-col=state] .badge')).toHaveText('SUCCESS');
  await expect(page.getByTestId('range').locator('[data-range="24h"]')).toHaveClass(/selected/);

  const ndjson = page.locator('a[data-download=ndjson]');
  await expect(ndjson).toHaveAttribute('href', /^\/flower\/api\/tasks\?format=ndjson&sort_by=-timestamp&since=\d+&search=/);
  const csv = await download(page, 'csv');
  expect(new URL(csv.url).pathname).toBe('/flower/api/tasks');
  expect(csv.records.slice(1).map((r) => r[0])).toEqual([id]);

  // A custom range: open at first (all of history), then ending an hour
  // ago, in the browser's time zone, which leaves the task out.
  await page.getByTestId('range').locator('[data-range=custom]').click();
  await expect(page).toHaveURL(/[?&]range=custom(&|$)/);
  await expect(taskRow(page, id)).toBeVisible();
  const hourAgo = await page.evaluate(() => {
    const d = new Date(Date.now() - 3_600_000);
    const two = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
  });
  await page.getByTestId('range-until').fill(hourAgo);
  await expect(page).toHaveURL(/[?&]until=\d+(&|$)/);
  await expect(page.getByTestId('no-tasks')).toBeVisible();
  await expect(page.getByTestId('range-until')).toHaveValue(hourAgo);
  await expect(page.getByTestId('range-since')).toHaveValue('');

  // Back to Live, through the app's own link: the live table, sortable again.
  await markDocument(page);
  await page.getByTestId('range').locator('[data-range=live]').click();
  await expect(page).toHaveURL(`${base}/tasks?search=${encodeURIComponent(tag)}`);
  await expect(taskRow(page, id)).toBeVisible();
  await expect(page.locator('th[data-col=name] a')).toBeVisible();
  await expect(page.locator('a[data-download=csv]')).toHaveAttribute('href', /^\/flower\/api\/tasks\?format=csv&sort_by=-received&search=/);
  await expectSameDocument(page);
  expect(failed).toEqual([]);
  expect(errors).toEqual([]);
});
