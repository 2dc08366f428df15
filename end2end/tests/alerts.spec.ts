// Alerts in the browser: a worker stopped fires "worker offline", shown
// by the banner on every page (linking to the worker) and on the Alerts
// page, where a rule with a `for` shows it pending (and the banner does
// not); an admin adds a webhook and presses Test, which reaches a real
// HTTP receiver started here and shows its answer.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import { Cluster } from './support/cluster';
import { expectSameDocument, markDocument } from './support/page';

let cluster: Cluster;
let receiver: http.Server | undefined;

test.beforeEach(() => {
  cluster = new Cluster();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) console.log(cluster.logs());
  await cluster.stop();
  await new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(undefined)));
  receiver = undefined;
});

/** A webhook receiver: records each request's method and body, answers 200. */
async function startReceiver(got: { method: string; body: string }[]): Promise<string> {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ method: req.method ?? '', body });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(receiver!.address() as AddressInfo).port}/hook`;
}

test('a stopped worker fires on every page and the Alerts page; a webhook is added and tested', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const rules = path.join(cluster.dir, 'alerts.toml');
  fs.writeFileSync(
    rules,
    '[[rule]]\nname = "worker down"\nkind = "worker_offline"\nafter = "3s"\nseverity = "critical"\n\n' +
      '[[rule]]\nname = "down for long"\nkind = "worker_offline"\nafter = "3s"\nfor = "1h"\n',
  );
  await cluster.startRedis();
  const url = await cluster.startCeladon(0, [`--alerts=${rules}`, '--persistent=false']);
  const worker = cluster.startWorker('gone');

  await page.goto(url);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('tr[data-worker="gone@e2e"]')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });
  await expect(page.getByTestId('alerts-banner')).toHaveCount(0);
  await markDocument(page);

  // SIGKILL: heartbeats stop; 3 s of silence and an evaluation later it fires.
  worker.killGroup();
  const banner = page.getByTestId('alerts-banner');
  await expect(banner).toContainText('1 alert firing', { timeout: 20_000 });
  await expect(banner.locator('li[data-rule="worker down"] a')).toContainText('worker gone@e2e offline for ');
  await expectSameDocument(page);

  // The banner's link is the cause's page.
  await banner.locator('li[data-rule="worker down"] a').click();
  await expect(page).toHaveURL(/\/worker\/gone(%40|@)e2e$/);
  await expect(page.getByTestId('alerts-banner')).toBeVisible();

  // The Alerts page shows it firing (and the banner, as every page), and
  // the rule from the file, read-only.
  await page.goto(`${url}/alerts`);
  await expect(page.getByTestId('alerts-banner')).toContainText('1 alert firing');
  await expect(page.getByTestId('alerts-firing').locator('tr[data-rule="worker down"]')).toContainText(
    'worker gone@e2e offline for ',
  );
  // The same silence under a `for` of an hour: pending, not firing.
  const pending = page.getByTestId('alerts-pending').locator('tr[data-rule="down for long"]');
  await expect(pending).toContainText('worker gone@e2e offline for ');
  await expect(pending).toContainText(/ UTC unless it clears/);
  await expect(page.getByTestId('alerts-firing').locator('tr[data-rule="down for long"]')).toHaveCount(0);
  await expect(page.getByTestId('alerts-banner').locator('li[data-rule="down for long"]')).toHaveCount(0);
  const rule = page.getByTestId('alerts-rules').locator('tr[data-rule="worker down"]');
  await expect(rule).toContainText(`file ${rules}`);
  await expect(rule.getByRole('button', { name: 'Edit' })).toHaveCount(0);

  // An admin (everyone, without a login) adds a webhook and tests it.
  const got: { method: string; body: string }[] = [];
  const hook = await startReceiver(got);
  const form = page.getByTestId('webhook-form');
  await form.locator('input[name="webhook-name"]').fill('ops');
  await form.locator('input[name="webhook-url"]').fill(hook);
  await form.locator('input[name="webhook-secret"]').fill('hunter2');
  await form.getByRole('button', { name: 'Save webhook' }).click();
  await expect(form).toContainText('Webhook "ops" saved.');
  const row = page.getByTestId('alerts-webhooks').locator('tr[data-webhook="ops"]');
  await expect(row).toContainText(hook);
  await expect(row).toContainText('set');
  await expect(page.locator('body')).not.toContainText('hunter2');
  await row.getByRole('button', { name: 'Test' }).click();
  await expect(row.getByTestId('webhook-test')).toContainText('delivered: HTTP 200', { timeout: 15_000 });
  expect(got.filter((r) => r.method === 'POST').length).toBeGreaterThanOrEqual(1);
  expect(errors).toEqual([]);
});
