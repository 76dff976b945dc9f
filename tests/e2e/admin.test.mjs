// The operator's page in a real browser: the metrics of a small history made through the
// API, drawn as charts (canvases with pixels on them) with the numbers beside them, the
// rollout control taking effect on a customer's next wizard, mechanic approval; axe-core and
// screenshots at 390 and 1280 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, loggedIn } from '../integration/helpers.mjs';
import { bookOk, setPresence, vehiclesOf } from '../integration/booking_helpers.mjs';
import { launch, login, seriousViolations, SHOTS } from './browser.mjs';

let srv, browser;

async function ok(p, what) {
  const r = await p;
  assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text}`);
  return r.json;
}

before(async () => {
  srv = await startServer();
  browser = await launch();
  // a small history: one session with a chosen mechanic, one first available
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  await setPresence(john, 'online');
  const [car] = await vehiclesOf(alex);
  let s = await bookOk(alex, car.id, { routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id });
  await ok(john.post(`/api/sessions/${s.id}/accept`, {}), 'accept');
  await ok(john.post(`/api/sessions/${s.id}/end`, { outcome: 'resolved' }), 'end');
  await ok(alex.post(`/api/sessions/${s.id}/rating`, { score: 10 }), 'rating');
  s = await bookOk(alex, car.id, {});
  await ok(john.post(`/api/sessions/${s.id}/accept`, {}), 'accept');
  await ok(john.post(`/api/sessions/${s.id}/end`, { outcome: 'escalated' }), 'end');
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  srv?.cleanup();
});

async function adminPage(width) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await login(page, srv.url, 'admin@demo.test');
  assert.equal(new URL(page.url()).pathname, '/admin');
  await page.locator('body[data-ready="true"]').waitFor();
  // the charts are drawn once they come near the screen
  await page.locator('#metrics .charts').scrollIntoViewIfNeeded();
  await page.locator('#metrics[data-charts="drawn"]').waitFor();
  return { ctx, page, errors };
}

// Pixels drawn on a canvas (alpha > 0).
const paintedPixels = (page, id) => page.evaluate((sel) => {
  const c = document.querySelector(`#${sel} canvas`);
  if (!c || !c.width || !c.height) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return n;
}, id);

test('metrics are drawn and written out; the page passes axe at 390 and 1280 px', async () => {
  for (const width of [390, 1280]) {
    const { ctx, page, errors } = await adminPage(width);
    // the chart library is served from node_modules by pitwall itself
    assert.equal(await page.evaluate(() => typeof window.Chart), 'function');
    for (const id of ['chart-daily', 'chart-rates', 'chart-start']) {
      assert.ok(await paintedPixels(page, id) > 500, `${id} has something drawn at ${width}`);
    }
    // the charts hold the data
    const daily = await page.evaluate(() => window.Chart.getChart(document.querySelector('#chart-daily canvas')).data.datasets
      .map((d) => d.data.reduce((a, b) => a + b, 0)));
    assert.deepEqual(daily, [1, 1]);
    const rates = await page.evaluate(() => window.Chart.getChart(document.querySelector('#chart-rates canvas')).data.datasets
      .map((d) => d.data[0]));
    assert.deepEqual(rates, [100, 0]); // overall: the one priority offer accepted, no fallback

    // the numbers as text: summary tiles and the full table
    const summary = page.locator('#summary');
    assert.match(await summary.locator('.stat', { hasText: 'Sessions' }).innerText(), /\b2\b/);
    assert.match(await summary.locator('.stat', { hasText: 'Chose a mechanic' }).innerText(), /50\.0%/);
    assert.match(await summary.locator('.stat', { hasText: 'Priority offers accepted' }).innerText(), /100\.0%[\s\S]*1 of 1/);
    assert.match(await summary.locator('.stat', { hasText: 'Escalated' }).innerText(), /50\.0%[\s\S]*1 of 2/);
    assert.match(await summary.locator('.stat', { hasText: 'NPS' }).innerText(), /\+100\.0[\s\S]*1 answer/);
    const row = (name) => page.locator('#metrics-table tbody tr', { has: page.getByRole('rowheader', { name, exact: true }) });
    const cells = async (name) => (await row(name).locator('td').allInnerTexts()).map((t) => t.trim());
    assert.deepEqual((await cells('Sessions')).slice(1), ['2', '1', '1', '2', '0']);
    assert.equal((await cells('Fell back to broadcast'))[1], '0.0% (0/1)');
    assert.equal((await cells('Priority offers accepted'))[2], '—'); // first available has no priority offers
    assert.equal((await cells('Escalated'))[1], '50.0% (1/2)');
    assert.equal((await cells('NPS'))[5], '—'); // the control group has no answers
    assert.equal((await cells('Sessions started'))[1], '2');
    // a day table behind the line chart
    await page.getByText('Sessions per day as a table').click();
    assert.ok(await page.locator('#daily-table tbody tr').count() >= 30);

    assert.deepEqual(await seriousViolations(page), [], `admin page at ${width}`);
    await page.screenshot({ path: join(SHOTS, `admin-${width}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    await ctx.close();
  }
});

test('the window picker reloads the numbers', async () => {
  const { ctx, page } = await adminPage(1280);
  await page.getByLabel('From (UTC day)').fill('2024-01-01');
  await page.getByLabel('To (UTC day, included)').fill('2024-01-07');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.locator('#summary .stat', { hasText: '2024-01-01 – 2024-01-07' }).waitFor();
  assert.match(await page.locator('#summary .stat', { hasText: 'Sessions' }).innerText(), /\b0\b/);
  assert.equal(await page.locator('#daily-table tbody tr').count(), 7);
  // to before from: said in words, nothing requested
  await page.getByLabel('From (UTC day)').fill('2024-02-01');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByText('"From" must not be after "To".').waitFor();
  await ctx.close();
});

// Opens alex's wizard at step 3 (a fresh login each time: the rollout is read from /api/me).
async function alexStep3() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await login(page, srv.url, 'alex@demo.test');
  await page.getByRole('button', { name: 'Start a session' }).click();
  await page.locator('label', { has: page.getByRole('radio', { name: '2020 Tesla Model 3' }) }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('label', { has: page.getByRole('radio', { name: /^Standard Video/ }) }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('heading', { name: 'Choose your mechanic' }).waitFor();
  return { ctx, page };
}

async function setRolloutInPage(page, percent) {
  await page.getByLabel('Mechanic selection shown to (% of customers)').fill(String(percent));
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText(`Saved: ${percent}% of customers can choose a mechanic.`).waitFor();
}

test('the rollout control changes what a customer sees in their next wizard', async () => {
  const { ctx, page } = await adminPage(1280);
  assert.equal(await page.getByLabel('Mechanic selection shown to (% of customers)').inputValue(), '100');

  await setRolloutInPage(page, 0);
  let alex = await alexStep3();
  await alex.page.getByText('We will connect you with the first available mechanic.').waitFor();
  assert.equal(await alex.page.getByRole('radio', { name: /^First Available/ }).count(), 0);
  assert.equal(await alex.page.locator('#mechanic-list').count(), 0);
  await alex.ctx.close();

  await setRolloutInPage(page, 100);
  // the slider follows the number
  assert.equal(await page.locator('#rollout-range').inputValue(), '100');
  alex = await alexStep3();
  await alex.page.getByRole('radio', { name: /^First Available/ }).waitFor();
  await alex.page.locator('#mechanic-group .mech-name').first().waitFor();
  await alex.ctx.close();
  await ctx.close();
});

test('approving the pending mechanic lists her among the approved', async () => {
  const { ctx, page } = await adminPage(390);
  await page.getByLabel('Show mechanics who are').selectOption('pending');
  await page.locator('#mechanics').getByText('Priya Patel').waitFor();
  await page.getByRole('button', { name: 'Approve Priya Patel' }).click();
  await page.getByText('No pending mechanics.').waitFor();
  await page.getByLabel('Show mechanics who are').selectOption('approved');
  const row = page.locator('.mech-row', { hasText: 'Priya Patel' });
  await row.waitFor();
  assert.match(await row.innerText(), /approved/i);
  await row.getByRole('button', { name: 'Suspend Priya Patel' }).waitFor();
  assert.deepEqual(await seriousViolations(page), [], 'mechanic list');
  await ctx.close();
  // and the public directory now has her
  const r = await fetch(`${srv.url}/api/mechanics/available?limit=50`);
  const names = (await r.json()).mechanics.map((m) => m.name);
  assert.ok(names.includes('Priya Patel'), names.join(', '));
});
