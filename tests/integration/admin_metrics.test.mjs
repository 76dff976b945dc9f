// GET /api/admin/metrics (SPEC §4.6) against the real binary: a small history made through
// the API (credits and free bookings, accept, decline, a priority window that runs out,
// skip, cancel, expiry, end with outcomes, ratings, the rollout moved to put customers in
// the control group), then every number checked; plus 401 / 403 / 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, isErrorShape, eventually } from './helpers.mjs';
import { bookOk, setPresence, vehiclesOf, waitState } from './booking_helpers.mjs';

let srv, admin, alex, john, maria;
const ids = {};

async function ok(p, what) {
  const r = await p;
  assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text}`);
  return r.json;
}

async function newCustomer(email) {
  const c = new Client(srv.url);
  await ok(c.post('/api/auth/register', { email, password: 'metrics-test-pw', name: 'Metric Customer', city: 'Toronto' }), `register ${email}`);
  const r = await c.login(email, 'metrics-test-pw');
  assert.equal(r.status, 200, r.text);
  const v = await ok(c.post('/api/vehicles', { year: 2019, make: 'Toyota', model: 'Corolla' }), 'add vehicle');
  c.vehicleId = v.id ?? v.vehicle?.id;
  assert.ok(c.vehicleId, `vehicle id in ${JSON.stringify(v)}`);
  return c;
}

const setRollout = (percent) =>
  ok(admin.request('PUT', '/api/admin/rollout', { body: { mechanic_selection_percent: percent } }), 'rollout');

// Polls until the session's state is one of `states` (the priority window and the request
// lifetime are fired by the 1 s tick).
async function waitFor(client, id, states) {
  return eventually(async () => {
    const r = await client.get(`/api/sessions/${id}`);
    return states.includes(r.json?.state) ? r.json : null;
  }, 15000, 100, `session ${id} to reach ${states}`);
}

before(async () => {
  // a 1 s priority window forces a fallback; a 6 s lifetime lets one session expire
  srv = await startServer({ args: ['--priority-window', '1', '--request-ttl', '6'] });
  admin = await loggedIn(srv.url, 'admin@demo.test');
  alex = await loggedIn(srv.url, 'alex@demo.test');
  john = await loggedIn(srv.url, 'john.smith@demo.test');
  maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
  await setPresence(john, 'online');
  await setPresence(maria, 'online');
  const [car] = await vehiclesOf(alex);
  const prio = (mech) => ({ routing_type: 'priority_broadcast', preferred_mechanic_id: mech.me.mechanic_id });

  // A: the preferred mechanic accepts at once; resolved; rated 10
  let s = await bookOk(alex, car.id, prio(john));
  ids.a = s.id;
  await ok(john.post(`/api/sessions/${s.id}/accept`, {}), 'A accept');
  await ok(john.post(`/api/sessions/${s.id}/end`, { outcome: 'resolved' }), 'A end');
  await ok(alex.post(`/api/sessions/${s.id}/rating`, { score: 10 }), 'A rating');

  // B: the preferred mechanic declines, the broadcast reaches John; escalated; rated 6
  s = await bookOk(alex, car.id, prio(maria));
  ids.b = s.id;
  await ok(maria.post(`/api/sessions/${s.id}/decline`, {}), 'B decline');
  await waitFor(alex, s.id, ['broadcast']);
  await ok(john.post(`/api/sessions/${s.id}/accept`, {}), 'B accept');
  await ok(john.post(`/api/sessions/${s.id}/end`, { outcome: 'escalated' }), 'B end');
  await ok(alex.post(`/api/sessions/${s.id}/rating`, { score: 6 }), 'B rating');

  // C: nobody answers in the 1 s window; Maria takes it from the broadcast; no outcome
  s = await bookOk(alex, car.id, prio(maria));
  ids.c = s.id;
  await waitFor(alex, s.id, ['broadcast']);
  await ok(maria.post(`/api/sessions/${s.id}/accept`, {}), 'C accept');
  await ok(maria.post(`/api/sessions/${s.id}/end`, {}), 'C end');

  // D: the customer skips the window, then cancels during the broadcast
  await setPresence(maria, 'offline'); // nobody should take D before it is cancelled
  await setPresence(john, 'offline');
  s = await bookOk(alex, car.id, { ...prio(john), plan: 'free', payment_method: 'free' }); // credits ran out
  ids.d = s.id;
  await ok(alex.post(`/api/sessions/${s.id}/skip-priority`, {}), 'D skip');
  await waitFor(alex, s.id, ['broadcast']);
  await ok(alex.post(`/api/sessions/${s.id}/cancel`, {}), 'D cancel');

  // E: rollout at 0 %: a new customer (control group) books first available with the free
  // session; Maria accepts; escalated; rated 9
  await setRollout(0);
  await setPresence(maria, 'online');
  const bob = await newCustomer('bob.metrics@example.test');
  s = await bookOk(bob, bob.vehicleId, { plan: 'free', payment_method: 'free' });
  ids.e = s.id;
  await ok(maria.post(`/api/sessions/${s.id}/accept`, {}), 'E accept');
  await ok(maria.post(`/api/sessions/${s.id}/end`, { outcome: 'escalated' }), 'E end');
  await ok(bob.post(`/api/sessions/${s.id}/rating`, { score: 9 }), 'E rating');

  // G: control group, nobody online: the request expires
  await setPresence(maria, 'offline');
  const carol = await newCustomer('carol.metrics@example.test');
  s = await bookOk(carol, carol.vehicleId, { plan: 'free', payment_method: 'free' });
  ids.g = s.id;
  await waitState(carol, s.id, 'expired', 15000);
  await setRollout(100);
});

after(async () => {
  if (srv) { await srv.stop(); srv.cleanup(); }
});

const approx = (got, want, what, tol = 0.00005) => {
  assert.equal(typeof got, 'number', `${what} is a number (${got})`);
  assert.ok(Math.abs(got - want) <= tol, `${what}: ${got} != ${want}`);
};

function checkRate(block, name, num, den, numKey, denKey) {
  const r = block[name];
  assert.equal(r[numKey], num, `${name}.${numKey}`);
  assert.equal(r[denKey], den, `${name}.${denKey}`);
  if (den === 0) assert.equal(r.rate, null, `${name}.rate is null`);
  else approx(r.rate, num / den, `${name}.rate`);
}

// One block of numbers, checked against what the history above must give.
function checkBlock(b, want, label) {
  assert.deepEqual(b.sessions, want.sessions, `${label} sessions`);
  const t = want.sessions.total;
  if (t === 0) assert.deepEqual(b.share, { chosen_mechanic: null, first_available: null });
  else {
    approx(b.share.chosen_mechanic, want.sessions.priority_broadcast / t, `${label} chosen share`);
    approx(b.share.first_available, want.sessions.broadcast / t, `${label} first-available share`);
  }
  checkRate(b, 'priority_acceptance', ...want.acceptance, 'accepted', 'ended');
  checkRate(b, 'fallback', ...want.fallback, 'fell_back', 'left_priority');
  checkRate(b, 'expiry', ...want.expiry, 'expired', 'routed');
  checkRate(b, 'escalation', ...want.escalation, 'escalated', 'with_outcome');
  assert.equal(b.time_to_start.count, want.started, `${label} started`);
  if (want.started) {
    assert.ok(b.time_to_start.p50_seconds >= 0 && b.time_to_start.p50_seconds <= b.time_to_start.p90_seconds,
      `${label} p50 <= p90: ${JSON.stringify(b.time_to_start)}`);
  } else {
    assert.equal(b.time_to_start.p50_seconds, null);
    assert.equal(b.time_to_start.p90_seconds, null);
  }
  const [promoters, passives, detractors] = want.nps;
  const answers = promoters + passives + detractors;
  assert.equal(b.nps.answers, answers, `${label} nps answers`);
  assert.equal(b.nps.promoters, promoters);
  assert.equal(b.nps.passives, passives);
  assert.equal(b.nps.detractors, detractors);
  if (answers) approx(b.nps.score, (100 * (promoters - detractors)) / answers, `${label} nps`, 0.05);
  else assert.equal(b.nps.score, null);
}

const PRIORITY = {
  sessions: { total: 4, broadcast: 0, priority_broadcast: 4 },
  acceptance: [1, 4], // A accepted; B declined; C and D withdrawn when the window ended
  fallback: [3, 4], // B, C, D went on to the broadcast; A did not
  expiry: [0, 4],
  escalation: [1, 2], // A resolved, B escalated, C without an outcome
  started: 3,
  nps: [1, 0, 1], // 10 and 6
};
const BROADCAST = {
  sessions: { total: 2, broadcast: 2, priority_broadcast: 0 },
  acceptance: [0, 0],
  fallback: [0, 0],
  expiry: [1, 2], // G
  escalation: [1, 1], // E
  started: 1,
  nps: [1, 0, 0], // 9
};
const OVERALL = {
  sessions: { total: 6, broadcast: 2, priority_broadcast: 4 },
  acceptance: [1, 4],
  fallback: [3, 4],
  expiry: [1, 6],
  escalation: [2, 3],
  started: 4,
  nps: [2, 0, 1],
};

test('the default window (last 30 days) holds the whole history, with every number', async () => {
  const r = await admin.get('/api/admin/metrics');
  assert.equal(r.status, 200, r.text);
  const m = r.json;
  const from = Date.parse(m.from), to = Date.parse(m.to);
  assert.ok(Math.abs(to - Date.now()) < 60000, `to is now: ${m.to}`);
  assert.equal(to - from, 30 * 86400000);
  checkBlock(m.overall, OVERALL, 'overall');
  checkBlock(m.by_routing_type.priority_broadcast, PRIORITY, 'priority_broadcast');
  checkBlock(m.by_routing_type.broadcast, BROADCAST, 'broadcast');
  // alex booked every chosen-mechanic session at 100 %, bob and carol at 0 %
  checkBlock(m.by_rollout_group.selection, PRIORITY, 'selection');
  checkBlock(m.by_rollout_group.control, BROADCAST, 'control');
  // the fallback session C waited out the 1 s window before Maria accepted
  assert.ok(m.by_routing_type.priority_broadcast.time_to_start.p90_seconds >= 1,
    JSON.stringify(m.by_routing_type.priority_broadcast.time_to_start));

  // every UTC day of the window, in order, and the sessions on today's
  assert.ok(m.daily.length === 30 || m.daily.length === 31, `days: ${m.daily.length}`);
  for (let i = 1; i < m.daily.length; i++) {
    assert.equal(Date.parse(`${m.daily[i].date}T00:00:00Z`) - Date.parse(`${m.daily[i - 1].date}T00:00:00Z`), 86400000);
  }
  assert.equal(m.daily[0].date, m.from.slice(0, 10));
  assert.equal(m.daily.at(-1).date, new Date(to - 1).toISOString().slice(0, 10));
  const sum = (k) => m.daily.reduce((n, d) => n + d[k], 0);
  assert.equal(sum('total'), 6);
  assert.equal(sum('broadcast'), 2);
  assert.equal(sum('priority_broadcast'), 4);
  for (const d of m.daily) assert.equal(d.total, d.broadcast + d.priority_broadcast);
});

test('an explicit window: around now it counts everything, in the past nothing', async () => {
  const now = Date.now();
  const around = `from=${new Date(now - 3600000).toISOString()}&to=${new Date(now + 3600000).toISOString()}`;
  let r = await admin.get(`/api/admin/metrics?${around}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.overall.sessions.total, 6);
  assert.ok(r.json.daily.length >= 1 && r.json.daily.length <= 2);

  r = await admin.get('/api/admin/metrics?from=2024-01-01&to=2024-01-08');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.from, '2024-01-01T00:00:00.000Z');
  assert.equal(r.json.to, '2024-01-08T00:00:00.000Z');
  checkBlock(r.json.overall, {
    sessions: { total: 0, broadcast: 0, priority_broadcast: 0 },
    acceptance: [0, 0], fallback: [0, 0], expiry: [0, 0], escalation: [0, 0], started: 0, nps: [0, 0, 0],
  }, 'past');
  assert.deepEqual(r.json.daily.map((d) => d.date),
    ['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05', '2024-01-06', '2024-01-07']);
  assert.ok(r.json.daily.every((d) => d.total === 0 && d.broadcast === 0 && d.priority_broadcast === 0));

  // a window that starts after the history: only `to` given, `from` is 30 days before it
  r = await admin.get(`/api/admin/metrics?to=${encodeURIComponent(new Date(now - 86400000 * 2).toISOString())}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.overall.sessions.total, 0);
});

test('the facts behind the numbers match the sessions themselves', async () => {
  const get = async (id) => (await admin.get(`/api/sessions/${id}`)).json;
  assert.equal((await get(ids.a)).state, 'ended');
  assert.equal((await get(ids.d)).state, 'cancelled');
  assert.equal((await get(ids.g)).state, 'expired');
});

test('only admins: 401 without a login, 403 for a customer and a mechanic', async () => {
  let r = await new Client(srv.url).get('/api/admin/metrics');
  assert.equal(r.status, 401);
  assert.ok(isErrorShape(r.json, 'unauthorized'), r.text);
  r = await alex.get('/api/admin/metrics');
  assert.equal(r.status, 403);
  assert.ok(isErrorShape(r.json), r.text);
  r = await john.get('/api/admin/metrics');
  assert.equal(r.status, 403);
});

test('bad windows are 400 with {error, message}', async () => {
  const bad = [
    'from=yesterday',
    'to=2025-13-01',
    'from=2025-02-30',
    'from=2025-01-01T10:00:00',
    'from=2025-01-01T10:00:00%2B01:00',
    'from=2025-01-02&to=2025-01-01',
    'from=2025-01-01&to=2025-01-01',
    'from=2024-01-01&to=2025-01-02', // 367 days
    'from=',
  ];
  for (const q of bad) {
    const r = await admin.get(`/api/admin/metrics?${q}`);
    assert.equal(r.status, 400, `${q}: ${r.status} ${r.text}`);
    assert.ok(isErrorShape(r.json, 'bad_request'), `${q}: ${r.text}`);
  }
  // exactly 366 days is allowed
  const r = await admin.get('/api/admin/metrics?from=2024-01-01&to=2025-01-01');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.daily.length, 366);
});

test('the admin page\'s chart library is served from node_modules through a fixed allow-list', async () => {
  const r = await fetch(`${srv.url}/vendor/chart.umd.js`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/javascript/);
  assert.match((await r.text()).slice(0, 200), /Chart\.js v4/);
  for (const path of ['/vendor/chart.js', '/vendor/chart.umd.js.map', '/vendor/', '/vendor/../package.json',
    '/vendor/%2e%2e/package.json', '/vendor/chart.js/dist/chart.umd.js', '/vendor/axe-core/axe.min.js']) {
    const x = await fetch(`${srv.url}${path}`);
    assert.equal(x.status, 404, path);
    await x.arrayBuffer();
  }
  // another vendor root: the file is looked up there, nowhere else
  const other = await startServer({ demo: false, args: ['--vendor-root', srv.dir] });
  try {
    const x = await fetch(`${other.url}/vendor/chart.umd.js`);
    assert.equal(x.status, 404);
    await x.arrayBuffer();
  } finally {
    await other.stop();
    other.cleanup();
  }
});
