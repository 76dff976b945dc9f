// Card payments through Stripe Checkout and the Stripe webhook (SPEC §4.5, §4.7), against a
// local stand-in for Stripe (stripe-standin.mjs). Never contacts the real Stripe.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startServer, loggedIn, openStream, getJson, isErrorShape, sleep, eventually } from './helpers.mjs';
import { startStripeStandin, checkoutCompleted, stripeEvent, sendWebhook, signStripe } from './stripe-standin.mjs';

const KEY = 'sk_test_x';
const WHSEC = 'whsec_x';

const started = [];
let standin, srv, alex, vehicleId;

before(async () => {
  standin = await startStripeStandin({ key: KEY });
  srv = await startServer({
    args: ['--stripe-secret-key', KEY, '--stripe-webhook-secret', WHSEC, '--stripe-api-base', standin.url],
  });
  started.push(srv);
  alex = await loggedIn(srv.url, 'alex@demo.test');
  const v = await alex.get('/api/vehicles');
  assert.equal(v.status, 200);
  vehicleId = v.json.vehicles[0].id;
});

// Every server is stopped (a clean exit is asserted: no sanitizer report), and killed if that
// failed, so that one crash never leaves another server running and the file hanging.
after(async () => {
  let failure = null;
  for (const s of started) {
    try { await s.stop(); } catch (e) { failure = failure || e; await s.kill(); }
    s.cleanup();
  }
  if (standin) await standin.close();
  if (failure) throw failure;
});

function sessionBody(over = {}) {
  return {
    vehicle_id: vehicleId,
    plan: 'video',
    is_specialist: false,
    preferred_mechanic_id: null,
    routing_type: 'broadcast',
    intake: { concern: 'The car makes a grinding noise when braking', symptoms: ['Strange noise'], urgency: 'medium' },
    waiver_accepted: true,
    payment_method: 'card',
    ...over,
  };
}

async function me(client) {
  const r = await client.get('/api/me');
  assert.equal(r.status, 200);
  return r.json;
}

async function getSession(client, id) {
  const r = await client.get(`/api/sessions/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// One live request per customer: the sessions an earlier test left awaiting payment (or
// routing) are cancelled before the next booking.
async function clearLive(client) {
  const list = (await client.get('/api/sessions')).json.sessions;
  for (const x of list.filter((y) => ['awaiting_payment', 'priority', 'broadcast'].includes(y.state))) {
    const c = await client.post(`/api/sessions/${x.id}/cancel`, {});
    assert.equal(c.status, 200, c.text);
  }
}

// Creates a card session; returns { session, checkout } (checkout = the stand-in's object).
async function cardSession(client, over) {
  await clearLive(client);
  const r = await client.post('/api/sessions', sessionBody(over));
  assert.equal(r.status, 201, r.text);
  const reqs = standin.requestsFor(r.json.id);
  assert.equal(reqs.length, 1, 'one Checkout request for the session');
  const cs = [...standin.sessions.values()].find((s) => s.client_reference_id === r.json.id);
  assert.ok(cs, 'the stand-in made a checkout session');
  return { session: r.json, checkout: cs, request: reqs[0] };
}

// ---- configuration ----

test('GET /api/payments/config says card is enabled when a key is configured', async () => {
  const r = await getJson(`${srv.url}/api/payments/config`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { card_enabled: true, card_disabled_reason: null });
});

test('without keys: card → 400 card_unavailable, no session, credits untouched, config says why', async () => {
  const bare = await startServer();
  started.push(bare);
  const cfg = await getJson(`${bare.url}/api/payments/config`);
  assert.equal(cfg.status, 200);
  assert.equal(cfg.json.card_enabled, false);
  assert.equal(cfg.json.card_disabled_reason, 'Card payments are not configured on this server.');

  const a = await loggedIn(bare.url, 'alex@demo.test');
  const before_ = await me(a);
  const vehicles = await a.get('/api/vehicles');
  const r = await a.post('/api/sessions', sessionBody({ vehicle_id: vehicles.json.vehicles[0].id }));
  assert.equal(r.status, 400, r.text);
  assert.ok(isErrorShape(r.json, 'card_unavailable'), r.text);
  const list = await a.get('/api/sessions');
  assert.equal(list.status, 200);
  assert.equal(list.json.sessions.length, 0, 'no session was created');
  const after_ = await me(a);
  assert.equal(after_.credit_balance_cents, before_.credit_balance_cents);
  assert.equal(after_.free_session_used, before_.free_session_used);

  // and a webhook has nothing to verify against
  const ev = stripeEvent('checkout.session.completed', { client_reference_id: randomUUID() });
  const w = await sendWebhook(bare.url, ev, { secret: WHSEC });
  assert.equal(w.status, 400);
  assert.ok(isErrorShape(w.json, 'bad_signature'), w.text);
});

// ---- Checkout ----

test('card with keys → 201 awaiting_payment with the stand-in\'s checkout_url; Stripe got the right request', async () => {
  const credits = (await me(alex)).credit_balance_cents;
  const { session, checkout, request } = await cardSession(alex);
  assert.equal(session.state, 'awaiting_payment');
  assert.equal(session.payment.method, 'card');
  assert.equal(session.payment.status, 'pending');
  assert.equal(session.payment.amount_cents, 2999);
  assert.equal(session.price_cents, 2999);
  assert.equal(session.checkout_url, checkout.url);
  assert.match(session.checkout_url, new RegExp(`^http://127\\.0\\.0\\.1:${standin.port}/checkout/cs_test_`));

  assert.equal(request.headers.authorization, `Bearer ${KEY}`);
  assert.match(request.headers['content-type'], /application\/x-www-form-urlencoded/);
  const f = request.form;
  assert.equal(f.mode, 'payment');
  assert.equal(f.client_reference_id, session.id);
  assert.equal(f['line_items[0][price_data][currency]'], 'cad');
  assert.equal(f['line_items[0][price_data][unit_amount]'], '2999');
  assert.equal(f['line_items[0][quantity]'], '1');
  assert.match(f['line_items[0][price_data][product_data][name]'], /Standard Video.*Standard/);
  assert.equal(f.success_url, `${srv.url}/waiting?session=${session.id}`);
  assert.equal(f.cancel_url, `${srv.url}/waiting?session=${session.id}&checkout=cancelled`);
  assert.equal(f['metadata[pitwall_session_id]'], session.id);
  assert.equal((await me(alex)).credit_balance_cents, credits, 'card does not touch credits');

  // the session object keeps the checkout_url while unpaid
  const again = await getSession(alex, session.id);
  assert.equal(again.checkout_url, checkout.url);
});

test('a brand specialist session is charged the specialist price', async () => {
  const { session, request } = await cardSession(alex, { is_specialist: true });
  assert.equal(session.price_cents, 3999);
  assert.equal(request.form['line_items[0][price_data][unit_amount]'], '3999');
  assert.match(request.form['line_items[0][price_data][product_data][name]'], /Brand Specialist/);
});

// ---- webhook: refusals ----

test('a missing or bad signature → 400 bad_signature and the session stays awaiting_payment', async () => {
  const { session, checkout } = await cardSession(alex);
  const ev = checkoutCompleted(checkout);
  const body = JSON.stringify(ev);
  const now = Math.floor(Date.now() / 1000);
  const bad = [
    { header: null },                                           // no header
    { header: '' },
    { secret: 'whsec_wrong' },                                  // another secret
    { header: `t=${now},v1=${'0'.repeat(64)}` },                // wrong signature
    { header: signStripe(body, WHSEC, now).replace('v1=', 'v0=') }, // v0 only
    { header: `t=${now}` },                                     // no v1
    { header: signStripe(body, WHSEC, now).replace(`t=${now},`, '') }, // no t
    { header: signStripe(body, WHSEC, now), body: body.replace('"paid"', '"PAID"') }, // tampered
    { header: 'garbage' },
  ];
  for (const opts of bad) {
    const w = await sendWebhook(srv.url, ev, opts);
    assert.equal(w.status, 400, `${JSON.stringify(opts).slice(0, 80)}: ${w.text}`);
    assert.ok(isErrorShape(w.json, 'bad_signature'), w.text);
  }
  const s = await getSession(alex, session.id);
  assert.equal(s.state, 'awaiting_payment');
  assert.equal(s.checkout_url, checkout.url);
  // none of them were recorded: the same event, properly signed, still works
  const ok = await sendWebhook(srv.url, ev);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { received: true });
  assert.notEqual((await getSession(alex, session.id)).state, 'awaiting_payment');
});

test('a stale (or too far future) timestamp → 400; one within 300 s is accepted', async () => {
  const { session, checkout } = await cardSession(alex);
  const ev = checkoutCompleted(checkout);
  const now = Math.floor(Date.now() / 1000);
  for (const t of [now - 301 - 5, now + 301 + 5, now - 3600]) {
    const w = await sendWebhook(srv.url, ev, { t });
    assert.equal(w.status, 400, `t = now ${t - now}: ${w.text}`);
    assert.ok(isErrorShape(w.json, 'bad_signature'));
  }
  assert.equal((await getSession(alex, session.id)).state, 'awaiting_payment');
  const w = await sendWebhook(srv.url, ev, { t: now - 280 });
  assert.equal(w.status, 200, w.text);
  assert.equal((await getSession(alex, session.id)).state, 'broadcast');
});

// ---- webhook: effects ----

test('checkout.session.completed starts broadcast routing once, however often it is delivered', async () => {
  const { session, checkout } = await cardSession(alex);
  const stream = await openStream(srv.url, `/api/sessions/${session.id}/stream`, { Cookie: alex.cookieHeader() });
  assert.equal(stream.status, 200);
  const [snap] = await stream.waitFor(1);
  assert.equal(snap.event, 'snapshot');
  assert.equal(snap.json.state, 'awaiting_payment');

  const ev = checkoutCompleted(checkout);
  const first = await sendWebhook(srv.url, ev);
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(first.json, { received: true });
  const s = await getSession(alex, session.id);
  assert.equal(s.state, 'broadcast');
  assert.equal(s.checkout_url, null, 'checkout_url is null once paid');
  assert.equal(s.payment.status, 'paid');
  await stream.waitForEvent((e) => e.event === 'routing' && e.json.step === 'broadcast');

  // the same event again: acknowledged as a duplicate, no effect
  const again = await sendWebhook(srv.url, ev);
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(again.json, { received: true, duplicate: true });
  // a distinct event about the same checkout (Stripe can send several): no second routing
  const other = await sendWebhook(srv.url, checkoutCompleted(checkout));
  assert.equal(other.status, 200, other.text);
  assert.deepEqual(other.json, { received: true });
  const async_ = await sendWebhook(srv.url, stripeEvent('checkout.session.async_payment_succeeded',
    { ...checkout, status: 'complete', payment_status: 'paid' }));
  assert.equal(async_.status, 200, async_.text);

  await sleep(300);
  const routing = stream.events.filter((e) => e.event === 'routing');
  assert.deepEqual(routing.map((e) => e.json.step), ['broadcast'], JSON.stringify(routing.map((e) => e.json)));
  const later = await getSession(alex, session.id);
  assert.equal(later.state, 'broadcast');
  assert.equal(later.created_at, s.created_at);
  stream.close();
});

test('with a preferred mechanic the paid session goes to priority, and the mechanic gets one offer', async () => {
  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  const on = await john.post('/api/mechanic/presence', { status: 'online' });
  assert.equal(on.status, 200, on.text);
  const offers = await openStream(srv.url, '/api/mechanic/stream', { Cookie: john.cookieHeader() });
  assert.equal(offers.status, 200);
  const { session, checkout } = await cardSession(alex, {
    preferred_mechanic_id: john.me.mechanic_id, routing_type: 'priority_broadcast',
  });
  assert.equal(session.state, 'awaiting_payment');
  assert.equal(session.routing_type, 'priority_broadcast');

  const ev = checkoutCompleted(checkout);
  for (let i = 0; i < 3; i++) {
    const w = await sendWebhook(srv.url, ev);
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.duplicate === true, i > 0);
  }
  const s = await getSession(alex, session.id);
  assert.equal(s.state, 'priority');
  assert.equal(s.checkout_url, null);
  await offers.waitForEvent((e) => e.event === 'offer' && e.json.session_id === session.id);
  await sleep(300);
  const mine = offers.events.filter((e) => e.event === 'offer' && e.json.session_id === session.id);
  assert.equal(mine.length, 1, 'exactly one offer');
  assert.equal(mine[0].json.kind, 'priority');
  offers.close();
  // leave john free for later tests
  const cancel = await alex.post(`/api/sessions/${session.id}/cancel`, {});
  assert.equal(cancel.status, 200, cancel.text);
  await john.post('/api/mechanic/presence', { status: 'offline' });
});

test('a verified event for an unknown session, or of a type pitwall ignores → 200 and no effect', async () => {
  const { session, checkout } = await cardSession(alex);
  const unknown = await sendWebhook(srv.url, checkoutCompleted({ ...checkout, client_reference_id: randomUUID(),
    metadata: {} }));
  assert.equal(unknown.status, 200, unknown.text);
  assert.deepEqual(unknown.json, { received: true });
  const notOurs = await sendWebhook(srv.url, checkoutCompleted({ ...checkout, client_reference_id: null, metadata: {} }));
  assert.equal(notOurs.status, 200, notOurs.text);
  for (const type of ['checkout.session.expired', 'payment_intent.succeeded', 'charge.refunded', 'customer.created']) {
    const w = await sendWebhook(srv.url, stripeEvent(type, { ...checkout }));
    assert.equal(w.status, 200, `${type}: ${w.text}`);
    assert.deepEqual(w.json, { received: true });
  }
  // completed but not paid yet (a delayed payment method): wait for async_payment_succeeded
  const unpaid = await sendWebhook(srv.url, stripeEvent('checkout.session.completed',
    { ...checkout, status: 'complete', payment_status: 'unpaid' }));
  assert.equal(unpaid.status, 200, unpaid.text);
  const s = await getSession(alex, session.id);
  assert.equal(s.state, 'awaiting_payment');
  assert.equal(s.checkout_url, checkout.url);
});

test('a payment for a session that was cancelled unpaid comes back as credits, once', async () => {
  const { session, checkout } = await cardSession(alex);
  const cancel = await alex.post(`/api/sessions/${session.id}/cancel`, {});
  assert.equal(cancel.status, 200, cancel.text);
  assert.equal(cancel.json.state, 'cancelled');
  const credits = (await me(alex)).credit_balance_cents;
  assert.equal(cancel.json.payment.status, 'pending', 'nothing was paid, nothing refunded');

  // the Checkout page outlived the request: the customer paid anyway
  const w = await sendWebhook(srv.url, checkoutCompleted(checkout));
  assert.equal(w.status, 200, w.text);
  const s = await getSession(alex, session.id);
  assert.equal(s.state, 'cancelled');
  assert.equal(s.payment.status, 'refunded');
  assert.equal((await me(alex)).credit_balance_cents, credits + 2999);
  // again, and another event about it: no second credit
  await sendWebhook(srv.url, checkoutCompleted(checkout));
  await sendWebhook(srv.url, stripeEvent('checkout.session.async_payment_succeeded', { ...checkout, payment_status: 'paid' }));
  assert.equal((await me(alex)).credit_balance_cents, credits + 2999);
});

test('malformed but signed events → 400, not recorded', async () => {
  for (const body of ['not json', '[]', '{"type":"checkout.session.completed"}', '{"id":"evt_1"}', '{"id":"","type":"x"}']) {
    const w = await sendWebhook(srv.url, null, { body });
    assert.equal(w.status, 400, `${body}: ${w.text}`);
    assert.ok(isErrorShape(w.json), w.text);
  }
});

// ---- the provider failing ----

async function expectProviderFailure(mode, timeoutMs = 5000) {
  await clearLive(alex);
  const credits = (await me(alex)).credit_balance_cents;
  const before_ = (await alex.get('/api/sessions')).json.sessions.length;
  standin.mode = mode;
  try {
    const t0 = Date.now();
    const pending = alex.post('/api/sessions', sessionBody());
    if (mode === 'hang') {
      // the event loop keeps serving while the checkout call waits on a worker
      await sleep(500);
      const h = await getJson(`${srv.url}/healthz`);
      assert.equal(h.status, 200);
      const d = await getJson(`${srv.url}/api/mechanics/available`);
      assert.equal(d.status, 200);
      assert.ok(Date.now() - t0 < 3000, 'answered while Stripe hangs');
    }
    const r = await pending;
    assert.equal(r.status, 502, r.text);
    assert.ok(isErrorShape(r.json, 'payment_provider'), r.text);
    assert.ok(Date.now() - t0 < timeoutMs, `answered in ${Date.now() - t0} ms`);
  } finally {
    standin.mode = 'ok';
  }
  const list = (await alex.get('/api/sessions')).json.sessions;
  assert.equal(list.length, before_ + 1, 'the session was stored, then cancelled');
  const newest = list[0];
  assert.equal(newest.state, 'cancelled');
  assert.equal(newest.payment.method, 'card');
  assert.notEqual(newest.payment.status, 'paid');
  assert.notEqual(newest.payment.status, 'refunded');
  assert.equal(newest.checkout_url, null);
  assert.equal((await me(alex)).credit_balance_cents, credits, 'nothing charged, nothing credited');
  return newest;
}

test('the stand-in answering 500 → 502 payment_provider and the session ends up cancelled', async () => {
  await expectProviderFailure('fail');
});

test('an answer that is not JSON, or has no url → 502 and cancelled', async () => {
  await expectProviderFailure('garbage');
  await expectProviderFailure('no_url');
});

test('a wrong secret key (Stripe answers 401) → 502 and cancelled', async () => {
  standin.key = 'sk_test_other';
  try {
    await expectProviderFailure('ok');
  } finally {
    standin.key = KEY;
  }
});

test('a hanging Stripe times out after 15 s → 502 and cancelled, the server serving meanwhile', { timeout: 30000 }, async () => {
  await expectProviderFailure('hang', 20000);
});

test('card works again after the failures', async () => {
  const { session } = await cardSession(alex);
  assert.equal(session.state, 'awaiting_payment');
  await eventually(async () => (await getSession(alex, session.id)).checkout_url, 2000);
});

test('SIGTERM while a Stripe call hangs: the call gives up, the process exits 0 in the drain time, the session is cancelled', async () => {
  const dir = srv.dir;
  const own = await startServer({
    dir, demo: false,
    args: ['--stripe-secret-key', KEY, '--stripe-webhook-secret', WHSEC, '--stripe-api-base', standin.url],
  });
  const c = await loggedIn(own.url, 'alex@demo.test');
  await clearLive(c);
  standin.mode = 'hang';
  try {
    const pending = c.post('/api/sessions', sessionBody()).catch((e) => ({ status: 0, error: e }));
    await sleep(500); // the call is waiting on Stripe
    const t0 = Date.now();
    await own.stop(); // SIGTERM; throws unless exit 0 with no sanitizer report
    const elapsed = Date.now() - t0;
    console.log(`# SIGTERM with a Stripe call hanging: exit after ${elapsed} ms`);
    assert.ok(elapsed < 8000, `exited after ${elapsed} ms, not after Stripe's 15 s timeout`);
    const r = await pending;
    assert.ok(r.status === 502 || r.status === 0, `the booking got ${r.status}`);
  } finally {
    standin.mode = 'ok';
  }
  // nothing half-written: the session the call was for is cancelled, not left awaiting payment
  const list = (await alex.get('/api/sessions')).json.sessions;
  assert.equal(list[0].payment.method, 'card');
  assert.equal(list[0].state, 'cancelled');
});
