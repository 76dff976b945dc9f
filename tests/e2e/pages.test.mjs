// The other pages: login, customer and mechanic dashboards (accessibility, screenshots at
// phone / tablet / desktop widths), the redirect to /login, and the step-3 list surviving a
// server restart without losing a change (EventSource reconnects with Last-Event-ID).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, loggedIn, sleep } from '../integration/helpers.mjs';
import { launch, login, seriousViolations, SHOTS } from './browser.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await srv?.stop(); srv?.cleanup(); });

test('a visitor is sent to /login; login and dashboards pass axe at three widths', async () => {
  for (const width of [390, 768, 1280]) {
    const ctx = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${srv.url}/`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.deepEqual(await seriousViolations(page), [], `login at ${width}`);
    await page.screenshot({ path: join(SHOTS, `login-${width}.png`) });

    await login(page, srv.url, 'alex@demo.test');
    assert.equal(new URL(page.url()).pathname, '/');
    await page.getByRole('button', { name: 'Start a session' }).waitFor();
    await page.getByText('2017 Honda Civic').waitFor();
    assert.deepEqual(await seriousViolations(page), [], `dashboard at ${width}`);
    await page.screenshot({ path: join(SHOTS, `dashboard-${width}.png`), fullPage: true });
    await ctx.close();

    const mctx = await browser.newContext({ viewport: { width, height: 900 } });
    const mpage = await mctx.newPage();
    await login(mpage, srv.url, 'mike.chen@demo.test');
    assert.equal(new URL(mpage.url()).pathname, '/mechanic');
    await mpage.getByRole('switch', { name: 'Available for sessions' }).waitFor();
    assert.deepEqual(await seriousViolations(mpage), [], `mechanic dashboard at ${width}`);
    await mpage.screenshot({ path: join(SHOTS, `mechanic-${width}.png`), fullPage: true });
    await mctx.close();
  }
});

test('wrong password shows the error; a pending mechanic cannot switch on', async () => {
  const ctx = await browser.newContext();
  ctx.allow(/\/api\/auth\/login$/, 401);
  const page = await ctx.newPage();
  await page.goto(`${srv.url}/login`);
  await page.getByLabel('Email').fill('alex@demo.test');
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').getByText('Wrong email or password.').waitFor();
  await login(page, srv.url, 'priya.patel@demo.test');
  await page.getByText('waiting for approval').waitFor();
  assert.equal(await page.getByRole('switch', { name: 'Available for sessions' }).isDisabled(), true);
  await ctx.close();
});

test('the mechanic switch works and logout ends the login', async () => {
  const ctx = await browser.newContext();
  ctx.allow(/\/api\/me$/, 401); // the page behind the login asks who this is, then sends them to /login
  const page = await ctx.newPage();
  await login(page, srv.url, 'aisha.khan@demo.test');
  const sw = page.getByRole('switch', { name: 'Available for sessions' });
  await sw.click();
  await page.locator('#own-status', { hasText: 'You are online' }).waitFor();
  assert.equal(await sw.getAttribute('aria-checked'), 'true');
  await sw.click();
  await page.locator('#own-status', { hasText: 'You are offline' }).waitFor();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/login/);
  await page.goto(`${srv.url}/mechanic`);
  await page.waitForURL(/\/login/);
  await ctx.close();
});

test('step 3 keeps up across a server restart without losing a change', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  ctx.allow(/\/api\/(presence\/stream|mechanics\/available)/); // cut by the restart, on purpose
  const page = await ctx.newPage();
  await login(page, srv.url, 'alex@demo.test');
  await page.goto(`${srv.url}/wizard`);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('body[data-presence="live"]').waitFor();
  await page.getByRole('radio', { name: /^Maria Garcia/ }).waitFor();

  // restart the server on the same port and database; change Maria's presence at once,
  // before the page's EventSource comes back (it waits retry: 2000 ms)
  await srv.stop();
  srv = await startServer({ dir: srv.dir, port: srv.port, demo: false });
  const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
  const r = await maria.post('/api/mechanic/presence', { status: 'online' });
  assert.equal(r.status, 200);
  await page.waitForFunction(() => document.querySelectorAll('#mechanic-group .mech-name')[0]?.textContent === 'Maria Garcia',
    null, { timeout: 10000 });
  const card = await page.getByRole('radio', { name: /^Maria Garcia/ }).evaluate((i) => i.closest('label').textContent);
  assert.match(card, /Available now/);
  await maria.post('/api/mechanic/presence', { status: 'offline' });
  await sleep(100);
  await ctx.close();
});
