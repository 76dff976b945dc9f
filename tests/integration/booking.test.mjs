// Booking over HTTP (SPEC §4.3, §4.5, §4.7): the payment paths, every validation rule of
// POST /api/sessions, the session object and its timestamps, and who may see or act on a
// session. Short timers: --priority-window 2 --request-ttl 6.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, isErrorShape, openStream } from './helpers.mjs';
import {
  VIDEO, VIDEO_SPECIALIST, CONCERN, sessionBody, vehicleByMake, vehiclesOf, book, bookOk,
  balanceOf, getSession, isoMs, SESSION_KEYS, setPresence, waitState,
} from './booking_helpers.mjs';

const WINDOW_S = 2;
const TTL_S = 6;
let srv, alex, john, maria, admin, priya, tesla, honda;
before(async () => {
  srv = await startServer({ args: ['--priority-window', String(WINDOW_S), '--request-ttl', String(TTL_S)] });
  alex = await loggedIn(srv.url, 'alex@demo.test');
  john = await loggedIn(srv.url, 'john.smith@demo.test');
  maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
  admin = await loggedIn(srv.url, 'admin@demo.test');
  priya = await loggedIn(srv.url, 'priya.patel@demo.test'); // pending approval
  tesla = await vehicleByMake(alex, 'Tesla');
  honda = await vehicleByMake(alex, 'Honda');
});
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

async function register(tag) {
  const c = new Client(srv.url);
  const email = `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.test`;
  const r = await c.post('/api/auth/register', { email, password: 'long-enough-pw', name: `Casey ${tag}`, city: 'Toronto' });
  assert.equal(r.status, 201, r.text);
  c.csrf = r.json.csrf_token;
  c.me = r.json.user;
  return c;
}

async function sessionCount(client) {
  const r = await client.get('/api/sessions');
  assert.equal(r.status, 200, r.text);
  return r.json.sessions.length;
}

describe('payment paths', () => {
  test('free: once per customer, then 409 free_session_used; free with a paid plan is 400', async () => {
    const c = await register('free');
    const v = await c.post('/api/vehicles', { year: 2018, make: 'Toyota', model: 'Corolla' });
    assert.equal(v.status, 201, v.text);
    const vid = v.json.id ?? v.json.vehicle?.id;
    assert.ok(vid, v.text);
    let me = (await c.get('/api/me')).json;
    assert.equal(me.free_session_used, false);
    assert.equal(me.credit_balance_cents, 0);

    // the free method with a paid plan
    const paid = await book(c, vid, { plan: 'video', payment_method: 'free' });
    assert.equal(paid.status, 400, paid.text);
    assert.ok(isErrorShape(paid.json), paid.text);
    assert.equal((await c.get('/api/me')).json.free_session_used, false, 'a refused booking uses nothing');

    const first = await book(c, vid, { plan: 'free', payment_method: 'free' });
    assert.equal(first.status, 201, first.text);
    assert.deepEqual(first.json.payment, { method: 'free', status: 'paid', amount_cents: 0 });
    assert.equal(first.json.price_cents, 0);
    assert.equal(first.json.plan.slug, 'free');
    assert.equal(first.json.state, 'broadcast');
    me = (await c.get('/api/me')).json;
    assert.equal(me.free_session_used, true);
    assert.equal(me.credit_balance_cents, 0);

    // one live request per customer: a second one while the first routes is 409
    // session_in_progress naming the live one, and uses nothing
    const second = await book(c, vid, { plan: 'free', payment_method: 'free' });
    assert.equal(second.status, 409, second.text);
    assert.ok(isErrorShape(second.json, 'session_in_progress'), second.text);
    assert.equal(second.json.session_id, first.json.id);
    assert.equal(await sessionCount(c), 1, 'nothing written by the refused second session');
    // a cancelled free session gives the free session back (docs/decisions.md), once
    const cancel = await c.post(`/api/sessions/${first.json.id}/cancel`);
    assert.equal(cancel.status, 200, cancel.text);
    assert.equal(cancel.json.payment.status, 'refunded');
    assert.equal((await c.get('/api/me')).json.free_session_used, false);
    const again = await c.post(`/api/sessions/${first.json.id}/cancel`);
    assert.equal(again.status, 409, again.text);
    await setPresence(maria, 'online');
    try {
      const third = await book(c, vid, { plan: 'free', payment_method: 'free' });
      assert.equal(third.status, 201, third.text);
      assert.equal((await c.get('/api/me')).json.free_session_used, true);
      // accepted and ended: the free session stays used
      assert.equal((await maria.post(`/api/sessions/${third.json.id}/accept`)).status, 200);
      assert.equal((await maria.post(`/api/sessions/${third.json.id}/end`)).status, 200);
    } finally { await setPresence(maria, 'offline'); }
    const fourth = await book(c, vid, { plan: 'free', payment_method: 'free' });
    assert.equal(fourth.status, 409, fourth.text);
    assert.ok(isErrorShape(fourth.json, 'free_session_used'));
    assert.equal(await sessionCount(c), 2);
    assert.equal(await balanceOf(c), 0, 'a free session is never turned into credits');
  });

  test('credits: 201 with the payment, balance lowered exactly (standard and specialist price)', async () => {
    const start = await balanceOf(alex);
    const r = await book(alex, honda.id);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json.payment, { method: 'credits', status: 'paid', amount_cents: VIDEO });
    assert.equal(r.json.price_cents, VIDEO);
    assert.equal(await balanceOf(alex), start - VIDEO);
    // one live request at a time: 409 while it routes, nothing charged
    const during = await book(alex, tesla.id, { is_specialist: true });
    assert.equal(during.status, 409, during.text);
    assert.ok(isErrorShape(during.json, 'session_in_progress'), during.text);
    assert.equal(during.json.session_id, r.json.id);
    assert.equal(await balanceOf(alex), start - VIDEO);
    let c = await alex.post(`/api/sessions/${r.json.id}/cancel`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.state, 'cancelled');
    assert.equal(c.json.payment.status, 'refunded');
    assert.equal(c.json.payment.amount_cents, VIDEO);
    assert.equal(await balanceOf(alex), start);
    const spec = await book(alex, tesla.id, { is_specialist: true });
    assert.equal(spec.status, 201, spec.text);
    assert.deepEqual(spec.json.payment, { method: 'credits', status: 'paid', amount_cents: VIDEO_SPECIALIST });
    assert.equal(spec.json.price_cents, VIDEO_SPECIALIST);
    assert.equal(spec.json.is_specialist, true);
    assert.equal(await balanceOf(alex), start - VIDEO_SPECIALIST);
    c = await alex.post(`/api/sessions/${spec.json.id}/cancel`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.payment.amount_cents, VIDEO_SPECIALIST);
    assert.equal(await balanceOf(alex), start);
    // a second cancel refunds nothing more
    const again = await alex.post(`/api/sessions/${r.json.id}/cancel`);
    assert.equal(again.status, 409, again.text);
    assert.equal(await balanceOf(alex), start);
  });

  test('not enough credits: 402 insufficient_credits and nothing written', async () => {
    const c = await register('poor');
    const v = await c.post('/api/vehicles', { year: 2012, make: 'Kia', model: 'Rio' });
    assert.equal(v.status, 201, v.text);
    const vid = v.json.id ?? v.json.vehicle?.id;
    const r = await book(c, vid);
    assert.equal(r.status, 402, r.text);
    assert.ok(isErrorShape(r.json, 'insufficient_credits'), r.text);
    assert.equal(await balanceOf(c), 0);
    assert.equal(await sessionCount(c), 0);
    assert.equal((await c.get('/api/me')).json.free_session_used, false);
  });

  test('card without Stripe keys: 400 card_unavailable, nothing written', async () => {
    const start = await balanceOf(alex);
    const before = await sessionCount(alex);
    const r = await book(alex, honda.id, { payment_method: 'card' });
    assert.equal(r.status, 400, r.text);
    assert.ok(isErrorShape(r.json, 'card_unavailable'), r.text);
    assert.equal(await balanceOf(alex), start);
    assert.equal(await sessionCount(alex), before);
  });
});

describe('validation of POST /api/sessions', () => {
  const long = (n) => 'x'.repeat(n);
  const cases = () => [
    ['no vehicle_id', { vehicle_id: undefined }],
    ['vehicle_id not a string', { vehicle_id: 42 }],
    ['no plan', { plan: undefined }],
    ['plan not a string', { plan: 7 }],
    ['unknown plan', { plan: 'platinum' }],
    ['is_specialist not a boolean', { is_specialist: 'yes' }],
    ['no routing_type', { routing_type: undefined }],
    ['unknown routing_type', { routing_type: 'first_available' }],
    ['priority_broadcast without a preferred mechanic', { routing_type: 'priority_broadcast', preferred_mechanic_id: null }],
    ['priority_broadcast with an empty preferred mechanic', { routing_type: 'priority_broadcast', preferred_mechanic_id: '' }],
    ['broadcast with a preferred mechanic', { routing_type: 'broadcast', preferred_mechanic_id: john.me.mechanic_id }],
    ['preferred mechanic not a string', { routing_type: 'priority_broadcast', preferred_mechanic_id: 12 }],
    ['preferred mechanic unknown', { routing_type: 'priority_broadcast', preferred_mechanic_id: '00000000-0000-4000-8000-000000000000' }],
    ['preferred mechanic not bookable (pending)', { routing_type: 'priority_broadcast', preferred_mechanic_id: priya.me.mechanic_id }],
    ['no waiver', { waiver_accepted: undefined }],
    ['waiver false', { waiver_accepted: false }],
    ['waiver "true" as text', { waiver_accepted: 'true' }],
    ['no payment_method', { payment_method: undefined }],
    ['unknown payment_method', { payment_method: 'cash' }],
    ['no intake', { intake: undefined }],
    ['intake not an object', { intake: 'my brakes' }],
    ['no concern', { intake: { symptoms: [], urgency: 'low' } }],
    ['concern not text', { intake: { concern: 1234567890123, symptoms: [], urgency: 'low' } }],
    ['concern of 9 characters', { intake: { concern: '123456789', symptoms: [], urgency: 'low' } }],
    ['concern of 2001 characters', { intake: { concern: long(2001), symptoms: [], urgency: 'low' } }],
    ['concern of 9 characters padded with multi-byte text', { intake: { concern: 'ééééééééé', symptoms: [], urgency: 'low' } }],
    ['no urgency', { intake: { concern: CONCERN, symptoms: [] } }],
    ['unknown urgency', { intake: { concern: CONCERN, symptoms: [], urgency: 'urgent' } }],
    ['symptoms not a list', { intake: { concern: CONCERN, symptoms: 'noise', urgency: 'low' } }],
    ['a symptom not text', { intake: { concern: CONCERN, symptoms: [3], urgency: 'low' } }],
    ['free method with the video plan', { payment_method: 'free', plan: 'video' }],
    ['credits with the free plan', { payment_method: 'credits', plan: 'free' }],
  ];

  test('each invalid body: 400 {error, message}, nothing written', async () => {
    const start = await balanceOf(alex);
    const count = await sessionCount(alex);
    for (const [what, over] of cases()) {
      const r = await book(alex, honda.id, over);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.ok(isErrorShape(r.json), `${what}: error shape ${r.text}`);
    }
    assert.equal(await balanceOf(alex), start);
    assert.equal(await sessionCount(alex), count);
    assert.equal((await alex.get('/api/me')).json.free_session_used, false);
  });

  test('not JSON, not an object, too large', async () => {
    const bad = await alex.request('POST', '/api/sessions', { raw: '{"vehicle_id":', headers: { 'Content-Type': 'application/json' } });
    assert.equal(bad.status, 400, bad.text);
    assert.ok(isErrorShape(bad.json));
    const arr = await alex.request('POST', '/api/sessions', { raw: '[1,2]', headers: { 'Content-Type': 'application/json' } });
    assert.equal(arr.status, 400, arr.text);
    assert.ok(isErrorShape(arr.json));
    const big = await book(alex, honda.id, { intake: { concern: CONCERN, symptoms: [], urgency: 'low', pad: 'x'.repeat(70 * 1024) } });
    assert.equal(big.status, 413, big.text);
  });

  test('concern of exactly 10 and 2000 characters is accepted', async () => {
    const start = await balanceOf(alex);
    for (const concern of ['0123456789', 'y'.repeat(2000), 'é'.repeat(10)]) {
      const r = await book(alex, honda.id, { intake: { concern, symptoms: [], urgency: 'high' } });
      assert.equal(r.status, 201, `${concern.length}: ${r.text}`);
      assert.equal(r.json.intake.concern, concern);
      assert.equal((await alex.post(`/api/sessions/${r.json.id}/cancel`)).status, 200);
    }
    assert.equal(await balanceOf(alex), start);
  });

  test('a vehicle that is not the customer\'s: 404, nothing written', async () => {
    const other = await register('owner');
    const v = await other.post('/api/vehicles', { year: 2021, make: 'Ford', model: 'F-150' });
    assert.equal(v.status, 201, v.text);
    const vid = v.json.id ?? v.json.vehicle?.id;
    const start = await balanceOf(alex);
    const count = await sessionCount(alex);
    const r = await book(alex, vid);
    assert.equal(r.status, 404, r.text);
    assert.ok(isErrorShape(r.json), r.text);
    const none = await book(alex, '00000000-0000-4000-8000-000000000000');
    assert.equal(none.status, 404, none.text);
    assert.equal(await balanceOf(alex), start);
    assert.equal(await sessionCount(alex), count);
  });
});

describe('the session object', () => {
  test('every field of §4.7; priority_ends_at = created + window, expires_at = created + ttl', async () => {
    await setPresence(john, 'online');
    try {
      const t0 = Date.now();
      const s = await bookOk(alex, tesla.id, { routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id, is_specialist: true });
      const t1 = Date.now();
      for (const k of SESSION_KEYS) assert.ok(k in s, `key ${k}`);
      assert.match(s.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.equal(s.state, 'priority');
      assert.equal(s.customer_id, alex.me.id);
      assert.deepEqual(s.vehicle, { id: tesla.id, year: tesla.year, make: tesla.make, model: tesla.model });
      assert.equal(s.plan.slug, 'video');
      assert.equal(s.plan.name, 'Standard Video');
      assert.equal(s.is_specialist, true);
      assert.equal(s.price_cents, VIDEO_SPECIALIST);
      assert.deepEqual(s.payment, { method: 'credits', status: 'paid', amount_cents: VIDEO_SPECIALIST });
      assert.equal(s.preferred_mechanic_id, john.me.mechanic_id);
      assert.equal(s.routing_type, 'priority_broadcast');
      assert.deepEqual(s.metadata, { preferred_mechanic_id: john.me.mechanic_id, routing_type: 'priority_broadcast' });
      assert.deepEqual(s.intake, { concern: CONCERN, symptoms: ['grinding noise'], urgency: 'medium' });
      assert.equal(s.assigned_mechanic, null);
      assert.equal(s.accepted_at, null);
      assert.equal(s.ended_at, null);
      assert.equal(s.checkout_url, null);
      const created = isoMs(s.created_at);
      assert.ok(created >= t0 - 1000 && created <= t1 + 1000, `created_at ${s.created_at}`);
      assert.equal(isoMs(s.priority_ends_at), created + WINDOW_S * 1000);
      assert.equal(isoMs(s.expires_at), created + TTL_S * 1000);
      // the same object from GET, and in the list
      const got = await getSession(alex, s.id);
      assert.deepEqual(got, s);
      const list = await alex.get('/api/sessions');
      assert.ok(list.json.sessions.some((x) => x.id === s.id));

      // accepted: assigned_mechanic and accepted_at
      const acc = await john.post(`/api/sessions/${s.id}/accept`);
      assert.equal(acc.status, 200, acc.text);
      assert.equal(acc.json.state, 'accepted');
      assert.equal(acc.json.assigned_mechanic.id, john.me.mechanic_id);
      assert.equal(acc.json.assigned_mechanic.name, 'John Smith');
      assert.equal(acc.json.assigned_mechanic.rating, 4.9);
      assert.ok('profile_photo_url' in acc.json.assigned_mechanic);
      assert.ok(isoMs(acc.json.accepted_at) >= created);
      // the mechanic sees it too (offered, then assigned)
      assert.equal((await john.get(`/api/sessions/${s.id}`)).status, 200);
      const end = await john.post(`/api/sessions/${s.id}/end`, { outcome: 'resolved', notes: 'pads' });
      assert.equal(end.status, 200, end.text);
      assert.equal(end.json.state, 'ended');
      assert.ok(isoMs(end.json.ended_at) >= isoMs(acc.json.accepted_at));
    } finally {
      await setPresence(john, 'offline');
    }
  });

  test('a broadcast session: preferred null, priority_ends_at null, metadata as the seed says', async () => {
    const s = await bookOk(alex, honda.id);
    assert.equal(s.state, 'broadcast');
    assert.equal(s.preferred_mechanic_id, null);
    assert.equal(s.routing_type, 'broadcast');
    assert.deepEqual(s.metadata, { preferred_mechanic_id: null, routing_type: 'broadcast' });
    assert.equal(s.priority_ends_at, null);
    assert.equal(isoMs(s.expires_at), isoMs(s.created_at) + TTL_S * 1000);
    assert.equal((await alex.post(`/api/sessions/${s.id}/cancel`)).status, 200);
  });

  test('nobody accepts: expired after the lifetime, credits refunded', async () => {
    const start = await balanceOf(alex);
    const s = await bookOk(alex, honda.id);
    assert.equal(await balanceOf(alex), start - VIDEO);
    const done = await waitState(alex, s.id, 'expired', (TTL_S + 4) * 1000);
    assert.equal(done.payment.status, 'refunded');
    assert.equal(await balanceOf(alex), start);
    const c = await alex.post(`/api/sessions/${s.id}/cancel`);
    assert.equal(c.status, 409, c.text);
    assert.equal(await balanceOf(alex), start);
  });
});

describe('who may see and act', () => {
  test('anonymous: 401 everywhere', async () => {
    const s = await bookOk(alex, honda.id);
    const anon = new Client(srv.url);
    const calls = [
      ['POST', '/api/sessions', sessionBody(honda.id)],
      ['GET', '/api/sessions'],
      ['GET', `/api/sessions/${s.id}`],
      ['GET', `/api/sessions/${s.id}/stream`],
      ['POST', `/api/sessions/${s.id}/accept`],
      ['POST', `/api/sessions/${s.id}/decline`],
      ['POST', `/api/sessions/${s.id}/skip-priority`],
      ['POST', `/api/sessions/${s.id}/cancel`],
      ['POST', `/api/sessions/${s.id}/end`],
      ['GET', '/api/mechanic/stream'],
      ['GET', '/api/mechanic/offers'],
    ];
    for (const [m, p, body] of calls) {
      const r = await anon.request(m, p, { body });
      assert.equal(r.status, 401, `${m} ${p}: ${r.status} ${r.text}`);
      assert.ok(isErrorShape(r.json), `${m} ${p}`);
    }
    assert.equal((await getSession(alex, s.id)).state, 'broadcast');
    assert.equal((await alex.post(`/api/sessions/${s.id}/cancel`)).status, 200);
  });

  test('CSRF: a POST without the token is 403 csrf and does nothing', async () => {
    const start = await balanceOf(alex);
    const count = await sessionCount(alex);
    const r = await alex.request('POST', '/api/sessions', { body: sessionBody(honda.id), csrf: false });
    assert.equal(r.status, 403, r.text);
    assert.ok(isErrorShape(r.json, 'csrf'));
    const wrong = await alex.request('POST', '/api/sessions', { body: sessionBody(honda.id), csrf: false, headers: { 'X-CSRF-Token': 'x'.repeat(43) } });
    assert.equal(wrong.status, 403, wrong.text);
    assert.ok(isErrorShape(wrong.json, 'csrf'));
    assert.equal(await sessionCount(alex), count);
    assert.equal(await balanceOf(alex), start);
    const s = await bookOk(alex, honda.id);
    const cancel = await alex.request('POST', `/api/sessions/${s.id}/cancel`, { csrf: false });
    assert.equal(cancel.status, 403, cancel.text);
    assert.ok(isErrorShape(cancel.json, 'csrf'));
    assert.equal((await getSession(alex, s.id)).state, 'broadcast');
    assert.equal((await alex.post(`/api/sessions/${s.id}/cancel`)).status, 200);
    await setPresence(maria, 'online');
    try {
      const s2 = await bookOk(alex, honda.id);
      const acc = await maria.request('POST', `/api/sessions/${s2.id}/accept`, { csrf: false });
      assert.equal(acc.status, 403, acc.text);
      assert.ok(isErrorShape(acc.json, 'csrf'));
      assert.equal((await getSession(alex, s2.id)).state, 'broadcast');
      assert.equal((await alex.post(`/api/sessions/${s2.id}/cancel`)).status, 200);
    } finally { await setPresence(maria, 'offline'); }
  });

  test('another customer: 404 for every view and action (existence not revealed)', async () => {
    const eve = await register('eve');
    const s = await bookOk(alex, honda.id);
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const id of [s.id, unknown]) {
      for (const [m, p] of [['GET', `/api/sessions/${id}`], ['GET', `/api/sessions/${id}/stream`],
        ['POST', `/api/sessions/${id}/cancel`], ['POST', `/api/sessions/${id}/skip-priority`]]) {
        const r = await eve.request(m, p);
        assert.equal(r.status, 404, `${m} ${p}: ${r.status} ${r.text}`);
        assert.ok(isErrorShape(r.json), p);
      }
    }
    const list = await eve.get('/api/sessions');
    assert.equal(list.status, 200);
    assert.equal(list.json.sessions.length, 0);
    assert.equal((await getSession(alex, s.id)).state, 'broadcast');
    assert.equal((await alex.post(`/api/sessions/${s.id}/cancel`)).status, 200);
  });

  test('roles: customers cannot accept/decline/end, mechanics cannot book/cancel/skip, never-offered accept is 403 not_offered', async () => {
    await setPresence(maria, 'online');
    try {
      const s = await bookOk(alex, honda.id); // broadcast: maria online gets it, john offline does not
      for (const action of ['accept', 'decline', 'end']) {
        const r = await alex.post(`/api/sessions/${s.id}/${action}`);
        assert.equal(r.status, 403, `customer ${action}: ${r.status} ${r.text}`);
        assert.ok(isErrorShape(r.json));
      }
      const mb = await maria.post('/api/sessions', sessionBody(honda.id));
      assert.equal(mb.status, 403, mb.text);
      for (const action of ['cancel', 'skip-priority']) {
        const r = await maria.post(`/api/sessions/${s.id}/${action}`);
        assert.equal(r.status, 403, `mechanic ${action}: ${r.status} ${r.text}`);
      }
      const r = await admin.post(`/api/sessions/${s.id}/accept`);
      assert.equal(r.status, 403, `admin accept: ${r.status}`);
      // john was offline at the broadcast: never offered
      const j = await john.post(`/api/sessions/${s.id}/accept`);
      assert.equal(j.status, 403, j.text);
      assert.ok(isErrorShape(j.json, 'not_offered'), j.text);
      const d = await john.post(`/api/sessions/${s.id}/decline`);
      assert.equal(d.status, 403, d.text);
      assert.ok(isErrorShape(d.json, 'not_offered'), d.text);
      // a mechanic who was never offered it cannot see it either
      assert.equal((await john.get(`/api/sessions/${s.id}`)).status, 404);
      // the state did not move; maria (offered) can see it and end only after accepting
      assert.equal((await getSession(alex, s.id)).state, 'broadcast');
      assert.equal((await maria.get(`/api/sessions/${s.id}`)).status, 200);
      const early = await maria.post(`/api/sessions/${s.id}/end`);
      assert.equal(early.status, 403, early.text);
      const acc = await maria.post(`/api/sessions/${s.id}/accept`);
      assert.equal(acc.status, 200, acc.text);
      const badEnd = await maria.post(`/api/sessions/${s.id}/end`, { outcome: 'fixed' });
      assert.equal(badEnd.status, 400, badEnd.text);
      assert.ok(isErrorShape(badEnd.json));
      assert.equal((await getSession(alex, s.id)).state, 'accepted');
      // john cannot end maria's session; alex cannot cancel it any more
      assert.ok([403, 404].includes((await john.post(`/api/sessions/${s.id}/end`)).status));
      const late = await alex.post(`/api/sessions/${s.id}/cancel`);
      assert.equal(late.status, 409, late.text);
      assert.equal((await maria.post(`/api/sessions/${s.id}/end`)).status, 200);
      // unknown session: 404 for a mechanic's accept
      const u = await maria.post('/api/sessions/00000000-0000-4000-8000-000000000000/accept');
      assert.equal(u.status, 404, u.text);
    } finally { await setPresence(maria, 'offline'); }
  });

  test('the session stream is the customer\'s own: the mechanic gets 403, another customer 404', async () => {
    const s = await bookOk(alex, honda.id);
    const m = await openStream(srv.url, `/api/sessions/${s.id}/stream`, { Cookie: maria.cookieHeader() });
    m.close();
    assert.ok([403, 404].includes(m.status), `${m.status}`);
    assert.equal((await alex.post(`/api/sessions/${s.id}/cancel`)).status, 200);
  });
});

