// The directory GET /api/mechanics/available (SPEC §2, §4.1, §4.7) on the demo data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, directory, getJson, assertRanked, isErrorShape } from './helpers.mjs';

let srv;
const ids = {}; // email -> mechanic_id
const clients = {};
before(async () => {
  srv = await startServer();
  for (const email of ['john.smith@demo.test', 'maria.garcia@demo.test', 'sarah.johnson@demo.test',
    'david.kim@demo.test', 'emily.davis@demo.test', 'mike.chen@demo.test', 'priya.patel@demo.test',
    'tom.baker@demo.test']) {
    const c = await loggedIn(srv.url, email);
    clients[email] = c;
    ids[email] = c.me.mechanic_id;
  }
});
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

const q = (query) => getJson(`${srv.url}/api/mechanics/available${query}`);

const FIELDS = ['id', 'name', 'profile_photo_url', 'rating', 'completed_sessions', 'years_of_experience',
  'is_brand_specialist', 'brand_specializations', 'service_keywords', 'city', 'country', 'status',
  'can_accept_sessions', 'presence', 'is_available', 'last_seen_at', 'avgResponseTime', 'specializations'];

function expectedLabels(m) {
  const labels = [...(m.is_brand_specialist ? m.brand_specializations : []), ...m.service_keywords,
    `${m.years_of_experience} yrs exp`];
  return labels.slice(0, 3);
}

function checkMechanic(m) {
  for (const f of FIELDS) assert.ok(f in m, `field ${f} present in ${JSON.stringify(m)}`);
  for (const f of ['email', 'password_hash', 'user_id', 'password']) assert.ok(!(f in m), `no account field ${f}`);
  assert.equal(typeof m.id, 'string');
  assert.equal(typeof m.name, 'string');
  assert.ok(m.profile_photo_url === null || typeof m.profile_photo_url === 'string');
  assert.equal(typeof m.rating, 'number');
  assert.ok(m.rating >= 0 && m.rating <= 5, `rating in 0..5: ${m.rating}`);
  assert.equal(Math.round(m.rating * 10) / 10, m.rating, `one decimal: ${m.rating}`);
  assert.ok(Number.isInteger(m.completed_sessions) && m.completed_sessions >= 0);
  assert.ok(Number.isInteger(m.years_of_experience) && m.years_of_experience >= 0);
  assert.equal(typeof m.is_brand_specialist, 'boolean');
  assert.ok(Array.isArray(m.brand_specializations) && m.brand_specializations.every((s) => typeof s === 'string'));
  assert.ok(Array.isArray(m.service_keywords) && m.service_keywords.every((s) => typeof s === 'string'));
  assert.equal(typeof m.city, 'string');
  assert.equal(typeof m.country, 'string');
  assert.equal(m.status, 'approved', 'only approved mechanics are listed');
  assert.equal(m.can_accept_sessions, true, 'only mechanics who can accept are listed');
  assert.ok(['online', 'offline', 'busy'].includes(m.presence));
  assert.equal(m.is_available, m.presence === 'online');
  assert.ok(m.last_seen_at === null || !Number.isNaN(Date.parse(m.last_seen_at)), `last_seen_at: ${m.last_seen_at}`);
  if (m.last_seen_at !== null) assert.match(m.last_seen_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  // no session history in demo data: 2 when online, 5 otherwise
  assert.equal(m.avgResponseTime, m.presence === 'online' ? 2 : 5, `avgResponseTime of ${m.name}`);
  assert.ok(Array.isArray(m.specializations) && m.specializations.length <= 3);
  assert.deepEqual(m.specializations, expectedLabels(m), `specializations of ${m.name}`);
}

test('the full list: only approved mechanics who can accept, every field, ranked, counts', async () => {
  const r = await q('?limit=50');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(Object.keys(r.json).sort(), ['mechanics', 'online', 'total']);
  const list = r.json.mechanics;
  // 13 demo mechanics, Priya (pending) and Tom (suspended) are never listed
  assert.equal(list.length, 11);
  assert.equal(r.json.total, 11);
  assert.equal(r.json.online, list.filter((m) => m.presence === 'online').length);
  const got = new Set(list.map((m) => m.id));
  assert.equal(got.size, list.length, 'no duplicates');
  assert.ok(!got.has(ids['priya.patel@demo.test']), 'pending Priya not listed');
  assert.ok(!got.has(ids['tom.baker@demo.test']), 'suspended Tom not listed');
  assert.ok(!list.some((m) => /Priya|Tom Baker/.test(m.name)));
  for (const m of list) checkMechanic(m);
  assertRanked(list);
  const john = list.find((m) => m.id === ids['john.smith@demo.test']);
  assert.equal(john.name, 'John Smith');
  assert.equal(john.rating, 4.9);
  assert.equal(john.is_brand_specialist, true);
  assert.deepEqual(john.brand_specializations, ['Tesla', 'BMW', 'Audi']);
  assert.deepEqual(john.specializations, ['Tesla', 'BMW', 'Audi']);
  assert.equal(john.city, 'Toronto');
  // and with include_busy=true or any filter, still never the pending / suspended ones
  for (const extra of ['&include_busy=true', '&city=Toronto', '&city=Toronto&is_specialist=true&vehicle_make=Ford']) {
    const x = await q(`?limit=50${extra}`);
    assert.equal(x.status, 200);
    assert.ok(!x.json.mechanics.some((m) => m.id === ids['priya.patel@demo.test'] || m.id === ids['tom.baker@demo.test']), extra);
  }
});

test('pending and suspended mechanics stay out even after trying to go online', async () => {
  for (const email of ['priya.patel@demo.test', 'tom.baker@demo.test']) {
    const r = await clients[email].post('/api/mechanic/presence', { status: 'online' });
    assert.equal(r.status, 403);
  }
  const r = await q('?city=Toronto&limit=50&include_busy=true');
  assert.ok(!r.json.mechanics.some((m) => m.id === ids['priya.patel@demo.test'] || m.id === ids['tom.baker@demo.test']));
});

test('order: online first, then rating, then completed sessions, then id; total before limit', async () => {
  const emily = clients['emily.davis@demo.test'];
  const mike = clients['mike.chen@demo.test'];
  assert.equal((await emily.post('/api/mechanic/presence', { status: 'online' })).status, 200);
  assert.equal((await mike.post('/api/mechanic/presence', { status: 'online' })).status, 200);
  try {
    const all = await q('?limit=50');
    assertRanked(all.json.mechanics);
    assert.equal(all.json.online, 2);
    // Mike (4.7) before Emily (4.5): the two online ones lead, by rating
    assert.deepEqual(all.json.mechanics.slice(0, 2).map((m) => m.id), [ids['mike.chen@demo.test'], ids['emily.davis@demo.test']]);
    assert.equal(all.json.mechanics[0].avgResponseTime, 2);
    assert.equal(all.json.mechanics[2].avgResponseTime, 5);

    const tor = await q('?city=Toronto');
    assert.equal(tor.status, 200);
    assert.equal(tor.json.total, 5, 'John, Maria, Sarah, David, Emily');
    assert.equal(tor.json.online, 1);
    assert.equal(tor.json.mechanics[0].id, ids['emily.davis@demo.test'], 'online Emily leads Toronto despite her rating');
    assertRanked(tor.json.mechanics);
    assert.ok(tor.json.mechanics.every((m) => m.city === 'Toronto'));
    // Sarah and Maria share 4.8: more completed sessions first
    const names = tor.json.mechanics.map((m) => m.name);
    assert.deepEqual(names, ['Emily Davis', 'John Smith', 'Sarah Johnson', 'Maria Garcia', 'David Kim']);

    for (const limit of [1, 2, 3]) {
      const l = await q(`?city=Toronto&limit=${limit}`);
      assert.equal(l.status, 200);
      assert.equal(l.json.mechanics.length, limit);
      assert.equal(l.json.total, 5, 'total counts before the limit');
      assert.equal(l.json.online, 1, 'online counts before the limit');
      assert.deepEqual(l.json.mechanics, tor.json.mechanics.slice(0, limit));
    }
    const one = await q('?limit=1');
    assert.equal(one.json.total, 11);
    assert.equal(one.json.online, 2);
  } finally {
    await emily.post('/api/mechanic/presence', { status: 'offline' });
    await mike.post('/api/mechanic/presence', { status: 'offline' });
  }
});

test('limit: default 10, above 50 clamped, and invalid values → 400', async () => {
  const d = await q('');
  assert.equal(d.status, 200);
  assert.equal(d.json.mechanics.length, 10, 'default limit 10');
  assert.equal(d.json.total, 11);
  const big = await q('?limit=1000');
  assert.equal(big.status, 200, 'a limit above 50 is clamped, not refused');
  assert.equal(big.json.mechanics.length, 11);
  const huge = await q('?limit=99999999999999999999999');
  assert.equal(huge.status, 200, `a huge limit is clamped too: ${huge.text}`);
  for (const bad of ['0', '-1', 'abc', '1.5', '', '1e3', '0x10', ' 5', '5abc', '-0']) {
    const r = await q(`?limit=${encodeURIComponent(bad)}`);
    assert.equal(r.status, 400, `limit=${JSON.stringify(bad)}: ${r.status} ${r.text}`);
    assert.ok(isErrorShape(r.json), r.text);
  }
});

test('is_specialist and include_busy accept exactly true/false', async () => {
  for (const name of ['is_specialist', 'include_busy']) {
    for (const v of ['true', 'false']) assert.equal((await q(`?${name}=${v}`)).status, 200, `${name}=${v}`);
    for (const bad of ['yes', '1', '0', 'TRUE', 'True', '', 'truee', 'null']) {
      const r = await q(`?${name}=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 400, `${name}=${JSON.stringify(bad)}: ${r.status} ${r.text}`);
      assert.ok(isErrorShape(r.json));
    }
  }
});

test('parameters: over 200 characters, control characters, bad UTF-8, bad escapes → 400', async () => {
  const ok200 = await q(`?city=${'a'.repeat(200)}`);
  assert.equal(ok200.status, 200, '200 characters is allowed');
  assert.equal(ok200.json.total, 0);
  const cases = [
    ['city 201 chars', `?city=${'a'.repeat(201)}`],
    ['vehicle_make 201 chars', `?vehicle_make=${'b'.repeat(201)}&is_specialist=true`],
    ['limit 201 chars', `?limit=${'1'.repeat(201)}`],
    ['unknown parameter 201 chars', `?note=${'c'.repeat(201)}`],
    ['city 1000 chars', `?city=${'d'.repeat(1000)}`],
    ['%01 in city', '?city=Tor%01onto'],
    ['%7F in city', '?city=Toronto%7F'],
    ['%1F in vehicle_make', '?vehicle_make=Tes%1Fla'],
    ['%0A in city', '?city=Toronto%0A'],
    ['%09 in city', '?city=%09Toronto'],
    ['%00 in city', '?city=Tor%00onto'],
    ['%FF (invalid UTF-8)', '?city=%FF'],
    ['%C3 alone (truncated UTF-8)', '?city=Montr%C3al'],
    ['overlong UTF-8 %C0%AF', '?city=%C0%AF'],
    ['UTF-16 surrogate %ED%A0%80', '?city=%ED%A0%80'],
    ['C1 control %C2%85', '?city=%C2%85'],
    ['control in an unknown parameter', '?foo=%01'],
    ['bad escape %ZZ', '?city=%ZZ'],
    ['truncated escape %4', '?city=%4'],
    ['lone %', '?city=%'],
    ['bad escape in key', '?ci%ZZty=Toronto'],
  ];
  for (const [label, query] of cases) {
    const r = await q(query);
    assert.equal(r.status, 400, `${label}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.ok(isErrorShape(r.json), `${label}: ${r.text.slice(0, 200)}`);
  }
  // clean non-ASCII text is fine
  const utf = await q(`?city=${encodeURIComponent('Montréal')}`);
  assert.equal(utf.status, 200);
});

test('the 200-character limit counts characters, not bytes', async () => {
  const r = await q(`?city=${encodeURIComponent('é'.repeat(150))}`);
  assert.equal(r.status, 200, `150 characters (300 bytes) is within the limit: ${r.status} ${r.text}`);
  const over = await q(`?city=${encodeURIComponent('é'.repeat(201))}`);
  assert.equal(over.status, 400);
});

test('city and vehicle_make are compared case-insensitively; specialist + make filters', async () => {
  const base = await q('?city=Toronto&limit=50');
  for (const city of ['toronto', 'TORONTO', 'tOrOnTo']) {
    const r = await q(`?city=${city}&limit=50`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, base.json, `city=${city}`);
  }
  const tesla = await q('?city=Toronto&is_specialist=true&vehicle_make=Tesla');
  assert.equal(tesla.status, 200);
  assert.deepEqual(tesla.json.mechanics.map((m) => m.name).sort(), ['David Kim', 'John Smith']);
  assert.equal(tesla.json.total, 2);
  assertRanked(tesla.json.mechanics);
  for (const m of tesla.json.mechanics) {
    assert.equal(m.is_brand_specialist, true);
    assert.ok(m.brand_specializations.some((b) => b.toLowerCase() === 'tesla'));
    assert.equal(m.specializations[0], 'Tesla', 'brands come first for specialists');
  }
  for (const [city, make] of [['toronto', 'tesla'], ['TORONTO', 'TESLA'], ['Toronto', 'tEsLa']]) {
    const r = await q(`?city=${city}&is_specialist=true&vehicle_make=${make}`);
    assert.deepEqual(r.json, tesla.json, `${city}/${make}`);
  }
  const honda = await q('?city=Toronto&is_specialist=true&vehicle_make=honda');
  assert.deepEqual(honda.json.mechanics.map((m) => m.name), ['Maria Garcia']);
  const anyTesla = await q('?is_specialist=true&vehicle_make=TESLA&limit=50');
  assert.deepEqual(anyTesla.json.mechanics.map((m) => m.name).sort(), ['David Kim', 'John Smith', 'Liam Obrien']);
  const none = await q('?city=Toronto&is_specialist=true&vehicle_make=Lada');
  assert.equal(none.status, 200);
  assert.deepEqual(none.json, { mechanics: [], total: 0, online: 0 });
  const nowhere = await q('?city=Atlantis');
  assert.deepEqual(nowhere.json, { mechanics: [], total: 0, online: 0 });
  // decisions.md: is_specialist=true without a make lists brand specialists of any make;
  // is_specialist=false ignores the make
  const spec = await q('?city=Toronto&is_specialist=true&limit=50');
  assert.ok(spec.json.mechanics.length > 0);
  assert.ok(spec.json.mechanics.every((m) => m.is_brand_specialist));
  assert.equal(spec.json.total, base.json.mechanics.filter((m) => m.is_brand_specialist).length);
  const notSpec = await q('?city=Toronto&is_specialist=false&vehicle_make=Tesla&limit=50');
  assert.deepEqual(notSpec.json, base.json);
});

test('specializations: at most 3, brands first for specialists, then keywords, then "N yrs exp"', async () => {
  const r = await q('?limit=50');
  const byName = Object.fromEntries(r.json.mechanics.map((m) => [m.name, m]));
  assert.deepEqual(byName['Maria Garcia'].specializations.slice(0, 1), ['Honda']);
  const mike = byName['Mike Chen'];
  assert.equal(mike.is_brand_specialist, false);
  assert.equal(mike.specializations.at(-1), `${mike.years_of_experience} yrs exp`, 'a non-specialist with 2 keywords ends with experience');
  for (const m of r.json.mechanics) assert.deepEqual(m.specializations, expectedLabels(m), m.name);
});

test('the directory reflects a presence change at once (no stale cached answer)', async () => {
  const emily = clients['emily.davis@demo.test'];
  const eid = ids['emily.davis@demo.test'];
  for (let round = 0; round < 3; round++) {
    const before1 = await q('?city=Toronto');
    const before2 = await q('?limit=50');
    assert.notEqual(before1.json.mechanics[0].id, eid);
    assert.equal(before1.json.online, 0);

    assert.equal((await emily.post('/api/mechanic/presence', { status: 'online' })).status, 200);
    const on1 = await q('?city=Toronto');
    const on2 = await q('?limit=50');
    const on3 = await q('?city=toronto&limit=3');
    assert.equal(on1.json.mechanics[0].id, eid, `round ${round}: Emily leads Toronto right after going online`);
    assert.equal(on1.json.mechanics[0].presence, 'online');
    assert.equal(on1.json.mechanics[0].is_available, true);
    assert.equal(on1.json.mechanics[0].avgResponseTime, 2);
    assert.equal(on1.json.online, 1);
    assert.equal(on2.json.mechanics[0].id, eid);
    assert.equal(on2.json.online, before2.json.online + 1);
    assert.equal(on3.json.mechanics[0].id, eid);
    assert.ok(on1.json.mechanics[0].last_seen_at, 'going online sets last_seen_at');

    assert.equal((await emily.post('/api/mechanic/presence', { status: 'offline' })).status, 200);
    const off1 = await q('?city=Toronto');
    assert.notEqual(off1.json.mechanics[0].id, eid, `round ${round}: Emily no longer leads right after going offline`);
    assert.equal(off1.json.online, 0);
    const em = off1.json.mechanics.find((m) => m.id === eid);
    assert.equal(em.presence, 'offline');
    assert.equal(em.is_available, false);
    assert.equal(em.avgResponseTime, 5);
    assertRanked(off1.json.mechanics);
  }
});

test('repeated parameters: the first value counts; unknown parameters are ignored', async () => {
  const a = await q('?limit=1&limit=5');
  assert.equal(a.status, 200);
  assert.equal(a.json.mechanics.length, 1);
  const b = await q('?city=Toronto&foo=bar&utm_source=x');
  assert.equal(b.status, 200);
  assert.equal(b.json.total, 5);
});

test('the directory needs no login and answers HEAD', async () => {
  const r = await directory(srv.url, '?city=Toronto');
  assert.equal(r.status, 200);
  const h = await fetch(`${srv.url}/api/mechanics/available?city=Toronto`, { method: 'HEAD' });
  assert.equal(h.status, 200);
});
