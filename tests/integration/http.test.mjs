// The HTTP layer (SPEC §4, §4.7, §6): body limit, unknown endpoints, methods, static files,
// path traversal, health and readiness.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer, loggedIn, rawHttp, getJson, isErrorShape } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

const LIMIT = 64 * 1024;
const host = () => `Host: 127.0.0.1:${srv.port}`;

// A JSON login body of exactly n bytes (padded with spaces inside the object).
function loginBody(n) {
  const core = JSON.stringify({ email: 'nobody@nowhere.test', password: 'wrong-password' });
  return core.slice(0, -1) + ' '.repeat(n - core.length) + '}';
}

test('a body over 64 KiB with Content-Length → 413 payload_too_large (JSON error)', async () => {
  for (const path of ['/api/auth/login', '/api/auth/register', '/api/vehicles', '/api/nope']) {
    const r = await rawHttp(srv.port, `POST ${path} HTTP/1.1\r\n${host()}\r\nContent-Type: application/json\r\nContent-Length: ${LIMIT + 1}\r\nConnection: close`,
      { body: loginBody(LIMIT + 1) });
    assert.equal(r.status, 413, `${path}: ${r.raw.slice(0, 300)}`);
    assert.match(r.headers['content-type'] || '', /^application\/json/);
    const j = JSON.parse(r.body);
    assert.ok(isErrorShape(j, 'payload_too_large'), r.body);
  }
  // a declared huge length is refused without waiting for the body
  const big = await rawHttp(srv.port, `POST /api/auth/login HTTP/1.1\r\n${host()}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\nConnection: close`, { timeoutMs: 3000 });
  assert.equal(big.status, 413);
  assert.ok(isErrorShape(JSON.parse(big.body), 'payload_too_large'));
  // and through fetch, as an ordinary client sends it
  let res;
  try {
    res = await fetch(`${srv.url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: loginBody(LIMIT + 5000) });
  } catch (e) {
    assert.fail(`fetch with an oversize body failed instead of reading the 413: ${e.cause?.code || e.message}`);
  }
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error, 'payload_too_large');
});

test('exactly 64 KiB is accepted (the limit is inclusive)', async () => {
  const body = loginBody(LIMIT);
  assert.equal(Buffer.byteLength(body), LIMIT);
  const r = await getJson(`${srv.url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  assert.equal(r.status, 401, `a 64 KiB body is read and judged: ${r.text}`);
  assert.equal(r.json.error, 'invalid_credentials');
});

test('a chunked body over 64 KiB → 413 payload_too_large', async () => {
  const body = loginBody(LIMIT + 4096);
  const chunks = [];
  for (let i = 0; i < body.length; i += 8192) {
    const part = body.slice(i, i + 8192);
    chunks.push(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
  }
  chunks.push('0\r\n\r\n');
  const r = await rawHttp(srv.port, `POST /api/auth/login HTTP/1.1\r\n${host()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close`, { chunks });
  assert.equal(r.status, 413, r.raw.slice(0, 300));
  assert.ok(isErrorShape(JSON.parse(r.body), 'payload_too_large'), r.body);

  // a small chunked body is read normally
  const small = JSON.stringify({ email: 'nobody@nowhere.test', password: 'wrong-password' });
  const ok = await rawHttp(srv.port, `POST /api/auth/login HTTP/1.1\r\n${host()}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close`,
    { chunks: [`${small.length.toString(16)}\r\n${small}\r\n`, '0\r\n\r\n'] });
  assert.equal(ok.status, 401, ok.raw.slice(0, 300));
});

test('a logged-in oversize POST is also 413 (the limit comes before anything else)', async () => {
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const r = await alex.request('POST', '/api/vehicles', { raw: `{"year":2020,"make":"Kia","model":"${'x'.repeat(LIMIT)}"}`, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 413);
  assert.equal(r.json.error, 'payload_too_large');
});

test('unknown /api paths → 404 JSON', async () => {
  for (const [method, path] of [['GET', '/api/nope'], ['POST', '/api/nope'], ['GET', '/api/mechanics'],
    ['GET', '/api/mechanics/available/extra'], ['GET', '/api'], ['GET', '/api/'], ['DELETE', '/api/nope/deeper'],
    ['GET', '/api/ME'], ['GET', '/api/plans/'], ['GET', '/api/sessions/not-a-real-one/nothing']]) {
    const r = await getJson(srv.url + path, { method });
    assert.equal(r.status, 404, `${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.match(r.headers.get('content-type') || '', /^application\/json/, `${method} ${path}`);
    assert.ok(isErrorShape(r.json), `${method} ${path}: ${r.text.slice(0, 200)}`);
  }
});

test('a wrong method on a known path → 405 JSON', async () => {
  for (const [method, path] of [['DELETE', '/api/me'], ['POST', '/api/me'], ['PUT', '/api/plans'], ['POST', '/api/plans'],
    ['GET', '/api/auth/login'], ['GET', '/api/auth/logout'], ['GET', '/api/auth/register'], ['POST', '/api/mechanics/available'],
    ['PATCH', '/api/vehicles'], ['DELETE', '/api/mechanic/presence'], ['POST', '/api/presence/stream'],
    ['POST', '/api/mechanic/stream'], ['POST', '/healthz'], ['DELETE', '/readyz']]) {
    const r = await getJson(srv.url + path, { method, headers: { 'Content-Type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
    assert.equal(r.status, 405, `${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.ok(isErrorShape(r.json), `${method} ${path}: ${r.text.slice(0, 200)}`);
  }
});

test('static files: / is web/index.html for a logged-in person, as text/html with an ETag; If-None-Match → 304', async () => {
  // SPEC §5: "/" sends a visitor who is not logged in to /login
  const anon = await fetch(`${srv.url}/`, { redirect: 'manual' });
  assert.ok([302, 303, 307].includes(anon.status), `anonymous / redirects: ${anon.status}`);
  assert.equal(new URL(anon.headers.get('location'), srv.url).pathname, '/login');
  const login = await fetch(`${srv.url}/login`);
  assert.equal(login.status, 200);
  assert.equal(login.headers.get('content-type'), 'text/html; charset=utf-8');

  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const cookie = { Cookie: alex.cookieHeader() };
  const file = readFileSync(resolve('web/index.html'), 'utf8');
  const r = await fetch(`${srv.url}/`, { redirect: 'manual', headers: cookie });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  const etag = r.headers.get('etag');
  assert.ok(etag && etag.length > 2, `an ETag: ${etag}`);
  assert.equal(await r.text(), file);

  const again = await fetch(`${srv.url}/`, { headers: { ...cookie, 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');
  const same = await fetch(`${srv.url}/index.html`);
  assert.equal(same.status, 200);
  assert.equal(same.headers.get('etag'), etag, 'the same file has the same ETag');
  const same304 = await fetch(`${srv.url}/index.html`, { headers: { 'If-None-Match': etag } });
  assert.equal(same304.status, 304);
  const other = await fetch(`${srv.url}/`, { headers: { ...cookie, 'If-None-Match': '"something-else"' } });
  assert.equal(other.status, 200);
  assert.equal(await other.text(), file);

  const head = await rawHttp(srv.port, `HEAD /index.html HTTP/1.1\r\n${host()}\r\nConnection: close`, { timeoutMs: 2000 });
  assert.equal(head.status, 200);
  assert.equal(head.raw.slice(head.raw.indexOf('\r\n\r\n') + 4), '', 'HEAD has no body');

  const missing = await getJson(`${srv.url}/no-such-page.html`);
  assert.equal(missing.status, 404);
});

test('paths never escape the web root', async () => {
  const readme = readFileSync(resolve('README.md'), 'utf8').slice(0, 40);
  const paths = ['/../README.md', '/../../../../etc/passwd', '/%2e%2e/README.md', '/%2E%2E/%2E%2E/%2E%2E/etc/passwd',
    '/..%2fREADME.md', '/..%2F..%2F..%2Fetc%2Fpasswd', '/.git/HEAD', '/../.git/HEAD', '/%2e%2e/.git/HEAD', '/.gitignore',
    '/index.html/../../README.md', '//etc/passwd', '/..\\README.md', '/%5c..%5cREADME.md', '/.%2e/README.md',
    '/web/../../README.md', '/./../README.md'];
  for (const p of paths) {
    const r = await rawHttp(srv.port, `GET ${p} HTTP/1.1\r\n${host()}\r\nConnection: close`, { timeoutMs: 3000 });
    assert.ok([400, 403, 404].includes(r.status), `${p}: ${r.status}`);
    assert.ok(!r.body.includes(readme) && !r.body.includes('root:') && !r.body.includes('ref: refs/'), `${p} leaked a file`);
  }
  // a NUL cuts the path short: whatever it is served as, nothing outside leaks
  const nul = await rawHttp(srv.port, `GET /%00/../README.md HTTP/1.1\r\n${host()}\r\nConnection: close`, { timeoutMs: 3000 });
  assert.ok(!nul.body.includes(readme), '/%00/../README.md leaked a file');
  // fetch normalises dot segments itself; the encoded forms reach the server as they are
  for (const p of ['/%2e%2e/README.md', '/%2e%2e/%2e%2e/etc/passwd']) {
    const r = await fetch(srv.url + p);
    assert.equal(r.status, 404, p);
  }
});

test('/healthz 200 and /readyz 200 {"status":"ready"}', async () => {
  const h = await fetch(`${srv.url}/healthz`);
  assert.equal(h.status, 200);
  const r = await getJson(`${srv.url}/readyz`);
  assert.equal(r.status, 200);
  assert.equal(r.json?.status, 'ready', r.text);
});
