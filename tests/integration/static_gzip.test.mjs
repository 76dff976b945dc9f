// Compressed static files (issue 11): gzip when the client's Accept-Encoding allows it,
// identity when not (or gzip;q=0), Vary: Accept-Encoding on both variants, an ETag per
// variant, 304 per variant, HEAD, files edited while the server runs, path safety.
// Requests go through node:http, which (unlike fetch) neither asks for nor undoes gzip, so
// the bytes on the wire are what is compared.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startServer, loggedIn } from './helpers.mjs';

let srv, root;
before(async () => {
  // a copy of the web root, so that a test can edit its files while the server runs
  root = mkdtempSync(join(tmpdir(), 'pitwall-gzip-web-'));
  cpSync(resolve('web'), root, { recursive: true });
  writeFileSync(join(root, 'data.json'), JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ i, name: `item ${i}` })) }));
  srv = await startServer({ webRoot: root, args: ['--vendor-root', resolve('node_modules')] });
});
after(async () => {
  if (srv) { await srv.stop(); srv.cleanup(); }
  if (root) rmSync(root, { recursive: true, force: true });
});

// One request; headers may hold arrays (sent as repeated lines). Resolves with the raw body.
function get(path, headers = {}, method = 'GET') {
  return new Promise((ok, fail) => {
    const req = http.request({ host: '127.0.0.1', port: srv.port, path, method, headers, agent: false }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', fail);
    req.end();
  });
}

const varyHasAE = (h) => (h.vary || '').split(',').map((s) => s.trim().toLowerCase()).includes('accept-encoding');

// url → file in the copied web root (or node_modules for the vendored library)
const TEXT_FILES = [
  ['/login', 'login.html', /^text\/html/],
  ['/styles.css', 'styles.css', /^text\/css/],
  ['/js/api.js', 'js/api.js', /^text\/javascript/],
  ['/data.json', 'data.json', /^application\/json/],
  ['/favicon.svg', 'favicon.svg', /^image\/svg\+xml/],
  ['/vendor/chart.umd.js', null, /^text\/javascript/],
];
const fileOf = (f) => (f ? readFileSync(join(root, f)) : readFileSync(resolve('node_modules/chart.js/dist/chart.umd.js')));

test('gzip when asked: every text type, the bytes decompress to the file exactly', async () => {
  for (const [url, f, type] of TEXT_FILES) {
    const want = fileOf(f);
    for (const ae of ['gzip', 'gzip, deflate, br, zstd', 'br;q=1.0, gzip;q=0.8, *;q=0.1', 'x-gzip', '*']) {
      const r = await get(url, { 'Accept-Encoding': ae });
      assert.equal(r.status, 200, `${url} (${ae})`);
      assert.match(r.headers['content-type'], type, url);
      assert.equal(r.headers['content-encoding'], 'gzip', `${url} with Accept-Encoding: ${ae}`);
      assert.ok(varyHasAE(r.headers), `${url}: Vary: ${r.headers.vary}`);
      assert.equal(Number(r.headers['content-length']), r.body.length, url);
      assert.ok(r.body.length < want.length, `${url}: ${r.body.length} compressed bytes < ${want.length}`);
      assert.ok(gunzipSync(r.body).equals(want), `${url}: gunzip(body) is the file byte for byte`);
    }
  }
  // the admin page's chart library shrinks the most (~205 KiB)
  const chart = await get('/vendor/chart.umd.js', { 'Accept-Encoding': 'gzip' });
  assert.ok(chart.body.length < fileOf(null).length / 2, `chart.umd.js: ${chart.body.length} bytes gzipped`);
});

test('identity when gzip is not asked for, refused (q=0) or less wanted than identity', async () => {
  for (const [url, f] of TEXT_FILES) {
    const want = fileOf(f);
    for (const ae of [undefined, '', 'identity', 'br, deflate', 'gzip;q=0', 'gzip; q=0.000', '*;q=0', 'gzip;q=0, *',
      'gzip;q=0.5, identity', 'gzip;q=2']) {
      const r = await get(url, ae === undefined ? {} : { 'Accept-Encoding': ae });
      assert.equal(r.status, 200, `${url} (${ae})`);
      assert.equal(r.headers['content-encoding'], undefined, `${url} with Accept-Encoding: ${ae}`);
      assert.ok(varyHasAE(r.headers), `${url} identity answer has Vary too: ${r.headers.vary}`);
      assert.ok(r.body.equals(want), `${url}: the file as it is`);
    }
  }
});

test('Accept-Encoding sent as two header lines is read as one list', async () => {
  const r = await get('/styles.css', { 'Accept-Encoding': ['br', 'gzip'] });
  assert.equal(r.headers['content-encoding'], 'gzip');
  const no = await get('/styles.css', { 'Accept-Encoding': ['br', 'gzip;q=0'] });
  assert.equal(no.headers['content-encoding'], undefined);
});

test('each variant has its own ETag and revalidates to 304 on its own', async () => {
  for (const [url] of TEXT_FILES) {
    const gz = await get(url, { 'Accept-Encoding': 'gzip' });
    const id = await get(url);
    const gzTag = gz.headers.etag, idTag = id.headers.etag;
    assert.ok(gzTag && idTag, url);
    assert.notEqual(gzTag, idTag, `${url}: the gzip and identity variants differ in ETag`);
    // stable: the same variant again has the same ETag
    assert.equal((await get(url, { 'Accept-Encoding': 'gzip' })).headers.etag, gzTag);
    assert.equal((await get(url)).headers.etag, idTag);

    const gz304 = await get(url, { 'Accept-Encoding': 'gzip', 'If-None-Match': gzTag });
    assert.equal(gz304.status, 304, `${url}: gzip variant revalidates`);
    assert.equal(gz304.headers.etag, gzTag);
    assert.ok(varyHasAE(gz304.headers), `${url}: 304 has Vary`);
    assert.equal(gz304.body.length, 0);
    const id304 = await get(url, { 'If-None-Match': idTag });
    assert.equal(id304.status, 304, `${url}: identity variant revalidates`);
    assert.equal(id304.headers.etag, idTag);
    assert.ok(varyHasAE(id304.headers));
    // weak form and lists match too (a proxy may weaken the tag)
    assert.equal((await get(url, { 'Accept-Encoding': 'gzip', 'If-None-Match': `"nope", W/${gzTag}` })).status, 304);

    // one variant's tag does not validate the other
    const cross1 = await get(url, { 'Accept-Encoding': 'gzip', 'If-None-Match': idTag });
    assert.equal(cross1.status, 200);
    assert.equal(cross1.headers['content-encoding'], 'gzip');
    const cross2 = await get(url, { 'If-None-Match': gzTag });
    assert.equal(cross2.status, 200);
    assert.equal(cross2.headers['content-encoding'], undefined);
  }
});

test('HEAD answers the headers of GET, per variant, without a body', async () => {
  for (const [url, f] of TEXT_FILES) {
    const g = await get(url, { 'Accept-Encoding': 'gzip' });
    const h = await get(url, { 'Accept-Encoding': 'gzip' }, 'HEAD');
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    for (const k of ['content-type', 'content-encoding', 'content-length', 'etag', 'vary'])
      assert.equal(h.headers[k], g.headers[k], `${url} HEAD ${k}`);
    const hi = await get(url, {}, 'HEAD');
    assert.equal(hi.headers['content-encoding'], undefined);
    assert.equal(Number(hi.headers['content-length']), fileOf(f).length, `${url} identity HEAD length`);
    assert.ok(varyHasAE(hi.headers));
    const h304 = await get(url, { 'Accept-Encoding': 'gzip', 'If-None-Match': g.headers.etag }, 'HEAD');
    assert.equal(h304.status, 304);
  }
});

test('non-text files are not compressed and do not vary', async () => {
  for (const [url, type] of [['/favicon.ico', /^image\/(x-icon|vnd\.microsoft\.icon)/], ['/apple-touch-icon.png', /^image\/png/]]) {
    const r = await get(url, { 'Accept-Encoding': 'gzip' });
    assert.equal(r.status, 200, url);
    assert.match(r.headers['content-type'], type);
    assert.equal(r.headers['content-encoding'], undefined, url);
    assert.equal(r.headers.vary, undefined, url);
    assert.ok(r.body.equals(readFileSync(join(root, url.slice(1)))), url);
  }
});

test('a file edited while the server runs: the next gzip answer is of the new content', async () => {
  const file = join(root, 'styles.css');
  const before1 = await get('/styles.css', { 'Accept-Encoding': 'gzip' });
  assert.ok(gunzipSync(before1.body).equals(readFileSync(file)));

  // edited in place: another size
  writeFileSync(file, `${readFileSync(file, 'utf8')}\n/* edited ${Date.now()} */\n`);
  const after1 = await get('/styles.css', { 'Accept-Encoding': 'gzip' });
  assert.equal(after1.headers['content-encoding'], 'gzip');
  assert.ok(gunzipSync(after1.body).equals(readFileSync(file)), 'recompressed from the new bytes');
  assert.notEqual(after1.headers.etag, before1.headers.etag);
  // the old tag no longer validates; the new one does
  assert.equal((await get('/styles.css', { 'Accept-Encoding': 'gzip', 'If-None-Match': before1.headers.etag })).status, 200);
  assert.equal((await get('/styles.css', { 'Accept-Encoding': 'gzip', 'If-None-Match': after1.headers.etag })).status, 304);

  // the same size, other bytes, a later mtime
  const text = readFileSync(file, 'utf8');
  const same = text.replace('edited', 'EDITED');
  assert.equal(same.length, text.length);
  writeFileSync(file, same);
  const t = statSync(file).mtimeMs / 1000 + 5;
  utimesSync(file, t, t);
  const after2 = await get('/styles.css', { 'Accept-Encoding': 'gzip' });
  assert.ok(gunzipSync(after2.body).equals(Buffer.from(same)), 'same size, new mtime: recompressed');
  assert.notEqual(after2.headers.etag, after1.headers.etag);

  // replaced by a rename (how editors save): a new inode
  writeFileSync(`${file}.new`, `${same}\n/* renamed */\n`);
  renameSync(`${file}.new`, file);
  const after3 = await get('/styles.css', { 'Accept-Encoding': 'gzip' });
  assert.ok(gunzipSync(after3.body).equals(readFileSync(file)));
});

test('path safety holds with gzip asked for', async () => {
  for (const path of ['/../etc/passwd', '/%2e%2e/etc/passwd', '/.hidden', '/js/../../etc/passwd', '/vendor/../package.json',
    '/vendor/chart.js/dist/chart.umd.js', '//etc/passwd']) {
    const r = await get(path, { 'Accept-Encoding': 'gzip' });
    assert.equal(r.status, 404, `${path}: ${r.status}`);
    assert.notEqual(r.headers['content-encoding'], 'gzip', path);
  }
});

// Not a static file, but the one big JSON answer a page loads (the admin page's metrics, no
// secret in it): gzipped the same way when asked, identity otherwise, Vary either way.
test('GET /api/admin/metrics is gzipped when asked for', async () => {
  const admin = await loggedIn(srv.url, 'admin@demo.test');
  const cookie = admin.cookieHeader();
  const gz = await get('/api/admin/metrics', { Cookie: cookie, 'Accept-Encoding': 'gzip, deflate, br' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.ok(varyHasAE(gz.headers));
  const id = await get('/api/admin/metrics', { Cookie: cookie });
  assert.equal(id.status, 200);
  assert.equal(id.headers['content-encoding'], undefined);
  assert.ok(varyHasAE(id.headers));
  assert.ok(gz.body.length < id.body.length / 2, `${gz.body.length} < ${id.body.length} / 2`);
  const a = JSON.parse(gunzipSync(gz.body)), b = JSON.parse(id.body);
  delete a.generated_at; delete b.generated_at;
  assert.deepEqual(Object.keys(a), Object.keys(b));
  assert.equal((await get('/api/admin/metrics', { Cookie: cookie, 'Accept-Encoding': 'gzip;q=0' })).headers['content-encoding'], undefined);
});
