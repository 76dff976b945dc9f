// The customer's journey to step 3 with live presence, as the web UI issue lists it: two
// browser contexts (customer and mechanic), the dot and the order changing live, launch to
// intake with the banner, the specialist filter, escaping, keyboard-only selection,
// screenshots at phone and desktop widths, and axe-core checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer } from '../integration/helpers.mjs';
import { launch, login, seriousViolations, SHOTS } from './browser.mjs';

let srv, browser;
const XSS = '<img src=x onerror=alert(1)>';

before(async () => {
  // a demo database where one Toronto mechanic has a hostile name
  const first = await startServer();
  await first.stop();
  execFileSync('sqlite3', [join(first.dir, 'pitwall.db'),
    `UPDATE mechanics SET name = '${XSS}' WHERE name = 'Emily Davis'`]);
  srv = await startServer({ dir: first.dir, demo: false });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  srv?.cleanup();
});

// Clicks a choice card the way a person does: on the card (the label around the radio).
async function pick(page, name) {
  await page.locator('label', { has: page.getByRole('radio', { name }) }).click();
  assert.equal(await page.getByRole('radio', { name }).isChecked(), true);
}

async function toStep3(page) {
  await login(page, srv.url, 'alex@demo.test');
  await page.getByRole('button', { name: 'Start a session' }).click();
  await pick(page, '2020 Tesla Model 3');
  await page.getByRole('button', { name: 'Next' }).click();
  await pick(page, /^Standard Video/);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('radio', { name: /^First Available/ }).waitFor();
  await page.locator('#mechanic-group .mech-name').first().waitFor();
  await page.locator('body[data-presence="live"]').waitFor(); // the snapshot has been applied
}

const radioNames = (page) => page.locator('#mechanic-group input[name="mechanic"]').evaluateAll(
  (inputs) => inputs.map((i) => i.closest('label').querySelector('.mech-name, .title').textContent.trim()));

test('step 3 shows the selection, and John goes green and first live', async () => {
  const customer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const mechanic = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await customer.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('dialog', (d) => { errors.push(new Error(`dialog: ${d.message()}`)); d.dismiss(); });

  await toStep3(page);
  assert.equal(await page.getByRole('radio', { name: /^First Available/ }).isChecked(), true);
  assert.equal(await page.getByRole('radio', { name: /^Standard/ }).isChecked(), true);
  await page.getByText('$29.99').first().waitFor();
  await page.getByText('$39.99').first().waitFor();
  // everybody is offline: the top 3 of Toronto by rating
  assert.deepEqual((await radioNames(page)).slice(1), ['John Smith', 'Sarah Johnson', 'Maria Garcia']);
  await page.getByRole('button', { name: 'View all (5 available)' }).waitFor();
  await page.getByText('0 mechanics available now in Toronto').waitFor();
  const john = page.getByRole('radio', { name: /^John Smith/ });
  assert.match(await john.evaluate((i) => i.closest('label').textContent), /Offline/);
  // a join estimate is only promised for mechanics who are online
  assert.doesNotMatch(await john.evaluate((i) => i.closest('label').textContent), /Usually joins/);

  // Sarah goes online in another browser: she moves above John, within a second
  const mpage = await mechanic.newPage();
  await login(mpage, srv.url, 'sarah.johnson@demo.test');
  await mpage.getByRole('switch', { name: 'Available for sessions' }).click();
  await mpage.locator('#own-status', { hasText: 'You are online' }).waitFor();
  const t0 = Date.now();
  await page.waitForFunction(() => {
    const first = document.querySelectorAll('#mechanic-group .mech-name')[0];
    return first && first.textContent === 'Sarah Johnson';
  }, null, { timeout: 3000 });
  assert.ok(Date.now() - t0 < 1500, 'the change shows within about a second');
  const sarah = page.getByRole('radio', { name: /^Sarah Johnson/ });
  assert.match(await sarah.evaluate((i) => i.closest('label').textContent), /Available now/);
  const dotColour = await sarah.evaluate((i) => getComputedStyle(i.closest('label').querySelector('.dot')).backgroundColor);
  assert.equal(dotColour, 'rgb(74, 222, 128)'); // green-400
  await page.getByText('1 mechanic available now in Toronto').waitFor();
  await page.waitForFunction(() => document.getElementById('live').textContent === 'Sarah Johnson is available now.');
  await page.screenshot({ path: join(SHOTS, 'step3-1280.png'), fullPage: true });
  assert.deepEqual(await seriousViolations(page), []);

  // and back offline: she drops below John again
  await mpage.getByRole('switch', { name: 'Available for sessions' }).click();
  await mpage.locator('#own-status', { hasText: 'You are offline' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#mechanic-group .mech-name')[0]?.textContent === 'John Smith');
  await page.getByText('0 mechanics available now in Toronto').waitFor();

  // pick John and launch: the intake URL and banner
  await pick(page, /^John Smith/);
  await page.getByRole('button', { name: 'Launch session' }).click();
  await page.waitForURL(/\/intake\?/);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('plan'), 'video');
  assert.equal(url.searchParams.get('specialist'), 'false');
  assert.ok(url.searchParams.get('vehicle_id'));
  assert.ok(url.searchParams.get('preferred_mechanic_id'));
  assert.equal(url.searchParams.get('routing_type'), 'priority_broadcast');
  const banner = page.locator('#mechanic-selected');
  await banner.getByText('Mechanic selected').waitFor();
  assert.match(await banner.textContent(), /John Smith is offline right now\. They get your request first, with 10-minute priority, if they come online in time\./);
  await page.screenshot({ path: join(SHOTS, 'intake-1280.png'), fullPage: true });
  assert.deepEqual(await seriousViolations(page), []);
  assert.deepEqual(errors, []);
  await customer.close();
  await mechanic.close();
});

test('the specialist toggle filters to the vehicle make', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await toStep3(page);
  await pick(page, /^Brand Specialist/);
  await page.waitForFunction(() => document.querySelectorAll('#mechanic-group .mech-name').length === 2);
  assert.deepEqual((await radioNames(page)).slice(1), ['John Smith', 'David Kim']);
  await pick(page, /^Standard/);
  await page.waitForFunction(() => document.querySelectorAll('#mechanic-group .mech-name').length === 3);
  await ctx.close();
});

test('server text is shown as text, never run', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  let alerted = false;
  page.on('dialog', (d) => { alerted = true; d.dismiss(); });
  await toStep3(page);
  await page.getByRole('button', { name: /^View all/ }).click();
  const hostile = page.getByRole('radio', { name: new RegExp(`^${XSS.replace(/[()]/g, '\\$&')}`) });
  await hostile.waitFor();
  assert.equal(await page.locator('#mechanic-group img[src="x"]').count(), 0);
  assert.equal(alerted, false);
  await ctx.close();
});

test('a mechanic can be chosen with the keyboard only', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await toStep3(page);
  await page.getByRole('radio', { name: /^First Available/ }).focus();
  await page.keyboard.press('ArrowDown'); // the radio group moves with arrow keys
  assert.equal(await page.getByRole('radio', { name: /^John Smith/ }).isChecked(), true);
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.getByRole('radio', { name: /^Sarah Johnson/ }).isChecked(), true);
  const focusVisible = await page.evaluate(() => {
    const label = document.activeElement.closest('label');
    return getComputedStyle(label).outlineStyle !== 'none';
  });
  assert.ok(focusVisible, 'the focused card shows a focus ring');
  await page.screenshot({ path: join(SHOTS, 'step3-390.png'), fullPage: true });
  // Tab on to the launch button and press Enter
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.textContent === 'Launch session')) break;
  }
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/intake\?/);
  assert.equal(new URL(page.url()).searchParams.get('routing_type'), 'priority_broadcast');
  await page.locator('#mechanic-selected').getByText('Sarah Johnson').waitFor();
  await page.screenshot({ path: join(SHOTS, 'intake-390.png'), fullPage: true });
  await ctx.close();
});

test('a mechanic who becomes busy leaves the list live, and comes back when the session ends', async () => {
  const { Client, loggedIn } = await import('../integration/helpers.mjs');
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await toStep3(page);
  // David Kim (Toronto) goes online and takes another customer's free broadcast request
  const david = await loggedIn(srv.url, 'david.kim@demo.test');
  assert.equal((await david.post('/api/mechanic/presence', { status: 'online' })).status, 200);
  await page.waitForFunction(() => document.querySelectorAll('#mechanic-group .mech-name')[0]?.textContent === 'David Kim');
  const other = new Client(srv.url);
  const reg = await other.post('/api/auth/register', { email: `busy-${Date.now()}@example.test`, password: 'a-long-password', name: 'Bea Other', city: 'Toronto' });
  assert.equal(reg.status, 201);
  other.csrf = reg.json.csrf_token;
  const car = await other.post('/api/vehicles', { year: 2019, make: 'Ford', model: 'Focus' });
  const booked = await other.post('/api/sessions', {
    vehicle_id: car.json.id, plan: 'free', is_specialist: false, preferred_mechanic_id: null, routing_type: 'broadcast',
    intake: { concern: 'Check engine light is on since yesterday', symptoms: [], urgency: 'low' },
    waiver_accepted: true, payment_method: 'free',
  });
  assert.equal(booked.status, 201);
  assert.equal((await david.post(`/api/sessions/${booked.json.id}/accept`)).status, 200);
  await page.waitForFunction(() => ![...document.querySelectorAll('#mechanic-group .mech-name')].some((n) => n.textContent === 'David Kim'));
  await page.waitForFunction(() => document.getElementById('live').textContent === 'David Kim is now busy.');
  // the session ends: David is online again and returns to the list
  assert.equal((await david.post(`/api/sessions/${booked.json.id}/end`, { outcome: 'resolved' })).status, 200);
  await page.waitForFunction(() => document.querySelectorAll('#mechanic-group .mech-name')[0]?.textContent === 'David Kim',
    null, { timeout: 5000 });
  await david.post('/api/mechanic/presence', { status: 'offline' });
  await ctx.close();
});
