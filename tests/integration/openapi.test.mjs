// GET /api/openapi.json (SPEC §4.7): an OpenAPI 3.1 document of every endpoint whose schemas
// the real answers satisfy. This file keeps docs/openapi.json true:
//  - the served document is OpenAPI 3.1, the same as docs/openapi.json, and every $ref resolves;
//  - every route of src/api/routes.c's table is documented (and nothing else), so a new route
//    without documentation fails here;
//  - a representative call of every JSON endpoint, as anonymous, customer, mechanic and admin,
//    successes and the main errors, is validated (status, content type, body) against the
//    schema the document gives for that path, method and status; SSE events of the presence,
//    mechanic and session streams are validated against their component schemas.
// A mismatch fails with the operation, the status, ajv's errors and the offending values.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { BIN, startServer, loggedIn, Client, openStream, sleep } from './helpers.mjs';
import { startStripeStandin, checkoutCompleted, stripeEvent, signStripe } from './stripe-standin.mjs';

const KEY = 'sk_test_openapi';
const WHSEC = 'whsec_openapi';
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

let standin, srv, plain, doc, ajv;
const started = [];
const streams = [];          // every SSE stream opened: validated in the last test
const covered = new Set();   // "get /api/me 200"
const mismatches = [];       // readable reports, flushed (and failed) at the end of each test

before(async () => {
  standin = await startStripeStandin({ key: KEY });
  srv = await startServer({
    args: ['--stripe-secret-key', KEY, '--stripe-webhook-secret', WHSEC, '--stripe-api-base', standin.url],
  });
  started.push(srv);
  plain = await startServer(); // no Stripe keys: card disabled, webhook unconfigured
  started.push(plain);
  const r = await fetch(`${srv.url}/api/openapi.json`);
  assert.equal(r.status, 200, 'GET /api/openapi.json');
  doc = await r.json();
  ajv = makeAjv(doc);
});

after(async () => {
  for (const s of streams) s.close();
  for (const s of started) {
    try { await s.stop(); } finally { s.cleanup(); }
  }
  if (standin) await standin.close();
});

// ---------------------------------------------------------------- the document, as schemas

const COMPONENTS_ID = 'https://pitwall.invalid/openapi/components';

// Ajv (JSON Schema 2020-12) with every component schema registered under one id; schemas
// taken from the document have their "#/components/schemas/X" refs pointed there.
function makeAjv(d) {
  const a = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, strictTypes: false, allowUnionTypes: true });
  addFormats(a);
  const defs = retarget(d.components?.schemas || {});
  a.addSchema({ $id: COMPONENTS_ID, $defs: defs });
  return a;
}

function retarget(schema) {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${COMPONENTS_ID}#/$defs/`));
}

const validators = new Map();
function validatorFor(schema) {
  const key = JSON.stringify(schema);
  if (!validators.has(key)) validators.set(key, ajv.compile(retarget(schema)));
  return validators.get(key);
}

// Follows a local "#/..." $ref of the document (responses, parameters, schemas).
function deref(obj) {
  let o = obj, guard = 0;
  while (o && typeof o.$ref === 'string' && o.$ref.startsWith('#/') && guard++ < 10) {
    o = pointer(doc, o.$ref.slice(1));
    assert.ok(o !== undefined, `dangling $ref ${obj.$ref}`);
  }
  return o;
}

function pointer(root, ptr) {
  let o = root;
  for (const part of ptr.split('/').slice(1)) {
    if (o === undefined || o === null) return undefined;
    o = o[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return o;
}

// ---------------------------------------------------------------- checking real answers

// The documented path template a concrete path falls under (literal segments win, as in the
// router's table, where /api/mechanics/available comes before /api/mechanics/{id}).
function templateOf(path) {
  const p = path.split('?')[0];
  if (doc.paths[p]) return p;
  const seg = '[0-9A-Za-z_-]{1,36}';
  const candidates = Object.keys(doc.paths).filter((t) => {
    const re = new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, seg)}$`);
    return re.test(p);
  });
  candidates.sort((a, b) => (a.match(/\{/g) || []).length - (b.match(/\{/g) || []).length);
  return candidates[0];
}

function show(v) {
  const s = JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function report(where, msg, errors, body) {
  const lines = [`${where}: ${msg}`];
  for (const e of errors || []) {
    const at = e.instancePath || '(root)';
    lines.push(`    - ${at}: ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}` +
      ` [schema ${e.schemaPath}] value: ${show(pointer(body, e.instancePath || ''))}`);
  }
  if (body !== undefined) lines.push(`    body: ${show(body)}`);
  mismatches.push(lines.join('\n'));
}

// Checks one real answer against the document; records (does not throw) a mismatch.
function check(method, path, status, contentType, body, raw) {
  method = method.toLowerCase();
  const tpl = templateOf(path);
  const where = `${method.toUpperCase()} ${path}${tpl && tpl !== path.split('?')[0] ? ` (${tpl})` : ''} → ${status}`;
  const op = tpl && doc.paths[tpl][method];
  if (!op) { report(where, 'no such operation in the document'); return; }
  covered.add(`${method} ${tpl} ${status}`);
  const resp = deref(op.responses?.[String(status)]);
  if (!resp) {
    report(where, `status ${status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`, null, body ?? raw);
    return;
  }
  const content = resp.content || {};
  const types = Object.keys(content);
  if (!types.length) return;
  const ct = (contentType || '').toLowerCase();
  const mt = types.find((t) => ct.startsWith(t.split(';')[0].trim().toLowerCase()));
  if (!mt) { report(where, `Content-Type ${contentType} is not one of ${types.join(', ')}`); return; }
  const schema = content[mt].schema;
  if (!schema || mt.startsWith('text/event-stream')) return; // events: checkEvents()
  const value = mt.startsWith('application/json') ? body : raw;
  if (mt.startsWith('application/json') && body === null) {
    report(where, 'the body is not JSON', null, raw);
    return;
  }
  const v = validatorFor(schema);
  if (!v(value)) report(where, 'the body does not match the documented schema', v.errors, value);
}

// A request through a Client (or anonymously), checked against the document.
async function api(client, method, path, opts = {}) {
  const c = client || new Client(srv.url);
  const r = await c.request(method, path, opts);
  check(method, path, r.status, r.headers.get('content-type'), r.json, r.text);
  return r;
}

// Insists on a status (the flow depends on it), after the document check.
async function expect(status, client, method, path, opts) {
  const r = await api(client, method, path, opts);
  assert.equal(r.status, status, `${method} ${path}: expected ${status}, got ${r.status} ${r.text.slice(0, 400)}`);
  return r;
}

// The `error` code SPEC §4.7 pins for an answer.
function pinned(r, code) {
  assert.equal(r.json?.error, code, `SPEC §4.7 pins error "${code}" here; got ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

function flush() {
  const list = mismatches.splice(0);
  if (list.length) assert.fail(`${list.length} answer(s) do not match docs/openapi.json:\n\n${list.join('\n\n')}`);
}

// Opens an SSE stream, checks the answer's status and type against the document, and keeps
// it for the event validation of the last test.
async function stream(base, client, path, headers = {}) {
  const h = { ...headers };
  if (client?.cookies.size) h.Cookie = client.cookieHeader();
  const s = await openStream(base, path, h);
  const ct = s.res.headers.get('content-type');
  check('get', path, s.status, ct, s.status === 200 ? undefined : safeJson(s.body), s.body);
  if (s.status === 200) { s.path = path; streams.push(s); }
  return s;
}

function safeJson(t) { try { return JSON.parse(t); } catch { return null; } }

// Validates every event of a stream against the x-sse-events schemas of its operation.
function checkEvents(s) {
  const tpl = templateOf(s.path);
  const media = deref(doc.paths[tpl].get.responses['200']).content['text/event-stream'];
  const events = media['x-sse-events'] || {};
  if (s.retry !== 2000) mismatches.push(`GET ${s.path}: the stream did not start with retry: 2000 (got ${s.retry})`);
  for (const ev of s.events) {
    const where = `GET ${s.path} (${tpl}) event ${ev.event}`;
    covered.add(`sse ${tpl} ${ev.event}`);
    if (!/^\d+$/.test(ev.id ?? '')) mismatches.push(`${where}: id: is not a sequence number (${ev.id})`);
    const schema = events[ev.event];
    if (!schema) { report(where, `event type not documented (documented: ${Object.keys(events).join(', ')})`, null, ev.json); continue; }
    const v = validatorFor(schema);
    if (!v(ev.json)) report(where, 'the data does not match the documented schema', v.errors, ev.json);
  }
}

// ---------------------------------------------------------------- helpers for the flow

const CONCERN = 'The car makes a grinding noise when braking at low speed.';
function sessionBody(vehicleId, over = {}) {
  return {
    vehicle_id: vehicleId, plan: 'video', is_specialist: false, preferred_mechanic_id: null,
    routing_type: 'broadcast', intake: { concern: CONCERN, symptoms: ['grinding noise'], urgency: 'medium' },
    waiver_accepted: true, payment_method: 'credits', ...over,
  };
}

async function waitEvent(s, pred, what, timeoutMs = 5000) {
  return s.waitUntil((st) => st.events.find(pred), timeoutMs, what);
}

const BIG = JSON.stringify({ pad: 'x'.repeat(70 * 1024) });

const ctx = {};

// ---------------------------------------------------------------- the document itself

test('GET /api/openapi.json is an OpenAPI 3.1 document, as application/json, equal to docs/openapi.json', async () => {
  const r = await fetch(`${srv.url}/api/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') || '', /^application\/json/);
  const served = await r.json();
  assert.match(served.openapi, /^3\.1\.\d+$/, 'openapi: 3.1.x');
  assert.equal(served.jsonSchemaDialect ?? 'https://json-schema.org/draft/2020-12/schema',
    'https://json-schema.org/draft/2020-12/schema');
  assert.ok(served.info?.title && served.info?.version, 'info.title and info.version');
  // the version is written once, in meson.build: the binary and the document say the same
  const meson = readFileSync(resolve('meson.build'), 'utf8').match(/version\s*:\s*'([^']+)'/)[1];
  assert.equal(execFileSync(BIN, ['--version'], { encoding: 'utf8' }).trim(), `pitwall ${meson}`);
  assert.equal(served.info.version, meson, 'docs/openapi.json info.version is meson.build\'s');
  const onDisk = JSON.parse(readFileSync(resolve('docs/openapi.json'), 'utf8'));
  assert.deepEqual(served, onDisk, 'the binary serves docs/openapi.json as it is now (rebuild after editing it)');

  // every local $ref resolves, and every schema compiles under JSON Schema 2020-12
  const refs = [];
  (function walk(o) {
    if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === 'object') {
      if (typeof o.$ref === 'string') refs.push(o.$ref);
      Object.values(o).forEach(walk);
    }
  })(served);
  for (const ref of refs) {
    assert.ok(ref.startsWith('#/'), `only local refs: ${ref}`);
    assert.notEqual(pointer(served, ref.slice(1)), undefined, `dangling $ref ${ref}`);
  }
  for (const [name, schema] of Object.entries(served.components.schemas)) {
    assert.doesNotThrow(() => validatorFor(schema), `components.schemas.${name} compiles`);
  }
  const head = await fetch(`${srv.url}/api/openapi.json`, { method: 'POST' });
  assert.equal(head.status, 405);
  await head.text();
});

test('every route of src/api/routes.c is documented, with its method, and nothing else', () => {
  const src = readFileSync(resolve('src/api/routes.c'), 'utf8');
  const table = src.slice(src.indexOf('routes[] = {'), src.indexOf('};', src.indexOf('routes[] = {')));
  const routes = [...table.matchAll(/\{\s*HTTP_([A-Z]+)\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*\}/g)]
    .map(([, m, p, h]) => ({ method: m.toLowerCase(), path: p, handler: h }));
  assert.ok(routes.length >= 30, `parsed the route table (${routes.length} routes)`);
  const missing = routes.filter((r) => !doc.paths[r.path]?.[r.method])
    .map((r) => `${r.method.toUpperCase()} ${r.path} (${r.handler})`);
  assert.deepEqual(missing, [], `routes of api/routes.c missing from docs/openapi.json:\n  ${missing.join('\n  ')}`);
  const inRouter = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const extra = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) if (item[m] && !inRouter.has(`${m} ${p}`)) extra.push(`${m.toUpperCase()} ${p}`);
  }
  assert.deepEqual(extra, [], `documented operations that api/routes.c does not have:\n  ${extra.join('\n  ')}`);
});

test('operations are complete: ids, security, 401 when logged in, 413 with a body, Error schema for errors', () => {
  const problems = [];
  const ids = new Set();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const where = `${m.toUpperCase()} ${p}`;
      if (!op.operationId) problems.push(`${where}: no operationId`);
      else if (ids.has(op.operationId)) problems.push(`${where}: duplicate operationId ${op.operationId}`);
      ids.add(op.operationId);
      if (!Array.isArray(op.security)) problems.push(`${where}: no security (use [] for none)`);
      const needsLogin = (op.security || []).length > 0 && !op.security.some((s) => Object.keys(s).length === 0) &&
        op.security.some((s) => 'sessionCookie' in s);
      if (needsLogin && !op.responses['401']) problems.push(`${where}: needs a login but documents no 401`);
      if (needsLogin && m !== 'get' && !op.security.every((s) => 'csrfHeader' in s)) problems.push(`${where}: unsafe method without the csrfHeader requirement`);
      if (op.requestBody && !op.responses['413']) problems.push(`${where}: takes a body but documents no 413`);
      for (const [status, r0] of Object.entries(op.responses)) {
        const r = deref(r0);
        if (!/^[2-5]\d\d$/.test(status)) problems.push(`${where}: response key ${status}`);
        if (Number(status) >= 400) {
          const s = r.content?.['application/json']?.schema;
          if (!s || s.$ref !== '#/components/schemas/Error') problems.push(`${where} ${status}: not the Error schema`);
          const codes = s?.properties?.error?.enum;
          if (!codes?.length) problems.push(`${where} ${status}: the error codes are not listed`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

// ---------------------------------------------------------------- anonymous

test('anonymous: operations, public reads and the main errors match the document', async () => {
  const anon = new Client(srv.url);
  await expect(200, anon, 'GET', '/healthz');
  await expect(200, anon, 'GET', '/readyz');
  const m = await expect(200, anon, 'GET', '/metrics');
  assert.match(m.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  await expect(200, anon, 'GET', '/api/openapi.json');
  await expect(200, anon, 'GET', '/api/plans');
  await expect(200, anon, 'GET', '/api/payments/config');
  const dir = await expect(200, anon, 'GET', '/api/mechanics/available?limit=50&include_busy=true');
  ctx.mech = Object.fromEntries(dir.json.mechanics.map((x) => [x.name, x.id]));
  assert.ok(ctx.mech['John Smith'] && ctx.mech['Maria Garcia'] && ctx.mech['Mike Chen'], 'demo mechanics listed');
  await expect(200, anon, 'GET', '/api/mechanics/available?city=toronto&is_specialist=true&vehicle_make=tesla&limit=3');
  await expect(400, anon, 'GET', '/api/mechanics/available?limit=0');
  await expect(400, anon, 'GET', '/api/mechanics/available?is_specialist=maybe');
  await expect(400, anon, 'GET', `/api/mechanics/available?city=${'a'.repeat(201)}`);
  await expect(200, anon, 'GET', `/api/mechanics/${ctx.mech['John Smith']}`);
  await expect(404, anon, 'GET', `/api/mechanics/${randomUUID()}`);
  await expect(401, anon, 'GET', '/api/me');
  await expect(401, anon, 'GET', '/api/vehicles');
  await expect(401, anon, 'POST', '/api/vehicles', { body: { year: 2020, make: 'Ford', model: 'Focus' } });
  await expect(401, anon, 'GET', '/api/sessions');
  await expect(401, anon, 'POST', '/api/sessions', { body: {} });
  await expect(401, anon, 'GET', `/api/sessions/${randomUUID()}`);
  await expect(401, anon, 'POST', `/api/sessions/${randomUUID()}/cancel`);
  await expect(401, anon, 'GET', '/api/mechanic/presence');
  await expect(401, anon, 'POST', '/api/mechanic/presence', { body: { status: 'online' } });
  await expect(401, anon, 'GET', '/api/mechanic/offers');
  await expect(401, anon, 'GET', '/api/admin/rollout');
  await expect(401, anon, 'GET', '/api/admin/mechanics');
  await expect(200, anon, 'POST', '/api/auth/logout');
  await expect(413, anon, 'POST', '/api/auth/login', { raw: BIG, headers: { 'Content-Type': 'application/json' } });
  const ps = await stream(srv.url, null, '/api/presence/stream');
  assert.equal(ps.status, 400);
  const ps2 = await stream(srv.url, null, '/api/presence/stream?ids=not%20an%20id');
  assert.equal(ps2.status, 400);
  const ms = await stream(srv.url, null, '/api/mechanic/stream');
  assert.equal(ms.status, 401);
  flush();
});

// ---------------------------------------------------------------- accounts

test('login, register and their errors match the document', async () => {
  const anon = new Client(srv.url);
  const li = await expect(200, anon, 'POST', '/api/auth/login', { body: { email: 'alex@demo.test', password: 'pitwall-demo' } });
  // SPEC §4.7: pitwall_session (HttpOnly, SameSite=Lax, Path=/) and pitwall_csrf (readable by
  // scripts, SameSite=Lax), and the same token as csrf_token in the body
  const cookies = li.headers.getSetCookie();
  const sess = cookies.find((c) => c.startsWith('pitwall_session='));
  const csrf = cookies.find((c) => c.startsWith('pitwall_csrf='));
  assert.ok(sess && /;\s*HttpOnly/i.test(sess) && /;\s*SameSite=Lax/i.test(sess) && /;\s*Path=\//.test(sess), `session cookie: ${sess}`);
  assert.ok(csrf && !/HttpOnly/i.test(csrf) && /;\s*SameSite=Lax/i.test(csrf), `csrf cookie: ${csrf}`);
  assert.equal(csrf.split(';')[0].slice('pitwall_csrf='.length), li.json.csrf_token);
  assert.equal(li.json.user.csrf_token, li.json.csrf_token);
  pinned(await expect(401, anon, 'POST', '/api/auth/login', { body: { email: 'alex@demo.test', password: 'wrong-password' } }), 'invalid_credentials');
  pinned(await expect(401, anon, 'POST', '/api/auth/login', { body: { email: 'nobody-at-all@demo.test', password: 'wrong-password' } }), 'invalid_credentials');
  await expect(400, anon, 'POST', '/api/auth/login', { raw: '{not json', headers: { 'Content-Type': 'application/json' } });
  await expect(400, anon, 'POST', '/api/auth/login', { body: { email: 'alex@demo.test' } });
  await expect(403, anon, 'POST', '/api/auth/login', { body: { email: 'alex@demo.test', password: 'pitwall-demo' }, headers: { Origin: 'http://evil.example' } });

  const email = `oa-${randomUUID().slice(0, 8)}@example.test`;
  const reg = new Client(srv.url);
  const r = await expect(201, reg, 'POST', '/api/auth/register', { body: { email, password: 'long-enough-pw', name: 'Olive Api', city: 'Toronto' } });
  reg.csrf = r.json.csrf_token;
  ctx.newbie = reg;
  await expect(409, new Client(srv.url), 'POST', '/api/auth/register', { body: { email, password: 'long-enough-pw', name: 'Olive Api', city: 'Toronto' } });
  await expect(400, new Client(srv.url), 'POST', '/api/auth/register', { body: { email: `x${email}`, password: 'short', name: 'O', city: 'T' } });
  await expect(400, new Client(srv.url), 'POST', '/api/auth/register', { body: { email: 'not-an-email', password: 'long-enough-pw', name: 'O', city: 'T' } });
  await expect(200, reg, 'GET', '/api/me');

  // 10 failed logins for one email → 429 with Retry-After
  const victim = `nobody-${randomUUID().slice(0, 8)}@example.test`;
  for (let i = 0; i < 10; i++) await expect(401, anon, 'POST', '/api/auth/login', { body: { email: victim, password: 'wrong-password' } });
  const t = await expect(429, anon, 'POST', '/api/auth/login', { body: { email: victim, password: 'wrong-password' } });
  assert.match(t.headers.get('retry-after') || '', /^\d+$/);

  // logout of a login: CSRF required
  const tmp = await loggedIn(srv.url, 'alex@demo.test');
  await expect(403, tmp, 'POST', '/api/auth/logout', { csrf: false });
  await expect(200, tmp, 'POST', '/api/auth/logout');
  flush();
});

test('customer: me, vehicles and the role/CSRF/size errors match the document', async () => {
  const alex = ctx.alex = await loggedIn(srv.url, 'alex@demo.test');
  const me = await expect(200, alex, 'GET', '/api/me');
  assert.equal(me.json.role, 'customer');
  const v = await expect(200, alex, 'GET', '/api/vehicles');
  ctx.tesla = v.json.vehicles.find((x) => x.make === 'Tesla').id;
  ctx.civic = v.json.vehicles.find((x) => x.make === 'Honda').id;
  const mazda = (await expect(201, alex, 'POST', '/api/vehicles', { body: { year: 2019, make: 'Mazda', model: 'CX-5' } })).json;
  // editing and deleting a vehicle (SPEC §4.10)
  await expect(200, alex, 'PUT', `/api/vehicles/${mazda.id}`, { body: { year: 2020, make: 'Mazda', model: 'CX-30' } });
  await expect(400, alex, 'PUT', `/api/vehicles/${mazda.id}`, { body: { year: 1800, make: 'Mazda', model: 'CX-30' } });
  pinned(await expect(403, alex, 'PUT', `/api/vehicles/${mazda.id}`, { body: { year: 2020, make: 'Mazda', model: 'CX-30' }, csrf: false }), 'csrf');
  await expect(401, null, 'PUT', `/api/vehicles/${mazda.id}`, { body: { year: 2020, make: 'Mazda', model: 'CX-30' } });
  pinned(await expect(413, alex, 'PUT', `/api/vehicles/${mazda.id}`, { raw: BIG, headers: { 'Content-Type': 'application/json' } }), 'payload_too_large');
  pinned(await expect(404, ctx.newbie, 'PUT', `/api/vehicles/${mazda.id}`, { body: { year: 2020, make: 'Mazda', model: 'CX-30' } }), 'not_found');
  await expect(404, ctx.newbie, 'DELETE', `/api/vehicles/${mazda.id}`);
  await expect(403, alex, 'DELETE', `/api/vehicles/${mazda.id}`, { csrf: false });
  await expect(401, null, 'DELETE', `/api/vehicles/${mazda.id}`);
  await expect(204, alex, 'DELETE', `/api/vehicles/${mazda.id}`);
  pinned(await expect(404, alex, 'DELETE', `/api/vehicles/${mazda.id}`), 'not_found');
  // the account's own name and city
  const mine = await expect(200, ctx.newbie, 'PUT', '/api/me', { body: { city: 'Hamilton' } });
  assert.equal(mine.json.city, 'Hamilton');
  await expect(400, ctx.newbie, 'PUT', '/api/me', { body: { name: '' } });
  await expect(400, ctx.newbie, 'PUT', '/api/me', { raw: 'nope', headers: { 'Content-Type': 'application/json' } });
  pinned(await expect(403, ctx.newbie, 'PUT', '/api/me', { body: { name: 'X' }, csrf: false }), 'csrf');
  await expect(401, null, 'PUT', '/api/me', { body: { name: 'X' } });
  await expect(413, ctx.newbie, 'PUT', '/api/me', { raw: BIG, headers: { 'Content-Type': 'application/json' } });
  const cfg = await expect(200, null, 'GET', '/api/config');
  assert.equal(cfg.headers.get('cache-control'), 'no-cache');
  await expect(400, alex, 'POST', '/api/vehicles', { body: { year: 1800, make: 'Ford', model: 'T' } });
  await expect(400, alex, 'POST', '/api/vehicles', { raw: '[]', headers: { 'Content-Type': 'application/json' } });
  pinned(await expect(403, alex, 'POST', '/api/vehicles', { body: { year: 2019, make: 'Mazda', model: 'CX-5' }, csrf: false }), 'csrf');
  pinned(await expect(413, alex, 'POST', '/api/vehicles', { raw: BIG, headers: { 'Content-Type': 'application/json' } }), 'payload_too_large');
  await expect(403, alex, 'GET', '/api/admin/rollout');
  await expect(403, alex, 'GET', '/api/mechanic/presence');
  await expect(403, alex, 'GET', '/api/mechanic/offers');
  await expect(403, alex, 'POST', '/api/mechanic/presence', { body: { status: 'online' } });
  const ms = await stream(srv.url, alex, '/api/mechanic/stream');
  assert.equal(ms.status, 403);
  await expect(200, alex, 'GET', '/api/sessions');
  await expect(404, alex, 'GET', `/api/sessions/${randomUUID()}`);
  const nv = await expect(201, ctx.newbie, 'POST', '/api/vehicles', { body: { year: 2021, make: 'Toyota', model: 'Corolla' } });
  ctx.newbieVehicle = nv.json.id;
  flush();
});

test('mechanic and admin: presence, offers, rollout, approval, metrics and their errors match the document', async () => {
  const john = ctx.john = await loggedIn(srv.url, 'john.smith@demo.test');
  const maria = ctx.maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
  ctx.mike = await loggedIn(srv.url, 'mike.chen@demo.test');
  const me = await expect(200, john, 'GET', '/api/me');
  assert.equal(me.json.role, 'mechanic');
  await expect(200, john, 'GET', '/api/mechanic/presence');
  await expect(400, john, 'POST', '/api/mechanic/presence', { body: { status: 'busy' } });
  await expect(403, john, 'POST', '/api/mechanic/presence', { body: { status: 'online' }, csrf: false });
  await expect(413, john, 'POST', '/api/mechanic/presence', { raw: BIG, headers: { 'Content-Type': 'application/json' } });
  await expect(200, john, 'GET', '/api/mechanic/offers');
  await expect(200, john, 'GET', '/api/sessions');
  await expect(403, john, 'POST', '/api/sessions', { body: sessionBody(ctx.tesla) });
  await expect(403, john, 'GET', '/api/vehicles');
  await expect(403, john, 'GET', '/api/admin/mechanics');
  const priya = await loggedIn(srv.url, 'priya.patel@demo.test');
  pinned(await expect(403, priya, 'POST', '/api/mechanic/presence', { body: { status: 'online' } }), 'not_approved');

  const admin = ctx.admin = await loggedIn(srv.url, 'admin@demo.test');
  await expect(200, admin, 'GET', '/api/me');
  await expect(200, admin, 'GET', '/api/admin/rollout');
  await expect(200, admin, 'PUT', '/api/admin/rollout', { body: { mechanic_selection_percent: 100 } });
  await expect(400, admin, 'PUT', '/api/admin/rollout', { body: { mechanic_selection_percent: 101 } });
  await expect(403, admin, 'PUT', '/api/admin/rollout', { body: { mechanic_selection_percent: 100 }, csrf: false });
  await expect(413, admin, 'PUT', '/api/admin/rollout', { raw: BIG, headers: { 'Content-Type': 'application/json' } });
  await expect(200, admin, 'GET', '/api/admin/mechanics');
  const pend = await expect(200, admin, 'GET', '/api/admin/mechanics?status=pending');
  const susp = await expect(200, admin, 'GET', '/api/admin/mechanics?status=suspended');
  await expect(400, admin, 'GET', '/api/admin/mechanics?status=bogus');
  await expect(200, admin, 'GET', '/api/admin/metrics');
  await expect(400, admin, 'GET', '/api/admin/metrics?from=yesterday');
  await expect(403, admin, 'GET', '/api/sessions');
  ctx.priyaId = pend.json.mechanics.find((x) => x.name === 'Priya Patel')?.id;
  ctx.tomId = susp.json.mechanics.find((x) => x.name === 'Tom Baker')?.id;
  assert.ok(ctx.priyaId && ctx.tomId, 'demo pending and suspended mechanics');
  await expect(404, admin, 'POST', `/api/admin/mechanics/${randomUUID()}/approve`);
  await expect(403, john, 'POST', `/api/admin/mechanics/${ctx.tomId}/approve`);
  await expect(200, admin, 'POST', `/api/admin/mechanics/${ctx.tomId}/suspend`);
  await expect(200, admin, 'POST', `/api/admin/mechanics/${ctx.priyaId}/approve`);
  flush();
});

// ---------------------------------------------------------------- booking, routing, streams

test('booking and routing: sessions, offers, actions and their errors match the document; streams are recorded', async () => {
  const { alex, john, maria, mike, newbie, admin } = ctx;
  const J = ctx.mech['John Smith'], M = ctx.mech['Maria Garcia'], K = ctx.mech['Mike Chen'];

  const ps = await stream(srv.url, null, `/api/presence/stream?ids=${J},${M},${K},${randomUUID()}`);
  assert.equal(ps.status, 200);
  await ps.waitFor(1);
  const js = await stream(srv.url, john, '/api/mechanic/stream');
  const mstr = await stream(srv.url, maria, '/api/mechanic/stream');
  assert.equal(js.status, 200);
  assert.equal(mstr.status, 200);
  await expect(200, john, 'POST', '/api/mechanic/presence', { body: { status: 'online' } });
  await expect(200, maria, 'POST', '/api/mechanic/presence', { body: { status: 'online' } });
  await waitEvent(ps, (e) => e.event === 'presence' && e.json.id === M && e.json.presence === 'online', 'maria online');

  // session A: broadcast, credits → john accepts, ends; alex rates
  const a = ctx.sampleSession = (await expect(201, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.tesla) })).json;
  const sa = await stream(srv.url, alex, `/api/sessions/${a.id}/stream`);
  assert.equal(sa.status, 200);
  // while A routes: its vehicle is in use, and alex has a live request
  pinned(await expect(409, alex, 'PUT', `/api/vehicles/${ctx.tesla}`, { body: { year: 2020, make: 'Tesla', model: 'Model 3' } }), 'vehicle_in_use');
  pinned(await expect(409, alex, 'DELETE', `/api/vehicles/${ctx.tesla}`), 'vehicle_in_use');
  const inProgress = pinned(await expect(409, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.civic) }), 'session_in_progress');
  assert.equal(inProgress.json.session_id, a.id);
  pinned(await expect(403, john, 'PUT', '/api/me', { body: { name: 'Johnny' } }), 'forbidden');
  await waitEvent(js, (e) => e.event === 'offer' && e.json.session_id === a.id, 'offer to john');
  await waitEvent(mstr, (e) => e.event === 'offer' && e.json.session_id === a.id, 'offer to maria');
  const offers = await expect(200, john, 'GET', '/api/mechanic/offers');
  assert.ok(offers.json.offers.some((o) => o.session_id === a.id));
  await expect(200, john, 'GET', `/api/sessions/${a.id}`);
  await expect(404, newbie, 'GET', `/api/sessions/${a.id}`);
  const other = await stream(srv.url, newbie, `/api/sessions/${a.id}/stream`);
  assert.equal(other.status, 404);
  const mechStream = await stream(srv.url, john, `/api/sessions/${a.id}/stream`);
  assert.equal(mechStream.status, 403);
  pinned(await expect(403, mike, 'POST', `/api/sessions/${a.id}/accept`), 'not_offered');
  await expect(403, alex, 'POST', `/api/sessions/${a.id}/accept`);       // a customer
  await expect(404, john, 'POST', `/api/sessions/${randomUUID()}/accept`);
  await expect(413, john, 'POST', `/api/sessions/${a.id}/accept`, { raw: BIG, headers: { 'Content-Type': 'application/json' } });
  await expect(200, john, 'POST', `/api/sessions/${a.id}/accept`);
  await waitEvent(sa, (e) => e.event === 'routing' && e.json.step === 'accepted', 'accepted step');
  await waitEvent(mstr, (e) => e.event === 'offer_withdrawn' && e.json.session_id === a.id, 'withdrawn from maria');
  pinned(await expect(409, maria, 'POST', `/api/sessions/${a.id}/accept`), 'taken');
  await expect(409, john, 'POST', '/api/mechanic/presence', { body: { status: 'offline' } }); // busy
  await expect(409, alex, 'POST', `/api/sessions/${a.id}/cancel`);       // taken
  await expect(409, alex, 'POST', `/api/sessions/${a.id}/skip-priority`); // conflict
  await expect(409, alex, 'POST', `/api/sessions/${a.id}/rating`, { body: { score: 9 } }); // not ended
  await expect(403, maria, 'POST', `/api/sessions/${a.id}/end`);         // not assigned
  await expect(400, john, 'POST', `/api/sessions/${a.id}/end`, { body: { outcome: 'fixed' } });
  await expect(200, john, 'POST', `/api/sessions/${a.id}/end`, { body: { outcome: 'resolved', notes: 'Pads replaced.' } });
  await waitEvent(sa, (e) => e.event === 'routing' && e.json.step === 'ended', 'ended step');
  await expect(409, john, 'POST', `/api/sessions/${a.id}/end`);
  await expect(400, alex, 'POST', `/api/sessions/${a.id}/rating`, { body: { score: 11 } });
  await expect(200, alex, 'POST', `/api/sessions/${a.id}/rating`, { body: { score: 9, comment: 'Quick and clear.' } });
  await expect(409, alex, 'POST', `/api/sessions/${a.id}/rating`, { body: { score: 9 } });
  await expect(200, alex, 'GET', `/api/sessions/${a.id}`);
  await expect(200, admin, 'GET', `/api/sessions/${a.id}`);
  await expect(200, alex, 'GET', '/api/sessions');
  await expect(200, john, 'GET', '/api/sessions');

  // session B: priority (free plan) → maria declines → broadcast → alex cancels
  const b = (await expect(201, alex, 'POST', '/api/sessions', {
    body: sessionBody(ctx.civic, { plan: 'free', payment_method: 'free', routing_type: 'priority_broadcast', preferred_mechanic_id: M }),
  })).json;
  const sb = await stream(srv.url, alex, `/api/sessions/${b.id}/stream`);
  await waitEvent(mstr, (e) => e.event === 'offer' && e.json.session_id === b.id && e.json.kind === 'priority', 'priority offer');
  await expect(200, maria, 'POST', `/api/sessions/${b.id}/decline`);
  await waitEvent(sb, (e) => e.event === 'routing' && e.json.step === 'broadcast', 'broadcast step');
  await expect(409, maria, 'POST', `/api/sessions/${b.id}/decline`);
  await expect(403, mike, 'POST', `/api/sessions/${b.id}/decline`);
  await expect(413, alex, 'POST', `/api/sessions/${b.id}/cancel`, { raw: BIG, headers: { 'Content-Type': 'application/json' } });
  await expect(403, alex, 'POST', `/api/sessions/${b.id}/cancel`, { csrf: false });
  await expect(200, alex, 'POST', `/api/sessions/${b.id}/cancel`);
  await waitEvent(js, (e) => e.event === 'session_cancelled' && e.json.session_id === b.id, 'session_cancelled to john');
  await waitEvent(sb, (e) => e.event === 'routing' && e.json.step === 'cancelled', 'cancelled step');
  await expect(404, newbie, 'POST', `/api/sessions/${b.id}/cancel`);

  // session C: priority (credits) → alex skips → broadcast → cancel
  const c = (await expect(201, alex, 'POST', '/api/sessions', {
    body: sessionBody(ctx.tesla, { routing_type: 'priority_broadcast', preferred_mechanic_id: M, is_specialist: false }),
  })).json;
  const sc = await stream(srv.url, alex, `/api/sessions/${c.id}/stream`);
  await expect(200, alex, 'POST', `/api/sessions/${c.id}/skip-priority`);
  await waitEvent(sc, (e) => e.event === 'routing' && e.json.step === 'broadcast', 'broadcast after skip');
  await waitEvent(mstr, (e) => e.event === 'offer_withdrawn' && e.json.session_id === c.id && e.json.reason === 'priority_ended', 'priority_ended');
  await expect(200, alex, 'POST', `/api/sessions/${c.id}/cancel`);

  // session D: broadcast; suspending maria withdraws her offer and turns her offline
  const d = (await expect(201, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.civic) })).json;
  await waitEvent(mstr, (e) => e.event === 'offer' && e.json.session_id === d.id, 'offer D to maria');
  await expect(200, admin, 'POST', `/api/admin/mechanics/${M}/suspend`);
  await waitEvent(mstr, (e) => e.event === 'offer_withdrawn' && e.json.reason === 'suspended', 'withdrawn: suspended');
  await waitEvent(ps, (e) => e.event === 'presence' && e.json.reason === 'suspended', 'presence: suspended');
  await expect(200, admin, 'POST', `/api/admin/mechanics/${M}/approve`);
  await expect(200, alex, 'POST', `/api/sessions/${d.id}/cancel`);

  // resuming the presence stream replays the missed events (no snapshot)
  const snapId = ps.events[0].id;
  const resumed = await stream(srv.url, null, `/api/presence/stream?ids=${J},${M}&last_event_id=${snapId}`);
  await resumed.waitFor(1);

  // booking errors
  await expect(400, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.tesla, { intake: { concern: 'short', urgency: 'low' } }) });
  await expect(400, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.tesla, { routing_type: 'priority_broadcast' }) });
  await expect(400, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.tesla, { payment_method: 'free' }) });
  await expect(404, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.newbieVehicle) });
  pinned(await expect(402, newbie, 'POST', '/api/sessions', { body: sessionBody(ctx.newbieVehicle) }), 'insufficient_credits');
  await expect(201, newbie, 'POST', '/api/sessions', { body: sessionBody(ctx.newbieVehicle, { plan: 'free', payment_method: 'free' }) });
  pinned(await expect(409, newbie, 'POST', '/api/sessions', { body: sessionBody(ctx.newbieVehicle, { plan: 'free', payment_method: 'free' }) }), 'session_in_progress');
  await expect(403, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.tesla), csrf: false });
  await expect(413, alex, 'POST', '/api/sessions', { raw: BIG, headers: { 'Content-Type': 'application/json' } });
  flush();
});

// ---------------------------------------------------------------- payments

test('card checkout and the Stripe webhook match the document', async () => {
  const { alex } = ctx;
  const cfg = await expect(200, alex, 'GET', '/api/payments/config');
  assert.equal(cfg.json.card_enabled, true);
  const s = (await expect(201, alex, 'POST', '/api/sessions', { body: sessionBody(ctx.tesla, { payment_method: 'card' }) })).json;
  assert.equal(s.state, 'awaiting_payment');
  const checkout = [...standin.sessions.values()].find((x) => x.client_reference_id === s.id);
  assert.ok(checkout, 'the stand-in made a checkout');

  const hook = async (status, opts) => {
    const raw = opts.body;
    const headers = { 'Content-Type': 'application/json' };
    if (opts.sig !== null) headers['Stripe-Signature'] = opts.sig ?? signStripe(raw, WHSEC);
    const r = await fetch(`${opts.base || srv.url}/api/webhooks/stripe`, { method: 'POST', headers, body: raw });
    const text = await r.text();
    const json = safeJson(text);
    check('post', '/api/webhooks/stripe', r.status, r.headers.get('content-type'), json, text);
    assert.equal(r.status, status, `webhook: expected ${status}, got ${r.status} ${text}`);
    return json;
  };
  const ev = JSON.stringify(checkoutCompleted(checkout));
  assert.equal((await hook(400, { body: ev, sig: null })).error, 'bad_signature');
  assert.equal((await hook(400, { body: ev, sig: signStripe(ev, 'whsec_wrong') })).error, 'bad_signature');
  assert.equal((await hook(400, { body: ev, sig: signStripe(ev, WHSEC, Math.floor(Date.now() / 1000) - 301) })).error, 'bad_signature');
  await hook(400, { body: '{"id": "evt_1", ', sig: undefined });
  await hook(400, { body: JSON.stringify({ id: 'evt_no_type' }) });
  await hook(413, { body: BIG, sig: 't=1,v1=00' });
  const first = await hook(200, { body: ev });
  assert.equal(first.duplicate, undefined);
  const again = await hook(200, { body: ev });
  assert.equal(again.duplicate, true);
  await hook(200, { body: JSON.stringify(stripeEvent('customer.created', { id: 'cus_1' })) });
  const paid = await expect(200, alex, 'GET', `/api/sessions/${s.id}`);
  assert.notEqual(paid.json.state, 'awaiting_payment');
  await expect(200, alex, 'POST', `/api/sessions/${s.id}/cancel`);

  // a server without Stripe keys
  const p = await loggedIn(plain.url, 'alex@demo.test');
  const pcfg = await p.get('/api/payments/config');
  check('get', '/api/payments/config', pcfg.status, pcfg.headers.get('content-type'), pcfg.json, pcfg.text);
  assert.equal(pcfg.json.card_enabled, false);
  const vs = (await p.get('/api/vehicles')).json.vehicles;
  const card = await p.post('/api/sessions', sessionBody(vs[0].id, { payment_method: 'card' }));
  check('post', '/api/sessions', card.status, card.headers.get('content-type'), card.json, card.text);
  assert.equal(card.status, 400);
  assert.equal(card.json.error, 'card_unavailable');
  await hook(400, { body: ev, base: plain.url });
  flush();
});

// ---------------------------------------------------------------- streams and coverage

test('every SSE event received matches its documented schema', async () => {
  await sleep(200);
  for (const s of streams) checkEvents(s);
  const need = [
    'sse /api/presence/stream snapshot', 'sse /api/presence/stream presence',
    'sse /api/mechanic/stream offer', 'sse /api/mechanic/stream offer_withdrawn', 'sse /api/mechanic/stream session_cancelled',
    'sse /api/sessions/{id}/stream snapshot', 'sse /api/sessions/{id}/stream routing',
  ];
  const missing = need.filter((k) => !covered.has(k));
  assert.deepEqual(missing, [], 'stream events not seen');
  flush();
});

test('the checker itself catches drift (so a silent no-op cannot pass)', () => {
  assert.ok(ctx.sampleSession, 'a session object was captured');
  const probes = [
    ['get', '/api/sessions/{id}', 200, { ...ctx.sampleSession, surprise: 1 }],
    ['get', '/api/sessions/{id}', 200, (({ rating, ...rest }) => rest)(ctx.sampleSession)],
    ['get', '/api/sessions/{id}', 200, { ...ctx.sampleSession, created_at: 'yesterday' }],
    ['get', '/api/me', 401, { error: 'nope', message: 'x' }],
    ['get', '/api/me', 418, { error: 'teapot', message: 'x' }],
  ];
  for (const [m, p, st, body] of probes) {
    check(m, p, st, 'application/json', body, JSON.stringify(body));
    assert.equal(mismatches.length, 1, `a drifted ${m} ${p} ${st} answer must be reported: ${JSON.stringify(body).slice(0, 120)}`);
    mismatches.length = 0;
  }
});

test('coverage: every operation was called with a success, and the main error statuses were checked', () => {
  const noSuccess = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      if (![...covered].some((k) => k.startsWith(`${m} ${p} 2`))) noSuccess.push(`${m.toUpperCase()} ${p}`);
    }
  }
  assert.deepEqual(noSuccess, [], 'operations never exercised with a 2xx answer');
  const statuses = new Set([...covered].map((k) => k.split(' ')[2]));
  for (const s of ['400', '401', '402', '403', '404', '409', '413', '429']) assert.ok(statuses.has(s), `a ${s} answer was checked`);
});
