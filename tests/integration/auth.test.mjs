// Accounts (SPEC §4.3, §4.7): login, cookies, CSRF, Origin, throttling, register, me, logout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, DEMO_PASSWORD, isErrorShape, eventually } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

let uniq = 0;
const newEmail = (tag = 'user') => `${tag}.${process.pid}.${Date.now()}.${++uniq}@example.test`;

// Parses one Set-Cookie header into { name, value, attrs: Map(lower-case name -> value) }.
function parseSetCookie(line) {
  const [pair, ...attrs] = line.split(';').map((s) => s.trim());
  const eq = pair.indexOf('=');
  const m = new Map();
  for (const a of attrs) {
    const i = a.indexOf('=');
    if (i < 0) m.set(a.toLowerCase(), true); else m.set(a.slice(0, i).toLowerCase(), a.slice(i + 1));
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attrs: m };
}

function cookiesOf(res) {
  const out = {};
  for (const l of res.headers.getSetCookie()) { const c = parseSetCookie(l); out[c.name] = c; }
  return out;
}

async function postJson(path, body, headers = {}) {
  const res = await fetch(srv.url + path, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text };
}

function assertMeShape(me, role) {
  for (const k of ['id', 'email', 'name', 'role', 'city', 'credit_balance_cents', 'free_session_used', 'csrf_token']) {
    assert.ok(k in me, `me has ${k}: ${JSON.stringify(me)}`);
  }
  assert.equal(me.role, role);
  assert.equal(typeof me.id, 'string');
  assert.ok(me.id.length > 0);
  assert.equal(typeof me.email, 'string');
  assert.equal(typeof me.name, 'string');
  assert.equal(typeof me.city, 'string');
  assert.ok(Number.isInteger(me.credit_balance_cents), 'credit is integer cents');
  assert.equal(typeof me.free_session_used, 'boolean');
  assert.equal(typeof me.csrf_token, 'string');
  if (role === 'mechanic') {
    assert.equal(typeof me.mechanic_id, 'string');
    assert.ok(me.mechanic_id.length > 0);
  } else {
    assert.ok(!('mechanic_id' in me), `only mechanics carry mechanic_id: ${JSON.stringify(me)}`);
  }
  if (role === 'customer') assert.equal(typeof me.mechanic_selection, 'boolean');
  assert.ok(!('password_hash' in me) && !('password' in me), 'no password material');
}

test('login: 200 {user, csrf_token}, session and csrf cookies with the right attributes', async () => {
  const r = await postJson('/api/auth/login', { email: 'alex@demo.test', password: DEMO_PASSWORD });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['csrf_token', 'user']);
  assert.equal(typeof r.json.csrf_token, 'string');
  // at least 128 random bits: 22+ characters of base64url, or 32+ of hex
  assert.ok(r.json.csrf_token.length >= 22, `csrf token long enough: ${r.json.csrf_token}`);
  assertMeShape(r.json.user, 'customer');
  assert.equal(r.json.user.email, 'alex@demo.test');
  assert.equal(r.json.user.csrf_token, r.json.csrf_token);

  const c = cookiesOf(r);
  assert.ok(c.pitwall_session, 'pitwall_session cookie set');
  assert.ok(c.pitwall_csrf, 'pitwall_csrf cookie set');
  const s = c.pitwall_session;
  assert.ok(s.value.length >= 22, 'session token long enough');
  assert.equal(s.attrs.get('httponly'), true, 'session cookie is HttpOnly');
  assert.equal(String(s.attrs.get('samesite')).toLowerCase(), 'lax');
  assert.equal(s.attrs.get('path'), '/');
  const k = c.pitwall_csrf;
  assert.equal(k.value, r.json.csrf_token, 'csrf cookie carries the body token');
  assert.ok(!k.attrs.has('httponly'), 'csrf cookie readable by scripts');
  assert.equal(String(k.attrs.get('samesite')).toLowerCase(), 'lax');
  assert.notEqual(s.value, k.value, 'session token and csrf token differ');

  // a second login gets fresh tokens
  const r2 = await postJson('/api/auth/login', { email: 'alex@demo.test', password: DEMO_PASSWORD });
  assert.equal(r2.status, 200);
  assert.notEqual(r2.json.csrf_token, r.json.csrf_token);
  assert.notEqual(cookiesOf(r2).pitwall_session.value, s.value);
});

test('wrong password and unknown email: 401 invalid_credentials, the same answer', async () => {
  const a = await postJson('/api/auth/login', { email: 'maria.garcia@demo.test', password: 'not-the-password' });
  const b = await postJson('/api/auth/login', { email: 'nobody.here@demo.test', password: 'not-the-password' });
  assert.equal(a.status, 401);
  assert.equal(b.status, 401);
  assert.ok(isErrorShape(a.json, 'invalid_credentials'), a.text);
  assert.deepEqual(a.json, b.json, 'same body for both');
  assert.equal(a.headers.getSetCookie().length, 0, 'no cookie on failure');
  assert.equal(b.headers.getSetCookie().length, 0, 'no cookie on failure');
});

test('10 failed logins for one email: 429 with Retry-After, even for the right password; other emails unaffected', async () => {
  const email = 'emily.davis@demo.test';
  for (let i = 0; i < 10; i++) {
    const r = await postJson('/api/auth/login', { email, password: `wrong-${i}-password` });
    assert.equal(r.status, 401, `attempt ${i + 1}: ${r.text}`);
  }
  const t = await postJson('/api/auth/login', { email, password: 'wrong-again-password' });
  assert.equal(t.status, 429, t.text);
  assert.ok(isErrorShape(t.json), t.text);
  const ra = t.headers.get('retry-after');
  assert.match(ra || '', /^\d+$/, `numeric Retry-After, got ${ra}`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= 15 * 60, `Retry-After within the window: ${ra}`);

  const right = await postJson('/api/auth/login', { email, password: DEMO_PASSWORD });
  assert.equal(right.status, 429, 'the right password is refused while throttled');
  assert.match(right.headers.get('retry-after') || '', /^\d+$/);
  assert.equal(right.headers.getSetCookie().length, 0);
  // the email is compared case-insensitively for the throttle too
  const upper = await postJson('/api/auth/login', { email: email.toUpperCase(), password: DEMO_PASSWORD });
  assert.equal(upper.status === 200, false, `a case variant must not bypass the throttle (got ${upper.status})`);

  const other = await postJson('/api/auth/login', { email: 'noah.williams@demo.test', password: DEMO_PASSWORD });
  assert.equal(other.status, 200, 'another email still works');
});

test('login and register check Origin: foreign → 403 bad_origin; own or none → fine', async () => {
  for (const origin of ['http://evil.example', 'https://127.0.0.1.evil.example', 'null', `http://127.0.0.1:${srv.port + 1}`]) {
    const l = await postJson('/api/auth/login', { email: 'alex@demo.test', password: DEMO_PASSWORD }, { Origin: origin });
    assert.equal(l.status, 403, `login with Origin ${origin}: ${l.text}`);
    assert.ok(isErrorShape(l.json, 'bad_origin'), l.text);
    assert.equal(l.headers.getSetCookie().length, 0);
    const g = await postJson('/api/auth/register', { email: newEmail('origin'), password: 'long-enough-pw', name: 'O', city: 'Toronto' }, { Origin: origin });
    assert.equal(g.status, 403, `register with Origin ${origin}: ${g.text}`);
    assert.ok(isErrorShape(g.json, 'bad_origin'), g.text);
  }
  const own = await postJson('/api/auth/login', { email: 'alex@demo.test', password: DEMO_PASSWORD }, { Origin: srv.url });
  assert.equal(own.status, 200, own.text);
  const none = await postJson('/api/auth/login', { email: 'alex@demo.test', password: DEMO_PASSWORD });
  assert.equal(none.status, 200);
  const reg = await postJson('/api/auth/register', { email: newEmail('own'), password: 'long-enough-pw', name: 'Own Origin', city: 'Toronto' }, { Origin: srv.url });
  assert.equal(reg.status, 201, reg.text);
});

test('register: 201, logged in as a new customer with no credit and an unused free session', async () => {
  const email = newEmail('reg');
  const c = new Client(srv.url);
  const r = await c.post('/api/auth/register', { email, password: 'correct horse', name: 'Reggie Tester', city: 'Ottawa' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['csrf_token', 'user']);
  assertMeShape(r.json.user, 'customer');
  assert.equal(r.json.user.email, email);
  assert.equal(r.json.user.name, 'Reggie Tester');
  assert.equal(r.json.user.city, 'Ottawa');
  assert.equal(r.json.user.credit_balance_cents, 0);
  assert.equal(r.json.user.free_session_used, false);
  const ck = cookiesOf(r);
  assert.equal(ck.pitwall_session?.attrs.get('httponly'), true);
  assert.equal(String(ck.pitwall_session?.attrs.get('samesite')).toLowerCase(), 'lax');
  assert.equal(ck.pitwall_session?.attrs.get('path'), '/');
  assert.equal(ck.pitwall_csrf?.value, r.json.csrf_token);
  assert.ok(!ck.pitwall_csrf.attrs.has('httponly'));

  const me = await c.get('/api/me');
  assert.equal(me.status, 200, 'the register cookie logs in');
  assert.equal(me.json.id, r.json.user.id);
  assert.equal(me.json.role, 'customer');
  assert.equal(me.json.csrf_token, r.json.csrf_token);

  // and the password works for a later login
  const again = new Client(srv.url);
  const l = await again.login(email, 'correct horse');
  assert.equal(l.status, 200, l.text);
  assert.equal(l.json.user.id, r.json.user.id);
});

test('register: short password 400; duplicate email (any case) 409 email_taken', async () => {
  const short = await postJson('/api/auth/register', { email: newEmail('short'), password: '1234567', name: 'S', city: 'Toronto' });
  assert.equal(short.status, 400, short.text);
  assert.ok(isErrorShape(short.json), short.text);
  const eight = await postJson('/api/auth/register', { email: newEmail('eight'), password: '12345678', name: 'E', city: 'Toronto' });
  assert.equal(eight.status, 201, `8 characters is enough: ${eight.text}`);

  const email = newEmail('dup');
  const first = await postJson('/api/auth/register', { email, password: 'long-enough-pw', name: 'D', city: 'Toronto' });
  assert.equal(first.status, 201, first.text);
  for (const variant of [email, email.toUpperCase(), email[0].toUpperCase() + email.slice(1)]) {
    const d = await postJson('/api/auth/register', { email: variant, password: 'long-enough-pw', name: 'D2', city: 'Toronto' });
    assert.equal(d.status, 409, `${variant}: ${d.text}`);
    assert.ok(isErrorShape(d.json, 'email_taken'), d.text);
  }
  const demo = await postJson('/api/auth/register', { email: 'ALEX@demo.test', password: 'long-enough-pw', name: 'A', city: 'Toronto' });
  assert.equal(demo.status, 409);
  assert.equal(demo.json.error, 'email_taken');
});

test('register and login: malformed input → 400 with {error, message}', async () => {
  const good = () => ({ email: newEmail('bad'), password: 'long-enough-pw', name: 'Bad Input', city: 'Toronto' });
  const cases = [
    ['bad email (no @)', { ...good(), email: 'not-an-email' }],
    ['bad email (no domain)', { ...good(), email: 'someone@' }],
    ['bad email (spaces)', { ...good(), email: 'some one@example.test' }],
    ['missing email', (() => { const g = good(); delete g.email; return g; })()],
    ['missing password', (() => { const g = good(); delete g.password; return g; })()],
    ['missing name', (() => { const g = good(); delete g.name; return g; })()],
    ['missing city', (() => { const g = good(); delete g.city; return g; })()],
    ['numeric email', { ...good(), email: 12345 }],
    ['numeric password', { ...good(), password: 123456789 }],
    ['null name', { ...good(), name: null }],
    ['array city', { ...good(), city: ['Toronto'] }],
    ['object name', { ...good(), name: { first: 'A' } }],
  ];
  for (const [label, body] of cases) {
    const r = await postJson('/api/auth/register', body);
    assert.equal(r.status, 400, `register ${label}: ${r.status} ${r.text}`);
    assert.ok(isErrorShape(r.json), `register ${label}: ${r.text}`);
  }
  const rawCases = [
    ['array body', '[]'],
    ['string body', '"hello"'],
    ['number body', '42'],
    ['null body', 'null'],
    ['invalid JSON', '{"email": "a@b.c", '],
    ['trailing garbage', '{"email":"a@b.c","password":"xxxxxxxxx"} x'],
    ['empty body', ''],
  ];
  for (const path of ['/api/auth/register', '/api/auth/login']) {
    for (const [label, raw] of rawCases) {
      const r = await postJson(path, raw);
      assert.equal(r.status, 400, `${path} ${label}: ${r.status} ${r.text}`);
      assert.ok(isErrorShape(r.json), `${path} ${label}: ${r.text}`);
    }
  }
  const loginCases = [
    ['missing password', { email: 'alex@demo.test' }],
    ['missing email', { password: DEMO_PASSWORD }],
    ['numeric password', { email: 'alex@demo.test', password: 12345678 }],
    ['array email', { email: ['alex@demo.test'], password: DEMO_PASSWORD }],
  ];
  for (const [label, body] of loginCases) {
    const r = await postJson('/api/auth/login', body);
    assert.equal(r.status, 400, `login ${label}: ${r.status} ${r.text}`);
    assert.ok(isErrorShape(r.json), `login ${label}: ${r.text}`);
  }
});

test('GET /api/me: customer, mechanic and admin fields; 401 without login', async () => {
  const anon = await fetch(`${srv.url}/api/me`);
  assert.equal(anon.status, 401);
  assert.ok(isErrorShape(await anon.json()));
  const bogus = await fetch(`${srv.url}/api/me`, { headers: { Cookie: 'pitwall_session=not-a-real-token' } });
  assert.equal(bogus.status, 401);

  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const a = await alex.get('/api/me');
  assert.equal(a.status, 200);
  assertMeShape(a.json, 'customer');
  assert.equal(a.json.email, 'alex@demo.test');
  assert.equal(a.json.city, 'Toronto');
  assert.equal(a.json.credit_balance_cents, 10000);
  assert.equal(a.json.free_session_used, false);
  assert.equal(a.json.mechanic_selection, true, 'rollout starts at 100%');
  assert.equal(a.json.csrf_token, alex.csrf);
  assert.equal(a.json.id, alex.me.id);

  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  const j = await john.get('/api/me');
  assert.equal(j.status, 200);
  assertMeShape(j.json, 'mechanic');
  assert.equal(j.json.email, 'john.smith@demo.test');
  assert.equal(j.json.name, 'John Smith');
  assert.ok(!('mechanic_selection' in j.json) || typeof j.json.mechanic_selection === 'boolean');
  assert.notEqual(j.json.mechanic_id, j.json.id, 'the mechanic id is the profile, not the account');

  const admin = await loggedIn(srv.url, 'admin@demo.test');
  const ad = await admin.get('/api/me');
  assert.equal(ad.status, 200);
  assertMeShape(ad.json, 'admin');

  // pending and suspended mechanics can log in to see their status
  for (const email of ['priya.patel@demo.test', 'tom.baker@demo.test']) {
    const m = await loggedIn(srv.url, email);
    const r = await m.get('/api/me');
    assert.equal(r.status, 200, email);
    assertMeShape(r.json, 'mechanic');
  }
});

test('logout needs CSRF when logged in and then ends the login for good', async () => {
  const c = await loggedIn(srv.url, 'sarah.johnson@demo.test');
  const cookie = c.cookieHeader();

  const noHeader = await c.post('/api/auth/logout', undefined, { csrf: false });
  assert.equal(noHeader.status, 403, noHeader.text);
  assert.equal(noHeader.json.error, 'csrf');
  const wrong = await c.post('/api/auth/logout', undefined, { csrf: false, headers: { 'X-CSRF-Token': 'x'.repeat(43) } });
  assert.equal(wrong.status, 403);
  assert.equal(wrong.json.error, 'csrf');
  assert.equal((await c.get('/api/me')).status, 200, 'still logged in after refused logouts');

  const out = await c.post('/api/auth/logout');
  assert.equal(out.status, 200, out.text);
  const cleared = cookiesOf(out);
  assert.ok(cleared.pitwall_session, 'logout clears the session cookie');
  assert.ok(cleared.pitwall_session.value === '' || cleared.pitwall_session.attrs.get('max-age') === '0');

  // the old cookie, replayed by hand, no longer works
  const replay = await fetch(`${srv.url}/api/me`, { headers: { Cookie: cookie } });
  assert.equal(replay.status, 401, 'the deleted login is gone');
  const replayPost = await fetch(`${srv.url}/api/mechanic/presence`, {
    method: 'POST', headers: { Cookie: cookie, 'X-CSRF-Token': c.csrf, 'Content-Type': 'application/json' },
    body: JSON.stringify({ status: 'online' }),
  });
  assert.equal(replayPost.status, 401);

  // logging out without a login is harmless (decisions.md: 200)
  const anon = await postJson('/api/auth/logout', {});
  assert.equal(anon.status, 200);

  // other logins of the same account are not affected
  const c2 = await loggedIn(srv.url, 'sarah.johnson@demo.test');
  const c3 = await loggedIn(srv.url, 'sarah.johnson@demo.test');
  assert.equal((await c2.post('/api/auth/logout')).status, 200);
  assert.equal((await c3.get('/api/me')).status, 200);
  assert.equal((await c2.get('/api/me')).status, 401);
});

test('CSRF: every cookie-authenticated POST without or with a wrong X-CSRF-Token → 403 csrf', async () => {
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
  const other = await loggedIn(srv.url, 'alex@demo.test'); // a valid token of another login
  const cases = [
    [alex, '/api/vehicles', { year: 2015, make: 'Mazda', model: 'CX-5' }],
    [maria, '/api/mechanic/presence', { status: 'online' }],
    [alex, '/api/auth/logout', {}],
  ];
  for (const [who, path, body] of cases) {
    for (const [label, headers] of [['missing', {}], ['wrong', { 'X-CSRF-Token': 'wrong-token' }],
      ['empty', { 'X-CSRF-Token': '' }], ['another login\'s', { 'X-CSRF-Token': other.csrf }],
      ['session token as csrf', { 'X-CSRF-Token': who.cookies.get('pitwall_session') }]]) {
      const r = await who.post(path, body, { csrf: false, headers });
      assert.equal(r.status, 403, `${path} with ${label} token: ${r.status} ${r.text}`);
      assert.ok(isErrorShape(r.json, 'csrf'), `${path} with ${label} token: ${r.text}`);
    }
  }
  // nothing happened: no vehicle was added, Maria is still offline, alex still logged in
  const v = await alex.get('/api/vehicles');
  assert.ok(!v.json.vehicles.some((x) => x.make === 'Mazda' && x.model === 'CX-5'), 'refused POST had no effect');
  const p = await maria.get('/api/mechanic/presence');
  assert.equal(p.json.presence, 'offline');
  assert.equal((await alex.get('/api/me')).status, 200);

  // with the right token they work
  assert.equal((await alex.post('/api/vehicles', { year: 2015, make: 'Mazda', model: 'CX-5' })).status, 201);
  assert.equal((await maria.post('/api/mechanic/presence', { status: 'online' })).status, 200);
  assert.equal((await maria.post('/api/mechanic/presence', { status: 'offline' })).status, 200);
});

// Last: it uses up this address's failure budget (50 per 15 minutes), so later logins from
// 127.0.0.1 on this server are refused.
test('50 failed logins from one address → 429 for any email', async () => {
  let status429At = -1;
  for (let i = 0; i < 60; i++) {
    const r = await postJson('/api/auth/login', { email: `spray${i}@nowhere.test`, password: 'nope-nope-nope' });
    if (r.status === 429) { status429At = i; assert.match(r.headers.get('retry-after') || '', /^\d+$/); break; }
    assert.equal(r.status, 401, `attempt ${i}: ${r.text}`);
  }
  assert.ok(status429At > 0, 'the address gets throttled');
  assert.ok(status429At <= 50, `throttled after at most 50 failures (this file made ${status429At} spray failures plus earlier ones)`);
  const fresh = await postJson('/api/auth/login', { email: 'fresh.address.check@nowhere.test', password: 'whatever-pw' });
  assert.equal(fresh.status, 429);
});

// Behind a proxy: with --trusted-proxies, the client is the address the proxy appended to
// X-Forwarded-For (read from the right); without it the header is ignored.
test('--trusted-proxies: the per-address limit counts the forwarded client, not the proxy', async () => {
  const proxied = await startServer({ args: ['--trusted-proxies', '127.0.0.1, ::1'] });
  try {
    const login = (xff, email = 'nobody@nowhere.test', password = 'nope-nope-nope') => fetch(`${proxied.url}/api/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': xff },
      body: JSON.stringify({ email, password }),
    });
    // one client (10.1.1.1) fails 50 times, each time claiming another origin further left:
    // only the hop the proxy appended counts
    for (let i = 0; i < 50; i++) {
      const r = await login(`198.51.100.${i}, 10.1.1.1`, `spray${i}@nowhere.test`);
      assert.equal(r.status, 401, `attempt ${i}`);
    }
    assert.equal((await login('10.1.1.1', 'other@nowhere.test')).status, 429);
    assert.equal((await login('203.0.113.9, 10.1.1.1', 'other@nowhere.test')).status, 429, 'a forged left part does not help');
    // another client behind the same proxy is not affected
    const r = await login('10.2.2.2', 'alex@demo.test', DEMO_PASSWORD);
    assert.equal(r.status, 200);
    // the request log names the forwarded client (written once the answer has gone)
    await eventually(() => /"client":"10\.2\.2\.2"/.test(proxied.stderr()), 3000, 20, 'logged');
    // a bad value is refused at start
    await assert.rejects(startServer({ args: ['--trusted-proxies', 'nginx.local'] }), /trusted-proxies/);
  } finally { await proxied.stop(); proxied.cleanup(); }
  // and without the flag, a client cannot pick its address with the header: the main
  // server above throttled 127.0.0.1, whatever X-Forwarded-For says
  const r = await postJson('/api/auth/login', { email: 'x@nowhere.test', password: 'whatever-pw' }, { 'X-Forwarded-For': '10.9.9.9' });
  assert.equal(r.status, 429);
});
