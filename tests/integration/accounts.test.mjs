// Accounts (SPEC §4.10, issue 11): PUT /api/me, editing and deleting vehicles, one live
// request per customer, the session object's `steps`, a preferred mechanic switching
// themself offline during their priority window (§4.4 rule 2), and GET /api/config.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, isErrorShape, getJson, eventually, openStream } from './helpers.mjs';
import {
  VIDEO, sessionBody, vehicleByMake, vehiclesOf, book, bookOk, balanceOf, setPresence, presenceOf,
  mechanicStream, sessionStream, stepsOf, waitStep, about, waitAbout, settle, getSession, newCustomer,
} from './booking_helpers.mjs';

const WINDOW_S = 30;
const TIMEOUT_S = 2;
let srv;
before(async () => {
  srv = await startServer({
    args: ['--priority-window', String(WINDOW_S), '--presence-timeout', String(TIMEOUT_S),
      '--request-ttl', '120', '--broadcast-size', '5'],
  });
});
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

const me = async (c) => {
  const r = await c.get('/api/me');
  assert.equal(r.status, 200, r.text);
  return r.json;
};

describe('PUT /api/me', () => {
  test('200 with the /api/me object; each field optional, absent ones stay', async () => {
    const { client: c } = await newCustomer(srv.url, 'me');
    const before_ = await me(c);
    let r = await c.put('/api/me', { name: 'Robin Hood' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { ...before_, name: 'Robin Hood' });
    assert.deepEqual(await me(c), r.json);
    r = await c.put('/api/me', { city: 'Ottawa' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'Robin Hood');
    assert.equal(r.json.city, 'Ottawa');
    r = await c.put('/api/me', { name: 'Ada', city: 'Montréal' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'Ada');
    assert.equal(r.json.city, 'Montréal');
    r = await c.put('/api/me', {});
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, await me(c));
    // 100 characters (not bytes) is the limit
    r = await c.put('/api/me', { name: 'é'.repeat(100), city: 'x'.repeat(100) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'é'.repeat(100));
    assert.equal((await me(c)).city, 'x'.repeat(100));
    // the login's other fields are untouched
    const after_ = await me(c);
    for (const k of ['id', 'email', 'role', 'credit_balance_cents', 'free_session_used', 'csrf_token', 'mechanic_selection']) {
      assert.deepEqual(after_[k], before_[k], k);
    }
  });

  test('400 for bad types, lengths, control characters and bodies; nothing changes', async () => {
    const { client: c } = await newCustomer(srv.url, 'me400');
    const start = await me(c);
    const bad = [
      { name: '' }, { city: '' }, { name: 'x'.repeat(101) }, { city: 'é'.repeat(101) },
      { name: 5 }, { city: true }, { name: ['a'] }, { name: 'tab\there' }, { city: 'nl\nhere' },
      { name: 'nul\u0000x' }, { name: 'ok', city: '' },
    ];
    for (const body of bad) {
      const r = await c.put('/api/me', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.ok(isErrorShape(r.json), r.text); // a NUL is refused by the JSON reader already
    }
    for (const raw of ['not json', '[]', '"x"']) {
      const r = await c.request('PUT', '/api/me', { raw, headers: { 'Content-Type': 'application/json' } });
      assert.equal(r.status, 400, `${raw}: ${r.text}`);
      assert.ok(isErrorShape(r.json), r.text);
    }
    assert.deepEqual(await me(c), start);
  });

  test('401 anonymous, 403 without the CSRF token, 403 forbidden for a mechanic; an admin may', async () => {
    const anon = new Client(srv.url);
    const a = await anon.put('/api/me', { name: 'x' });
    assert.equal(a.status, 401, a.text);
    assert.ok(isErrorShape(a.json, 'unauthorized'));

    const { client: c } = await newCustomer(srv.url, 'mecsrf');
    const start = await me(c);
    const r = await c.request('PUT', '/api/me', { body: { name: 'Forged' }, csrf: false });
    assert.equal(r.status, 403, r.text);
    assert.ok(isErrorShape(r.json, 'csrf'));
    assert.deepEqual(await me(c), start);

    const john = await loggedIn(srv.url, 'john.smith@demo.test');
    const m = await john.put('/api/me', { name: 'Johnny' });
    assert.equal(m.status, 403, m.text);
    assert.ok(isErrorShape(m.json, 'forbidden'), m.text);
    assert.equal((await me(john)).name, 'John Smith');

    const admin = await loggedIn(srv.url, 'admin@demo.test');
    const old = (await me(admin)).name;
    const ad = await admin.put('/api/me', { city: 'Kingston' });
    assert.equal(ad.status, 200, ad.text);
    assert.equal(ad.json.city, 'Kingston');
    assert.equal(ad.json.name, old);
    assert.equal(ad.json.role, 'admin');
  });
});

describe('vehicles: edit and delete', () => {
  test('PUT 200 the vehicle, same validation as POST; DELETE 204, gone from the list, then 404', async () => {
    const { client: c, vehicle: v } = await newCustomer(srv.url, 'veh');
    const r = await c.put(`/api/vehicles/${v.id}`, { year: 2019, make: 'Toyota', model: 'RAV4' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { id: v.id, year: 2019, make: 'Toyota', model: 'RAV4' });
    assert.deepEqual(await vehiclesOf(c), [r.json]);
    for (const body of [{ year: 1800, make: 'Ford', model: 'T' }, { year: 2019, make: '', model: 'x' },
      { year: 2019, make: 'Ford' }, { year: '2019', make: 'Ford', model: 'Focus' }, { year: 2019, make: 'a'.repeat(41), model: 'x' }]) {
      const b = await c.put(`/api/vehicles/${v.id}`, body);
      assert.equal(b.status, 400, `${JSON.stringify(body)}: ${b.text}`);
      assert.ok(isErrorShape(b.json, 'bad_request'));
    }
    assert.deepEqual(await vehiclesOf(c), [r.json], 'a refused edit changes nothing');
    const csrf = await c.request('DELETE', `/api/vehicles/${v.id}`, { csrf: false });
    assert.equal(csrf.status, 403, csrf.text);
    assert.ok(isErrorShape(csrf.json, 'csrf'));

    const d = await c.del(`/api/vehicles/${v.id}`);
    assert.equal(d.status, 204, d.text);
    assert.equal(d.text, '');
    assert.deepEqual(await vehiclesOf(c), []);
    const again = await c.del(`/api/vehicles/${v.id}`);
    assert.equal(again.status, 404, again.text);
    assert.ok(isErrorShape(again.json, 'not_found'));
    const edit = await c.put(`/api/vehicles/${v.id}`, { year: 2019, make: 'Toyota', model: 'RAV4' });
    assert.equal(edit.status, 404, edit.text);
    // booking a deleted vehicle: 404 as for a vehicle that is not the customer's
    const b = await book(c, v.id, { plan: 'free', payment_method: 'free' });
    assert.equal(b.status, 404, b.text);
    assert.ok(isErrorShape(b.json, 'not_found'));
    assert.equal((await me(c)).free_session_used, false, 'nothing used');
  });

  test('another customer\'s vehicle or an unknown id: 404, and it stays as it was; a mechanic gets 403', async () => {
    const owner = await newCustomer(srv.url, 'owner');
    const { client: eve } = await newCustomer(srv.url, 'eve');
    const p = await eve.put(`/api/vehicles/${owner.vehicle.id}`, { year: 2000, make: 'Lada', model: 'Niva' });
    assert.equal(p.status, 404, p.text);
    assert.ok(isErrorShape(p.json, 'not_found'));
    const d = await eve.del(`/api/vehicles/${owner.vehicle.id}`);
    assert.equal(d.status, 404, d.text);
    for (const id of ['00000000-0000-4000-8000-000000000000', 'nope']) {
      assert.equal((await eve.del(`/api/vehicles/${id}`)).status, 404);
      assert.equal((await eve.put(`/api/vehicles/${id}`, { year: 2000, make: 'Lada', model: 'Niva' })).status, 404);
    }
    assert.deepEqual(await vehiclesOf(owner.client), [owner.vehicle]);
    const john = await loggedIn(srv.url, 'john.smith@demo.test');
    assert.equal((await john.del(`/api/vehicles/${owner.vehicle.id}`)).status, 403);
    assert.equal((await new Client(srv.url).del(`/api/vehicles/${owner.vehicle.id}`)).status, 401);
  });

  test('409 vehicle_in_use while a session of it routes or runs; allowed once it ended or was cancelled; past sessions still show it', async () => {
    const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
    const ms = await mechanicStream(srv.url, maria); // keeps her seen (short presence timeout)
    const { client: c, vehicle: v } = await newCustomer(srv.url, 'inuse');
    const other = await c.post('/api/vehicles', { year: 2012, make: 'Ford', model: 'Focus' });
    assert.equal(other.status, 201, other.text);
    try {
      // routing (broadcast): both refused, nothing changed
      const s = await bookOk(c, v.id, { plan: 'free', payment_method: 'free' });
      for (const r of [await c.put(`/api/vehicles/${v.id}`, { year: 2001, make: 'Kia', model: 'Rio' }), await c.del(`/api/vehicles/${v.id}`)]) {
        assert.equal(r.status, 409, r.text);
        assert.ok(isErrorShape(r.json, 'vehicle_in_use'), r.text);
      }
      assert.equal((await vehiclesOf(c)).length, 2);
      // another vehicle of the same customer is not in use
      const e2 = await c.put(`/api/vehicles/${other.json.id}`, { year: 2013, make: 'Ford', model: 'Fiesta' });
      assert.equal(e2.status, 200, e2.text);
      // cancelled: allowed again
      assert.equal((await c.post(`/api/sessions/${s.id}/cancel`)).status, 200);
      const edited = await c.put(`/api/vehicles/${v.id}`, { year: 2018, make: 'Honda', model: 'Fit' });
      assert.equal(edited.status, 200, edited.text);

      // accepted (in progress): refused; ended: allowed
      await setPresence(maria, 'online');
      const s2 = await bookOk(c, v.id, { plan: 'free', payment_method: 'free' });
      assert.equal((await maria.post(`/api/sessions/${s2.id}/accept`)).status, 200);
      const busy = await c.del(`/api/vehicles/${v.id}`);
      assert.equal(busy.status, 409, busy.text);
      assert.ok(isErrorShape(busy.json, 'vehicle_in_use'));
      assert.equal((await maria.post(`/api/sessions/${s2.id}/end`, { outcome: 'resolved' })).status, 200);
      const del = await c.del(`/api/vehicles/${v.id}`);
      assert.equal(del.status, 204, del.text);
      assert.deepEqual((await vehiclesOf(c)).map((x) => x.id), [other.json.id]);

      // the past sessions still show the (deleted) vehicle, as it was last
      const want = { id: v.id, year: 2018, make: 'Honda', model: 'Fit' };
      assert.deepEqual((await getSession(c, s2.id)).vehicle, want);
      assert.deepEqual((await getSession(c, s.id)).vehicle, want);
      const list = (await c.get('/api/sessions')).json.sessions;
      assert.deepEqual(list.map((x) => x.vehicle), [want, want]);
      // the mechanic's view too
      assert.deepEqual((await maria.get(`/api/sessions/${s2.id}`)).json.vehicle, want);
    } finally {
      ms.close();
      await setPresence(maria, 'offline');
    }
  });
});

describe('one live request per customer', () => {
  test('409 session_in_progress with its session_id, nothing charged; a bad body gets its 400 first; allowed again after cancel', async () => {
    const alex = await loggedIn(srv.url, 'alex@demo.test');
    const honda = await vehicleByMake(alex, 'Honda');
    const tesla = await vehicleByMake(alex, 'Tesla');
    const start = await balanceOf(alex);
    const first = await bookOk(alex, honda.id);
    assert.equal(await balanceOf(alex), start - VIDEO);
    const count = (await alex.get('/api/sessions')).json.sessions.length;
    for (const body of [sessionBody(tesla.id), sessionBody(honda.id, { plan: 'free', payment_method: 'free' }),
      sessionBody(tesla.id, { is_specialist: true })]) {
      const r = await alex.post('/api/sessions', body);
      assert.equal(r.status, 409, r.text);
      assert.ok(isErrorShape({ error: r.json.error, message: r.json.message }, 'session_in_progress'), r.text);
      assert.deepEqual(Object.keys(r.json).sort(), ['error', 'message', 'session_id']);
      assert.equal(r.json.session_id, first.id);
    }
    const m = await me(alex);
    assert.equal(m.credit_balance_cents, start - VIDEO, 'nothing more charged');
    assert.equal(m.free_session_used, false, 'the free session untouched');
    assert.equal((await alex.get('/api/sessions')).json.sessions.length, count, 'nothing written');
    // invalid anyway: 400 first
    for (const over of [{ waiver_accepted: false }, { plan: 'nope' }, { intake: { concern: 'short', urgency: 'low' } }]) {
      const r = await book(alex, honda.id, over);
      assert.equal(r.status, 400, `${JSON.stringify(over)}: ${r.text}`);
    }
    const notMine = await book(alex, '00000000-0000-4000-8000-000000000000');
    assert.equal(notMine.status, 404, notMine.text);
    // cancelled: the next one is allowed
    assert.equal((await alex.post(`/api/sessions/${first.id}/cancel`)).status, 200);
    const next = await bookOk(alex, tesla.id);
    assert.equal(await balanceOf(alex), start - VIDEO);
    assert.equal((await alex.post(`/api/sessions/${next.id}/cancel`)).status, 200);
    assert.equal(await balanceOf(alex), start);
  });

  test('two simultaneous POSTs: exactly one 201, the other 409 naming it', async () => {
    const { client: c, vehicle: v } = await newCustomer(srv.url, 'double');
    const [a, b] = await Promise.all([book(c, v.id, { plan: 'free', payment_method: 'free' }), book(c, v.id, { plan: 'free', payment_method: 'free' })]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [201, 409], `${a.text} / ${b.text}`);
    const won = a.status === 201 ? a : b, lost = a.status === 201 ? b : a;
    assert.equal(lost.json.error, 'session_in_progress');
    assert.equal(lost.json.session_id, won.json.id);
    assert.equal((await c.get('/api/sessions')).json.sessions.length, 1);
    assert.equal((await c.post(`/api/sessions/${won.json.id}/cancel`)).status, 200);
  });
});

describe('steps on the session object', () => {
  test('every routing step so far, oldest first, exactly what the stream sent; in GET, the list, POST 201 and the snapshot', async () => {
    const john = await loggedIn(srv.url, 'john.smith@demo.test');
    const mike = await loggedIn(srv.url, 'mike.chen@demo.test');
    const streams = [await mechanicStream(srv.url, john), await mechanicStream(srv.url, mike)];
    const { client: c, vehicle: v } = await newCustomer(srv.url, 'steps');
    try {
      await setPresence(john, 'online');
      await setPresence(mike, 'online');
      const s = await bookOk(c, v.id, { plan: 'free', payment_method: 'free', routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id });
      assert.deepEqual(s.steps.map((x) => x.step), ['priority_offered']);
      assert.equal(s.steps[0].session_id, s.id);
      assert.equal(s.steps[0].mechanic_id, john.me.mechanic_id);
      assert.equal(s.steps[0].mechanic_name, 'John Smith');
      const ss = await sessionStream(srv.url, c, s.id);
      streams.push(ss);
      const snap = await ss.waitForEvent((e) => e.event === 'snapshot');
      assert.deepEqual(snap.json.steps, s.steps, 'the snapshot carries the steps so far');
      assert.equal((await john.post(`/api/sessions/${s.id}/decline`)).status, 200);
      await waitStep(ss, 'broadcast');
      assert.equal((await mike.post(`/api/sessions/${s.id}/accept`)).status, 200);
      await waitStep(ss, 'accepted');
      assert.equal((await mike.post(`/api/sessions/${s.id}/end`)).status, 200);
      await waitStep(ss, 'ended');
      const sent = [...s.steps, ...ss.events.filter((e) => e.event === 'routing').map((e) => e.json)];
      assert.deepEqual(sent.map((x) => x.step), ['priority_offered', 'priority_declined', 'broadcast', 'accepted', 'ended']);
      const got = await getSession(c, s.id);
      assert.deepEqual(got.steps, sent);
      const listed = (await c.get('/api/sessions')).json.sessions.find((x) => x.id === s.id);
      assert.deepEqual(listed.steps, sent);
      assert.deepEqual((await mike.get(`/api/sessions/${s.id}`)).json.steps, sent);
      // a page that loads late (a new stream): the whole story in the snapshot
      const late = await sessionStream(srv.url, c, s.id);
      streams.push(late);
      const snap2 = await late.waitForEvent((e) => e.event === 'snapshot');
      assert.deepEqual(snap2.json.steps, sent);
      // ... and after a restart of the server, the same
    } finally {
      for (const st of streams) st.close();
      await setPresence(john, 'offline');
      await setPresence(mike, 'offline');
    }
  });
});

describe('the preferred mechanic switching offline during the priority window', () => {
  test('by hand: priority_declined, offer_withdrawn priority_ended, broadcast without them, no offer_added when they return', async () => {
    const john = await loggedIn(srv.url, 'john.smith@demo.test');
    const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
    const js = await mechanicStream(srv.url, john), mas = await mechanicStream(srv.url, maria);
    const streams = [js, mas];
    const { client: c, vehicle: v } = await newCustomer(srv.url, 'offline');
    try {
      await setPresence(john, 'online');
      await setPresence(maria, 'online');
      const s = await bookOk(c, v.id, { plan: 'free', payment_method: 'free', routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id });
      assert.equal(s.state, 'priority');
      const ss = await sessionStream(srv.url, c, s.id);
      streams.push(ss);
      await waitAbout(js, s.id, 'offer', 5000, (o) => o.kind === 'priority');
      await setPresence(john, 'offline');
      const declined = await waitStep(ss, 'priority_declined');
      assert.equal(declined.json.mechanic_id, john.me.mechanic_id);
      assert.equal(declined.json.mechanic_name, 'John Smith');
      const bc = await waitStep(ss, 'broadcast');
      assert.equal(bc.json.count, 1, 'maria only');
      const w = await waitAbout(js, s.id, 'offer_withdrawn');
      assert.equal(w.json.reason, 'priority_ended');
      await waitAbout(mas, s.id, 'offer', 5000, (o) => o.kind === 'broadcast');
      const got = await getSession(c, s.id);
      assert.equal(got.state, 'broadcast');
      // back online during the broadcast: no offer for them
      await setPresence(john, 'online');
      await settle(500);
      assert.equal(about(js, s.id, 'offer').length, 1, 'only the priority offer');
      assert.deepEqual(stepsOf(ss), ['priority_declined', 'broadcast']);
      const accept = await john.post(`/api/sessions/${s.id}/accept`);
      assert.ok([403, 409].includes(accept.status), accept.text);
      assert.deepEqual((await getSession(c, s.id)).steps.map((x) => x.step), ['priority_offered', 'priority_declined', 'broadcast']);
      assert.equal((await c.post(`/api/sessions/${s.id}/cancel`)).status, 200);
    } finally {
      for (const st of streams) st.close();
      await setPresence(john, 'offline');
      await setPresence(maria, 'offline');
    }
  });

  test('a presence timeout does not end the window: back online, they can still take the priority offer', async () => {
    const mike = await loggedIn(srv.url, 'mike.chen@demo.test');
    const { client: c, vehicle: v } = await newCustomer(srv.url, 'timeout');
    await setPresence(mike, 'online'); // no dashboard stream: unseen, timed out after 2 s
    const s = await bookOk(c, v.id, { plan: 'free', payment_method: 'free', routing_type: 'priority_broadcast', preferred_mechanic_id: mike.me.mechanic_id });
    const ss = await sessionStream(srv.url, c, s.id);
    try {
      await eventually(async () => (await presenceOf(srv.url, mike.me.mechanic_id)) === 'offline', (TIMEOUT_S + 6) * 1000, 200, 'mike timed out');
      await settle(500);
      assert.deepEqual(stepsOf(ss), [], 'no step after the timeout');
      const got = await getSession(c, s.id);
      assert.equal(got.state, 'priority');
      assert.deepEqual(got.steps.map((x) => x.step), ['priority_offered']);
      await setPresence(mike, 'online');
      const acc = await mike.post(`/api/sessions/${s.id}/accept`);
      assert.equal(acc.status, 200, acc.text);
      assert.equal(acc.json.state, 'accepted');
      assert.equal((await mike.post(`/api/sessions/${s.id}/end`)).status, 200);
    } finally {
      ss.close();
      await mike.post('/api/mechanic/presence', { status: 'offline' });
    }
  });
});

describe('GET /api/config', () => {
  test('the server\'s flags, no login needed, Cache-Control: no-cache', async () => {
    const r = await fetch(`${srv.url}/api/config`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.deepEqual(await r.json(), {
      priority_window_seconds: WINDOW_S, request_ttl_seconds: 120, presence_timeout_seconds: TIMEOUT_S, broadcast_size: 5,
    });
  });

  test('the defaults: 600 s window, 30 min lifetime, 60 s presence timeout, 10 mechanics', async () => {
    const d = await startServer({ demo: false });
    try {
      const r = await getJson(`${d.url}/api/config`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { priority_window_seconds: 600, request_ttl_seconds: 1800, presence_timeout_seconds: 60, broadcast_size: 10 });
    } finally { await d.stop(); d.cleanup(); }
  });
});
