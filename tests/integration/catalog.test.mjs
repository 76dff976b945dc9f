// Catalogue (SPEC §4.3, §4.7): plans and the customer's vehicles.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, isErrorShape } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

test('GET /api/plans: exactly the three demo plans, prices in integer cents, no login needed', async () => {
  const r = await fetch(`${srv.url}/api/plans`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const body = await r.json();
  assert.deepEqual(Object.keys(body), ['plans']);
  assert.equal(body.plans.length, 3);
  const bySlug = Object.fromEntries(body.plans.map((p) => [p.slug, p]));
  assert.deepEqual(Object.keys(bySlug).sort(), ['diagnostic', 'free', 'video']);
  for (const p of body.plans) {
    assert.deepEqual(Object.keys(p).sort(), ['name', 'slug', 'specialist_price_cents', 'standard_price_cents']);
    assert.ok(Number.isInteger(p.standard_price_cents) && Number.isInteger(p.specialist_price_cents), 'integer cents');
    assert.equal(typeof p.name, 'string');
  }
  assert.equal(bySlug.free.standard_price_cents, 0);
  assert.equal(bySlug.free.specialist_price_cents, 0);
  assert.equal(bySlug.video.name, 'Standard Video');
  assert.equal(bySlug.video.standard_price_cents, 2999);
  assert.equal(bySlug.video.specialist_price_cents, 3999);
  assert.equal(bySlug.diagnostic.name, 'Full Diagnostic');
  assert.equal(bySlug.diagnostic.standard_price_cents, 4999);
  assert.equal(bySlug.diagnostic.specialist_price_cents, 5999);
  // the raw text has no floating point prices
  const text = await (await fetch(`${srv.url}/api/plans`)).text();
  assert.doesNotMatch(text, /_cents":\s*\d+\.\d/);
});

test('GET /api/vehicles: alex has his two demo vehicles', async () => {
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const r = await alex.get('/api/vehicles');
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.json), ['vehicles']);
  const seen = r.json.vehicles.map((v) => `${v.year} ${v.make} ${v.model}`).sort();
  assert.deepEqual(seen, ['2017 Honda Civic', '2020 Tesla Model 3']);
  for (const v of r.json.vehicles) {
    assert.deepEqual(Object.keys(v).sort(), ['id', 'make', 'model', 'year']);
    assert.equal(typeof v.id, 'string');
    assert.ok(Number.isInteger(v.year));
  }
  assert.notEqual(r.json.vehicles[0].id, r.json.vehicles[1].id);
});

test('POST /api/vehicles: valid → 201 and listed; bad year/make/model → 400; nothing stored on failure', async () => {
  const c = new Client(srv.url);
  const reg = await c.post('/api/auth/register', { email: `veh.${Date.now()}@example.test`, password: 'long-enough-pw', name: 'Veh Owner', city: 'Toronto' });
  assert.equal(reg.status, 201, reg.text);
  c.csrf = reg.json.csrf_token;
  const empty = await c.get('/api/vehicles');
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.json.vehicles, [], 'a new customer has no vehicles');

  const made = await c.post('/api/vehicles', { year: 2019, make: 'Toyota', model: 'RAV4 Hybrid' });
  assert.equal(made.status, 201, made.text);
  assert.equal(made.json.year, 2019);
  assert.equal(made.json.make, 'Toyota');
  assert.equal(made.json.model, 'RAV4 Hybrid');
  assert.equal(typeof made.json.id, 'string');
  assert.ok(made.json.id.length > 0);

  const thisYear = new Date().getUTCFullYear();
  const bad = [
    ['year as string', { year: '2019', make: 'Toyota', model: 'Corolla' }],
    ['year fractional', { year: 2019.5, make: 'Toyota', model: 'Corolla' }],
    ['year too old', { year: 1800, make: 'Toyota', model: 'Corolla' }],
    ['year far future', { year: thisYear + 10, make: 'Toyota', model: 'Corolla' }],
    ['year negative', { year: -2019, make: 'Toyota', model: 'Corolla' }],
    ['year missing', { make: 'Toyota', model: 'Corolla' }],
    ['make missing', { year: 2019, model: 'Corolla' }],
    ['make empty', { year: 2019, make: '', model: 'Corolla' }],
    ['make number', { year: 2019, make: 7, model: 'Corolla' }],
    ['model missing', { year: 2019, make: 'Toyota' }],
    ['model empty', { year: 2019, make: 'Toyota', model: '' }],
    ['model null', { year: 2019, make: 'Toyota', model: null }],
    ['model with control character', { year: 2019, make: 'Toyota', model: 'Coro\u0001lla' }],
    ['model very long', { year: 2019, make: 'Toyota', model: 'x'.repeat(5000) }],
  ];
  for (const [label, body] of bad) {
    const r = await c.post('/api/vehicles', body);
    assert.equal(r.status, 400, `${label}: ${r.status} ${r.text}`);
    assert.ok(isErrorShape(r.json), `${label}: ${r.text}`);
  }
  for (const raw of ['[]', '"car"', '{', '']) {
    const r = await c.request('POST', '/api/vehicles', { raw, headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 400, `raw ${JSON.stringify(raw)}: ${r.text}`);
    assert.ok(isErrorShape(r.json));
  }
  const list = await c.get('/api/vehicles');
  assert.deepEqual(list.json.vehicles, [made.json], 'only the valid vehicle was stored');
});

test("vehicles are private: alex does not see another customer's, and vice versa", async () => {
  const c = new Client(srv.url);
  const reg = await c.post('/api/auth/register', { email: `priv.${Date.now()}@example.test`, password: 'long-enough-pw', name: 'Private Owner', city: 'Toronto' });
  assert.equal(reg.status, 201);
  c.csrf = reg.json.csrf_token;
  const mine = await c.post('/api/vehicles', { year: 2011, make: 'Saab', model: '9-3' });
  assert.equal(mine.status, 201);

  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const a = await alex.get('/api/vehicles');
  assert.ok(!a.json.vehicles.some((v) => v.id === mine.json.id || v.make === 'Saab'), 'not visible to alex');
  const o = await c.get('/api/vehicles');
  assert.deepEqual(o.json.vehicles.map((v) => v.id), [mine.json.id]);
  assert.ok(!o.json.vehicles.some((v) => v.make === 'Tesla' || v.make === 'Honda'), "alex's are not visible to others");
});

test('vehicles need a customer: anonymous 401, mechanic and admin 403', async () => {
  const anon = new Client(srv.url);
  const g = await anon.get('/api/vehicles');
  assert.equal(g.status, 401);
  assert.ok(isErrorShape(g.json));
  const p = await anon.post('/api/vehicles', { year: 2020, make: 'Kia', model: 'Soul' });
  assert.equal(p.status, 401);
  for (const email of ['john.smith@demo.test', 'admin@demo.test']) {
    const m = await loggedIn(srv.url, email);
    const mg = await m.get('/api/vehicles');
    assert.equal(mg.status, 403, `${email} GET`);
    assert.ok(isErrorShape(mg.json));
    const mp = await m.post('/api/vehicles', { year: 2020, make: 'Kia', model: 'Soul' });
    assert.equal(mp.status, 403, `${email} POST`);
    assert.ok(isErrorShape(mp.json));
  }
});
