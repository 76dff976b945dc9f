// The operator's API (SPEC §4.6): rollout of mechanic selection, mechanic approval and
// suspension with their live effects, and GET /metrics in the Prometheus text format.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, loggedIn, Client, SSE, directory, sleep } from './helpers.mjs';
import { sessionBody, vehiclesOf } from './booking_helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); srv.cleanup(); });

const put = (c, body, opts) => c.request('PUT', '/api/admin/rollout', { body, ...opts });

test('rollout: admins only, validated, persisted, and honoured by /api/me and booking', async () => {
  const admin = await loggedIn(srv.url, 'admin@demo.test');
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  assert.equal((await new Client(srv.url).get('/api/admin/rollout')).status, 401);
  assert.equal((await alex.get('/api/admin/rollout')).status, 403);
  assert.equal((await put(alex, { mechanic_selection_percent: 0 })).status, 403);
  assert.deepEqual((await admin.get('/api/admin/rollout')).json, { mechanic_selection_percent: 100 });
  assert.equal(alex.me.mechanic_selection, true);
  for (const bad of [-1, 101, 50.5, '50', null]) {
    const r = await put(admin, { mechanic_selection_percent: bad });
    assert.equal(r.status, 400, String(bad));
    assert.equal(r.json.error, 'bad_request');
  }
  assert.equal((await put(admin, { mechanic_selection_percent: 0 }, { csrf: false })).status, 403);
  assert.deepEqual((await put(admin, { mechanic_selection_percent: 0 })).json, { mechanic_selection_percent: 0 });
  assert.equal((await alex.get('/api/me')).json.mechanic_selection, false);

  // outside the rollout a customer cannot name a mechanic, but can still book
  const [car] = await vehiclesOf(alex);
  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  const denied = await alex.post('/api/sessions', sessionBody(car.id, {
    preferred_mechanic_id: john.me.mechanic_id, routing_type: 'priority_broadcast' }));
  assert.equal(denied.status, 400);
  assert.match(denied.json.message, /not available for your account/);
  const before = (await alex.get('/api/me')).json.credit_balance_cents;
  const ok = await alex.post('/api/sessions', sessionBody(car.id));
  assert.equal(ok.status, 201);
  assert.equal((await alex.post(`/api/sessions/${ok.json.id}/cancel`)).status, 200);
  assert.equal((await alex.get('/api/me')).json.credit_balance_cents, before);

  // persisted: a restart keeps 0%
  await srv.stop();
  srv = await startServer({ dir: srv.dir, port: srv.port, demo: false });
  const admin2 = await loggedIn(srv.url, 'admin@demo.test');
  assert.deepEqual((await admin2.get('/api/admin/rollout')).json, { mechanic_selection_percent: 0 });
  assert.equal((await put(admin2, { mechanic_selection_percent: 100 })).status, 200);
  assert.equal((await (await loggedIn(srv.url, 'alex@demo.test')).get('/api/me')).json.mechanic_selection, true);
});

test('approval and suspension: lists, live presence and offers', async () => {
  const admin = await loggedIn(srv.url, 'admin@demo.test');
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  assert.equal((await alex.get('/api/admin/mechanics')).status, 403);
  assert.equal((await admin.get('/api/admin/mechanics?status=nope')).status, 400);
  const pending = (await admin.get('/api/admin/mechanics?status=pending')).json.mechanics;
  assert.deepEqual(pending.map((m) => m.name), ['Priya Patel']);
  const suspended = (await admin.get('/api/admin/mechanics?status=suspended')).json.mechanics;
  assert.deepEqual(suspended.map((m) => m.name), ['Tom Baker']);
  assert.equal((await admin.post('/api/admin/mechanics/no-such-id/approve')).status, 404);

  const approved = await admin.post(`/api/admin/mechanics/${pending[0].id}/approve`);
  assert.equal(approved.status, 200);
  assert.equal(approved.json.status, 'approved');
  assert.equal(approved.json.can_accept_sessions, true);
  const priya = await loggedIn(srv.url, 'priya.patel@demo.test');
  assert.equal((await priya.post('/api/mechanic/presence', { status: 'online' })).status, 200);
  assert.ok((await directory(srv.url, '?city=Toronto&limit=50')).json.mechanics.some((m) => m.id === pending[0].id));

  // Priya holds a broadcast offer; suspending her takes her offline (announced), withdraws it
  const presence = await new SSE(`${srv.url}/api/presence/stream?ids=${pending[0].id}`).open();
  await presence.waitFor(1);
  const dash = await new SSE(`${srv.url}/api/mechanic/stream`, { Cookie: priya.cookieHeader() }).open();
  const [car] = await vehiclesOf(alex);
  const s = await alex.post('/api/sessions', sessionBody(car.id));
  assert.equal(s.status, 201);
  const offer = (await dash.waitFor(1)).find((e) => e.event === 'offer');
  assert.equal(offer.json.session_id, s.json.id);

  const r = await admin.post(`/api/admin/mechanics/${pending[0].id}/suspend`);
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'suspended');
  assert.equal(r.json.presence, 'offline');
  const withdrawn = (await dash.waitFor(2))[1];
  assert.equal(withdrawn.event, 'offer_withdrawn');
  assert.deepEqual(withdrawn.json, { session_id: s.json.id, reason: 'suspended' });
  const ev = (await presence.waitFor(2))[1];
  assert.equal(ev.json.presence, 'offline');
  assert.equal(ev.json.reason, 'suspended');
  assert.ok(!(await directory(srv.url, '?city=Toronto&limit=50')).json.mechanics.some((m) => m.id === pending[0].id));
  const again = await priya.post('/api/mechanic/presence', { status: 'online' });
  assert.equal(again.status, 403);
  assert.equal(again.json.error, 'not_approved');
  assert.equal((await priya.post(`/api/sessions/${s.json.id}/accept`)).status, 409);

  // suspending an offline mechanic is announced too: lists drop them live
  const sarah = await loggedIn(srv.url, 'sarah.johnson@demo.test');
  const sp = await new SSE(`${srv.url}/api/presence/stream?ids=${sarah.me.mechanic_id}`).open();
  await sp.waitFor(1);
  await admin.post(`/api/admin/mechanics/${sarah.me.mechanic_id}/suspend`);
  assert.equal((await sp.waitFor(2))[1].json.reason, 'suspended');
  await admin.post(`/api/admin/mechanics/${sarah.me.mechanic_id}/approve`);
  for (const x of [presence, dash, sp]) x.close();
  await alex.post(`/api/sessions/${s.json.id}/cancel`);
});

function parseExposition(text) {
  const samples = [];
  const types = new Map();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const t = line.match(/^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/);
    if (t) { types.set(t[1], t[2]); continue; }
    if (line.startsWith('# HELP ')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/);
    assert.ok(m, `not a valid exposition line: ${line}`);
    samples.push({ name: m[1], labels: m[2] || '', value: Number(m[3]) });
  }
  return { samples, types };
}

const value = (samples, name, labels = '') => samples.find((s) => s.name === name && s.labels === labels)?.value;

test('GET /metrics: Prometheus text, pitwall_ prefix, counters that move', async () => {
  const r = await fetch(`${srv.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const first = parseExposition(await r.text());
  for (const s of first.samples) assert.ok(s.name.startsWith('pitwall_'), s.name);
  for (const name of first.types.keys()) assert.ok(name.startsWith('pitwall_'), name);
  const healthz = '{route="/healthz",status="200"}';
  const before = value(first.samples, 'pitwall_http_requests_total', healthz) || 0;
  for (let i = 0; i < 5; i++) await fetch(`${srv.url}/healthz`);
  const s = await new SSE(`${srv.url}/api/presence/stream?ids=x-1`).open();
  await s.waitFor(1);
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const now = parseExposition(text);
  assert.equal(value(now.samples, 'pitwall_http_requests_total', healthz), before + 5);
  assert.ok(value(now.samples, 'pitwall_streams_open', '{kind="presence"}') >= 1);
  assert.equal(now.types.get('pitwall_http_request_duration_seconds'), 'histogram');
  assert.equal(value(now.samples, 'pitwall_http_request_duration_seconds_bucket', '{le="+Inf"}'),
    value(now.samples, 'pitwall_http_request_duration_seconds_count'));
  s.close();
  // promtool (Debian's prometheus package) when present: the format as Prometheus reads it
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (check.error && check.error.code === 'ENOENT') return;
  assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  await sleep(10);
});
