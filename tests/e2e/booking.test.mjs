// The whole journey of the booking issue in the browser, customer and mechanic side by side:
// wizard → intake → waiver → payment → waiting room → the mechanic's offer → accept → end
// with an outcome → the customer's one question; and the fallback when the preferred
// mechanic declines. Screenshots of the waiting room and the mechanic dashboard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer } from '../integration/helpers.mjs';
import { startStripeStandin } from '../integration/stripe-standin.mjs';
import { launch, login, seriousViolations, SHOTS } from './browser.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await srv?.stop(); srv?.cleanup(); });

async function pick(page, name) {
  await page.locator('label', { has: page.getByRole('radio', { name }) }).click();
}

async function mechanicOnline(ctx, email) {
  const page = await ctx.newPage();
  await login(page, srv.url, email);
  await page.getByRole('switch', { name: 'Available for sessions' }).click();
  await page.locator('#own-status', { hasText: 'You are online' }).waitFor();
  return page;
}

async function book(page, { vehicle, plan, mechanic, payment }) {
  await login(page, srv.url, 'alex@demo.test');
  await page.getByRole('button', { name: 'Start a session' }).click();
  await pick(page, vehicle);
  await page.getByRole('button', { name: 'Next' }).click();
  await pick(page, plan);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('body[data-presence="live"]').waitFor();
  if (mechanic) await pick(page, mechanic);
  await page.getByRole('button', { name: 'Launch session' }).click();
  await page.waitForURL(/\/intake\?/);
  await page.getByLabel('What is the problem?').fill('The brakes grind when I stop at low speed.');
  await page.getByLabel('Strange noise').check();
  await page.getByRole('button', { name: 'Continue to waiver' }).click();
  await page.waitForURL(/\/waiver\?/);
  await page.getByLabel('I have read and accept the waiver').check();
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await page.waitForURL(/\/payment\?/);
  if (payment) await pick(page, payment);
  await page.getByRole('button', { name: /find my mechanic/i }).click();
  await page.waitForURL(/\/waiting\?session=/);
}

test('free session with John: priority offer, accept, end, rating', async () => {
  const mctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const john = await mechanicOnline(mctx, 'john.smith@demo.test');
  const cctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await cctx.newPage();
  await book(page, { vehicle: '2020 Tesla Model 3', plan: /^Free Session/, mechanic: /^John Smith/, payment: /^Free session/ });

  await page.getByRole('heading', { name: 'Finding your mechanic' }).waitFor();
  await page.getByRole('button', { name: 'Connect me with the first available mechanic' }).waitFor();
  assert.match(await page.getByRole('timer').first().textContent(), /^(10:00|9:5\d)$/);
  await page.locator('#status-text', { hasText: 'John Smith is online and has your request.' }).waitFor();
  await page.screenshot({ path: join(SHOTS, 'waiting-1280.png'), fullPage: true });
  assert.deepEqual(await seriousViolations(page), []);

  // John sees the priority offer live and accepts it
  const offer = john.locator('li.offer', { hasText: 'Priority offer' });
  await offer.waitFor({ timeout: 5000 });
  assert.match(await offer.textContent(), /Alex · 2020 Tesla Model 3/);
  await john.screenshot({ path: join(SHOTS, 'mechanic-offer-1280.png'), fullPage: true });
  assert.deepEqual(await seriousViolations(john), []);
  await offer.getByRole('button', { name: 'Accept' }).click();
  await john.getByRole('heading', { name: 'Session in progress' }).waitFor();
  await john.locator('#own-status', { hasText: 'You are in a session' }).waitFor();

  await page.getByRole('heading', { name: 'Your mechanic is ready' }).waitFor();
  assert.match(await page.locator('#assigned').textContent(), /John Smith/);

  // John ends it with an outcome; the customer is asked once
  await pick(john, /^Resolved/);
  await john.getByLabel('Notes (optional)').fill('Worn pads; told the customer.');
  await john.getByRole('button', { name: 'End session' }).click();
  await john.locator('#own-status', { hasText: 'You are online' }).waitFor();
  await john.locator('#recent', { hasText: 'Resolved' }).waitFor();

  await page.getByRole('heading', { name: 'Session ended' }).waitFor();
  await pick(page, /^9$/);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('p.notice', { hasText: 'Thank you for your answer.' }).waitFor();
  await cctx.close();
  await mctx.close();
});

test('credits with Maria who declines: the request falls back to the broadcast', async () => {
  const mctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const maria = await mechanicOnline(mctx, 'maria.garcia@demo.test');
  const sctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const sarah = await mechanicOnline(sctx, 'sarah.johnson@demo.test');
  const cctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await cctx.newPage();
  await book(page, { vehicle: '2017 Honda Civic', plan: /^Standard Video/, mechanic: /^Maria Garcia/, payment: /^Credits/ });

  const offer = maria.locator('li.offer', { hasText: 'Priority offer' });
  await offer.waitFor({ timeout: 5000 });
  await maria.screenshot({ path: join(SHOTS, 'mechanic-offer-390.png'), fullPage: true });
  await offer.getByRole('button', { name: 'Decline' }).click();

  await page.locator('#routing-log').getByText("Maria Garcia can't take it; offering it to the next best matches.").waitFor();
  await page.locator('#routing-log').getByText(/Offered to \d+ mechanic/).waitFor();
  await page.screenshot({ path: join(SHOTS, 'waiting-390.png'), fullPage: true });
  assert.deepEqual(await seriousViolations(page), []);
  // Maria declined: she is not offered it again; Sarah is
  await maria.waitForTimeout(500);
  assert.equal(await maria.locator('li.offer').count(), 0);
  const open = sarah.locator('li.offer', { hasText: 'Open request' });
  await open.waitFor({ timeout: 5000 });
  await open.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: 'Your mechanic is ready' }).waitFor();
  assert.match(await page.locator('#assigned').textContent(), /Sarah Johnson/);
  await sarah.getByRole('button', { name: 'End session' }).click(); // one live request per customer
  await page.getByRole('heading', { name: 'Session ended' }).waitFor();
  await cctx.close();
  await sctx.close();
  await mctx.close();
});

test('card through the Stripe stand-in: checkout, webhook, routing, accept', async () => {
  const standin = await startStripeStandin({ key: 'sk_test_browser' });
  const card = await startServer({ args: ['--stripe-secret-key', 'sk_test_browser', '--stripe-webhook-secret', 'whsec_browser',
    '--stripe-api-base', standin.url] });
  standin.webhookTarget = { base: card.url, secret: 'whsec_browser' };
  const saved = srv;
  srv = card; // book() and mechanicOnline() talk to srv
  try {
    const mctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const mike = await mechanicOnline(mctx, 'mike.chen@demo.test');
    const cctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await cctx.newPage();
    await login(page, srv.url, 'alex@demo.test');
    await page.getByRole('button', { name: 'Start a session' }).click();
    await pick(page, '2017 Honda Civic');
    await page.getByRole('button', { name: 'Next' }).click();
    await pick(page, /^Full Diagnostic/);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.locator('body[data-presence="live"]').waitFor();
    await page.getByRole('button', { name: 'Launch session' }).click();
    await page.getByLabel('What is the problem?').fill('Battery light comes on after a cold start.');
    await page.getByRole('button', { name: 'Continue to waiver' }).click();
    await page.getByLabel('I have read and accept the waiver').check();
    await page.getByRole('button', { name: 'Continue to payment' }).click();
    await pick(page, /^Card/);
    await page.getByRole('button', { name: /find my mechanic/i }).click();
    // the stand-in's hosted page; paying sends the signed webhook and comes back
    await page.waitForURL(new RegExp(`^${standin.url}/checkout/`));
    assert.equal(standin.requests.at(-1).form['line_items[0][price_data][unit_amount]'], '4999');
    await page.getByRole('button', { name: 'Pay' }).click();
    await page.waitForURL(/\/waiting\?session=/);
    await page.getByText('Your request was offered to 1 mechanic who is online now.', { exact: false }).waitFor({ timeout: 10000 });
    const offer = mike.locator('li.offer', { hasText: 'Open request' });
    await offer.waitFor({ timeout: 5000 });
    await offer.getByRole('button', { name: 'Accept' }).click();
    await page.getByRole('heading', { name: 'Your mechanic is ready' }).waitFor();
    assert.match(await page.locator('#assigned').textContent(), /Mike Chen/);
    await cctx.close();
    await mctx.close();
  } finally {
    srv = saved;
    await card.stop();
    card.cleanup();
    await standin.close();
  }
});

test('without Stripe keys the card option is shown disabled with the reason', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await login(page, srv.url, 'alex@demo.test');
  await page.goto(`${srv.url}/wizard`);
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('body[data-presence="live"]').waitFor();
  await page.getByRole('button', { name: 'Launch session' }).click();
  await page.getByLabel('What is the problem?').fill('A rattle from the rear at highway speed.');
  await page.getByRole('button', { name: 'Continue to waiver' }).click();
  await page.getByLabel('I have read and accept the waiver').check();
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  const card = page.getByRole('radio', { name: /^Card/ });
  await card.waitFor();
  assert.equal(await card.isDisabled(), true);
  assert.match(await page.locator('label', { has: card }).textContent(), /Card payments are not configured on this server/);
  await ctx.close();
});
