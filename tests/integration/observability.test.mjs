// Logs (one JSON line per request and per routing step, with the request id) and
// avgResponseTime from real accepted offers (SPEC §4.1) replacing the defaults.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, directory, sleep } from './helpers.mjs';
import { sessionBody, vehiclesOf } from './booking_helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); srv.cleanup(); });

const lines = () => srv.stderr().split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('every request and every routing step is one JSON line; steps carry the request id', async () => {
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const [car] = await vehiclesOf(alex);
  const r = await alex.post('/api/sessions', sessionBody(car.id));
  assert.equal(r.status, 201);
  const id = r.headers.get('x-request-id');
  assert.match(id, /^[0-9a-f]{16}$/);
  await alex.post(`/api/sessions/${r.json.id}/cancel`);
  await sleep(100);
  const log = lines();
  for (const l of log) assert.ok(l.ts && l.level && l.msg, JSON.stringify(l));
  const req = log.find((l) => l.msg === 'request' && l.request_id === id);
  assert.ok(req, 'the booking request has its line');
  assert.equal(req.method, 'POST');
  assert.equal(req.route, '/api/sessions');
  assert.equal(req.status, 201);
  const steps = log.filter((l) => l.msg === 'routing' && l.session_id === r.json.id);
  assert.deepEqual(steps.map((s) => s.step), ['broadcast', 'cancelled']);
  assert.equal(steps[0].request_id, id, 'the step names the request that caused it');
});

test('avgResponseTime: defaults until 3 accepted offers, then the median, rounded up', async () => {
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  assert.equal((await john.post('/api/mechanic/presence', { status: 'online' })).status, 200);
  const mine = async () => (await directory(srv.url, '?city=Toronto&limit=50')).json.mechanics
    .find((m) => m.id === john.me.mechanic_id);
  assert.equal((await mine()).avgResponseTime, 2, 'online, no history');
  const [car] = await vehiclesOf(alex);
  for (let i = 0; i < 3; i++) {
    const s = await alex.post('/api/sessions', sessionBody(car.id, {
      preferred_mechanic_id: john.me.mechanic_id, routing_type: 'priority_broadcast' }));
    assert.equal(s.status, 201);
    assert.equal((await john.post(`/api/sessions/${s.json.id}/accept`)).status, 200);
    assert.equal((await john.post(`/api/sessions/${s.json.id}/end`, { outcome: 'resolved' })).status, 200);
    if (i < 2) assert.equal((await mine()).avgResponseTime, 2, `still the default after ${i + 1}`);
  }
  // three accepts within seconds: the median is under a minute, shown as 1 (at least 1)
  assert.equal((await mine()).avgResponseTime, 1);
  await john.post('/api/mechanic/presence', { status: 'offline' });
  assert.equal((await mine()).avgResponseTime, 1, 'from history now, whatever the presence');
});
