// The directory with --demo-mechanics 300: ordering, limit, counts and filters at size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, getJson, assertRanked } from './helpers.mjs';

const N = 300;
let srv;
before(async () => { srv = await startServer({ args: ['--demo-mechanics', String(N)] }); });
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

const q = (query) => getJson(`${srv.url}/api/mechanics/available${query}`);

test('generated mechanics are listed; limit clamps to 50; total counts all matches', async () => {
  const r = await q('?limit=50');
  assert.equal(r.status, 200);
  assert.equal(r.json.mechanics.length, 50);
  const big = await q('?limit=500');
  assert.equal(big.status, 200);
  assert.equal(big.json.mechanics.length, 50, 'clamped to 50');
  assert.deepEqual(big.json, r.json);
  // 11 bookable seed mechanics plus the generated ones that are bookable
  assert.ok(r.json.total > 11 && r.json.total <= 11 + N, `total ${r.json.total}`);
  assert.ok(r.json.total >= 11 + Math.floor(N * 0.5), `most generated mechanics are listed: ${r.json.total}`);
  assertRanked(r.json.mechanics, 'limit=50');
  const d = await q('');
  assert.equal(d.json.mechanics.length, 10);
  assert.deepEqual(d.json.mechanics, r.json.mechanics.slice(0, 10), 'the default page is the head of the larger one');
  assert.equal(d.json.total, r.json.total);
  for (const m of r.json.mechanics) {
    assert.equal(m.status, 'approved');
    assert.equal(m.can_accept_sessions, true);
    assert.equal(m.is_available, m.presence === 'online');
  }
  assert.ok(r.json.mechanics.some((m) => !['John Smith', 'Maria Garcia', 'Sarah Johnson', 'Liam Obrien'].includes(m.name)),
    'generated mechanics appear among the top 50');
});

test('per-city pages: ordering holds over every returned list and counts are consistent', async () => {
  const all = await q('?limit=50');
  let sum = 0;
  const cities = ['Toronto', 'Mississauga', 'Brampton', 'Markham', 'Vaughan', 'Vancouver', 'Montreal',
    'Calgary', 'Ottawa', 'Edmonton', 'Winnipeg', 'Halifax'];
  for (const city of cities) {
    const r = await q(`?city=${city.toLowerCase()}&limit=50`);
    assert.equal(r.status, 200);
    assertRanked(r.json.mechanics, city);
    assert.ok(r.json.mechanics.every((m) => m.city.toLowerCase() === city.toLowerCase()), city);
    assert.equal(r.json.mechanics.length, Math.min(50, r.json.total), `${city}: page size`);
    const small = await q(`?city=${city}&limit=3`);
    assert.deepEqual(small.json.mechanics, r.json.mechanics.slice(0, 3), `${city}: limit=3 is a prefix`);
    assert.equal(small.json.total, r.json.total);
    sum += r.json.total;
  }
  assert.ok(sum <= all.json.total, 'city totals never exceed the whole');
  const tor = await q('?city=Toronto&limit=50');
  assert.ok(tor.json.total > 5, 'generated Toronto mechanics exist');
});

test('specialist + make filter at size', async () => {
  for (const make of ['Tesla', 'bmw', 'HONDA', 'Mercedes-Benz']) {
    const r = await q(`?is_specialist=true&vehicle_make=${encodeURIComponent(make)}&limit=50`);
    assert.equal(r.status, 200);
    assertRanked(r.json.mechanics, make);
    assert.ok(r.json.total > 0, `${make} specialists exist`);
    for (const m of r.json.mechanics) {
      assert.equal(m.is_brand_specialist, true);
      assert.ok(m.brand_specializations.some((b) => b.toLowerCase() === make.toLowerCase()), `${m.name} does ${make}`);
      assert.ok(m.specializations.length <= 3);
      assert.equal(m.specializations[0], m.brand_specializations[0]);
    }
  }
});

test('generated mechanics can log in and go online; they then lead and are counted', async () => {
  const gen = [];
  for (let i = 1; i <= 3; i++) gen.push(await loggedIn(srv.url, `mechanic${i}@gen.demo.test`));
  const before1 = await q('?limit=50');
  const approved = [];
  for (const g of gen) {
    const r = await g.post('/api/mechanic/presence', { status: 'online' });
    if (r.status === 200) approved.push(g);
    else assert.equal(r.json.error, 'not_approved', `${g.me.email}: ${r.text}`);
  }
  assert.ok(approved.length > 0, 'at least one of the first three generated mechanics is bookable');
  try {
    const r = await q('?limit=50');
    assertRanked(r.json.mechanics);
    assert.equal(r.json.online, before1.json.online + approved.length);
    const head = r.json.mechanics.slice(0, approved.length).map((m) => m.id).sort();
    assert.deepEqual(head, approved.map((g) => g.me.mechanic_id).sort(), 'the online ones lead');
    for (const m of r.json.mechanics.slice(0, approved.length)) assert.equal(m.avgResponseTime, 2);
    const one = await q('?limit=1');
    assert.equal(one.json.online, r.json.online);
    assert.equal(one.json.total, r.json.total);
  } finally {
    for (const g of approved) await g.post('/api/mechanic/presence', { status: 'offline' });
  }
});
