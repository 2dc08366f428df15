// Sign-on in the browser with a real OpenID Connect provider (the same
// oidc-provider script the Rust kit starts), real Redis and a real Celery
// worker: the provider's login form, the person and role in the top bar,
// the actions each role is offered and allowed, and signing out.

import { Browser, expect, Page, test } from '@playwright/test';
import { Cluster, OidcUser } from './support/cluster';

let cluster: Cluster;

test.beforeEach(() => {
  cluster = new Cluster();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) console.log(cluster.logs());
  await cluster.stop();
});

const people: Record<string, OidcUser> = {
  alice: { email: 'alice@example.com', groups: ['celery-operators'] },
  ada: { email: 'ada@example.com', groups: ['celery-admins'] },
};

/** Redis, a worker, the provider and celadon signing on with it; returns
 * celadon's base URL and the provider's issuer. */
async function startSigningOn(): Promise<{ url: string; issuer: string }> {
  await cluster.startRedis();
  const port = await cluster.freePort();
  const url = `http://127.0.0.1:${port}`;
  const issuer = await cluster.startOidc(people, `${url}/login`);
  await cluster.startCeladon(port, [...cluster.signOnFlags(issuer), cluster.backendFlag()]);
  cluster.startWorker('sso');
  return { url, issuer };
}

/** Opens celadon, is sent to the provider's login form, signs on there as
 * `login` with any password, and is back on celadon's home page, live. */
async function signOn(page: Page, url: string, issuer: string, login: string) {
  await page.goto(`${url}/`);
  await expect(page).toHaveURL(new RegExp(`^${issuer}/interaction/`));
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button[type=submit]').click();
  await expect(page).toHaveURL(`${url}/`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
}

/** The CSRF token the server wrote into the page for this session. */
async function csrfOf(page: Page): Promise<string> {
  const meta = await page.locator('meta[name=celadon-person]').getAttribute('content');
  const csrf = JSON.parse(meta ?? '{}').csrf;
  expect(csrf).toBeTruthy();
  return csrf;
}

const field = (page: Page, name: string) => page.getByTestId('task-fields').locator(`[data-field=${name}]`);

test('an operator signs on, revokes from the Task page, is refused worker control, and signs out', async ({ page }) => {
  const { url, issuer } = await startSigningOn();
  await signOn(page, url, issuer, 'alice');
  await expect(page.getByTestId('who')).toContainText('alice@example.com');
  await expect(page.getByTestId('who-role')).toHaveText('operator');
  await expect(page.getByTestId('who').getByRole('link', { name: 'Log out' })).toBeVisible();
  const session = (await page.context().cookies(url)).find((c) => c.name === 'celadon_session');
  expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

  // The worker's page offers an operator no worker controls.
  await expect(page.locator('tr[data-worker="sso@e2e"]')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });
  await page.goto(`${url}/worker/sso@e2e`);
  await expect(page.getByTestId('worker-status')).toBeVisible();
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('worker-controls')).toHaveCount(0);

  // A task's page offers her its actions; a revoke goes through (the UI
  // sends the session's X-CSRF-Token) and the task ends REVOKED.
  const [waiting] = await cluster.send('add', { args: [1, 2], countdown: 6 });
  await page.goto(`${url}/task/${waiting}`);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await expect(field(page, 'state')).toHaveText('RECEIVED', { timeout: 15_000 });
  const actions = page.getByTestId('task-actions');
  for (const name of ['Revoke', 'Terminate', 'Retry']) {
    await expect(actions.getByRole('button', { name })).toBeVisible();
  }
  const revoke = page.locator('[data-action=revoke]');
  await revoke.getByRole('button', { name: 'Revoke' }).click();
  await revoke.getByTestId('confirm-yes').click();
  await expect(revoke.getByTestId('outcome-message')).toHaveText(`Revoked '${waiting}'`);
  await expect(revoke.locator('li[data-worker="sso@e2e"]')).toContainText('flagged as revoked');
  await expect(field(page, 'state')).toHaveText('REVOKED', { timeout: 20_000 });

  // An admin-only action is refused with her session, token and all.
  const csrf = await csrfOf(page);
  const shutdown = await page.request.post(`${url}/api/worker/shutdown/sso@e2e`, { headers: { 'X-CSRF-Token': csrf } });
  expect(shutdown.status()).toBe(403);
  expect((await shutdown.json()).error).toBe('alice@example.com is operator here; this needs the admin role');

  // Signing out ends the session: the API answers 401 and pages send her
  // to sign on again.
  await page.getByRole('link', { name: 'Log out' }).click();
  await expect(page.locator('#signon-message')).toHaveText('You are signed out of celadon.');
  expect((await page.context().cookies(url)).map((c) => c.name)).not.toContain('celadon_session');
  expect((await page.request.get(`${url}/api/tasks`)).status()).toBe(401);
  const tasks = await page.request.get(`${url}/tasks`, { maxRedirects: 0 });
  expect(tasks.status()).toBe(303);
  expect(tasks.headers()['location']).toBe('/login?next=%2Ftasks');
  // Signing on again goes through the provider, which still knows her
  // (celadon's sign-out ends celadon's session, not the provider's), and
  // makes a new session with a new token.
  const toProvider = page.waitForRequest((r) => r.url().startsWith(`${issuer}/auth?`));
  await page.getByRole('link', { name: 'Sign on' }).click();
  await toProvider;
  await expect(page).toHaveURL(`${url}/`);
  await expect(page.getByTestId('who-role')).toHaveText('operator');
  expect(await csrfOf(page)).not.toBe(csrf);
});

async function signedOnAs(browser: Browser, url: string, issuer: string, login: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signOn(page, url, issuer, login);
  return page;
}

test('an admin, in a browser of her own, is offered the worker controls', async ({ browser }) => {
  const { url, issuer } = await startSigningOn();
  const ada = await signedOnAs(browser, url, issuer, 'ada');
  await expect(ada.getByTestId('who')).toContainText('ada@example.com');
  await expect(ada.getByTestId('who-role')).toHaveText('admin');
  await expect(ada.locator('tr[data-worker="sso@e2e"]')).toHaveAttribute('data-status', 'online', { timeout: 45_000 });
  await ada.goto(`${url}/worker/sso@e2e`);
  await expect(ada.locator('.conn')).toHaveAttribute('data-state', 'live');
  await expect(ada.getByTestId('worker-controls')).toBeVisible();

  // An operator signed on at the same time sees none.
  const alice = await signedOnAs(browser, url, issuer, 'alice');
  await alice.goto(`${url}/worker/sso@e2e`);
  await expect(alice.getByTestId('worker-status')).toBeVisible();
  await expect(alice.getByTestId('worker-controls')).toHaveCount(0);

  // Alice's refused shutdown and both sign-ons are on the Audit page,
  // which only the admin may open (and only she is offered its link).
  const csrf = await csrfOf(alice);
  const refused = await alice.request.post(`${url}/api/worker/shutdown/sso@e2e`, { headers: { 'X-CSRF-Token': csrf } });
  expect(refused.status()).toBe(403);
  await expect(alice.getByRole('link', { name: 'Audit' })).toHaveCount(0);
  expect((await alice.request.get(`${url}/api/audit`)).status()).toBe(403);
  await ada.getByRole('link', { name: 'Audit' }).click();
  await expect(ada).toHaveURL(`${url}/audit`);
  await ada.goto(`${url}/audit?who=alice%40example.com`);
  const table = ada.getByTestId('audit-table');
  const shutdown = table.locator('tr', { hasText: 'worker.shutdown' });
  await expect(shutdown).toContainText('refused');
  await expect(shutdown).toContainText('403');
  await expect(shutdown).toContainText('sso@e2e');
  await expect(shutdown).toContainText('127.0.0.1');
  await expect(table.locator('tr', { hasText: 'login' }).first()).toContainText('operator');
  await expect(table.locator('tr', { hasText: 'ada@example.com' })).toHaveCount(0);
  await ada.context().close();
  await alice.context().close();
});
