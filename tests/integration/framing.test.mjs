// Strict framing and bad bytes (issue 13): each case over a raw socket. A broken head is a
// 400 in the one error shape and the connection is closed, so that a request hidden behind
// it is never answered; bytes that are not UTF-8 are a 400, never a 500.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, freePort } from './helpers.mjs';

let srv;

// Sends bytes, reads until the server closes (or 2 s): { text, closed, answers }.
function exchange(bytes) {
  return new Promise((ok) => {
    const s = net.connect(srv.port, '127.0.0.1');
    let text = '', closed = false;
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      ok({ text, closed, answers: (text.match(/HTTP\/1\.1 \d{3}/g) || []).length });
    };
    const timer = setTimeout(done, 2000);
    s.on('data', (d) => { text += d.toString('latin1'); });
    s.on('end', () => { closed = true; done(); });
    s.on('error', () => { closed = true; done(); });
    s.on('connect', () => s.write(Buffer.from(bytes, 'latin1')));
  });
}

function body(text) {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
}

before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); srv?.cleanup?.(); });

const smuggled = 'GET /api/plans HTTP/1.1\r\nHost: x\r\n\r\n';
const framing = {
  'Content-Length and Transfer-Encoding':
    'POST /api/auth/logout HTTP/1.1\r\nHost: x\r\nContent-Length: 41\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + smuggled,
  'whitespace before a colon':
    'POST /api/auth/logout HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n' + smuggled,
  'a Transfer-Encoding other than chunked':
    'POST /api/auth/logout HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n' + smuggled,
  'two Content-Lengths':
    'POST /api/auth/logout HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 39\r\n\r\n' + smuggled,
  'a NUL in the request line': 'GET /api/plans\x00/../x HTTP/1.1\r\nHost: x\r\n\r\n' + smuggled,
  'a control byte in the request line': 'GET /api/pl\x01ans HTTP/1.1\r\nHost: x\r\n\r\n' + smuggled,
  'a control byte in a header name': 'GET /api/plans HTTP/1.1\r\nHost: x\r\nX-A\x02b: 1\r\n\r\n' + smuggled,
  'a control byte in a header value': 'GET /api/plans HTTP/1.1\r\nHost: x\r\nX-A: 1\x7f2\r\n\r\n' + smuggled,
};

for (const [name, bytes] of Object.entries(framing)) {
  test(`framing: ${name} → 400 in the error shape, connection closed, the smuggled request unanswered`, async () => {
    const r = await exchange(bytes);
    assert.match(r.text, /^HTTP\/1\.1 400 /, r.text.slice(0, 120));
    assert.equal(body(r.text).error, 'bad_request');
    assert.equal(typeof body(r.text).message, 'string');
    assert.ok(r.closed, 'the connection is closed');
    assert.equal(r.answers, 1, 'one answer: the request behind it never runs');
  });
}

test('framing: a well-formed request on the same kind of connection is answered and kept', async () => {
  const r = await exchange(smuggled + smuggled);
  assert.equal(r.answers, 2);
  assert.match(r.text, /^HTTP\/1\.1 200 /);
});

for (const [name, path] of Object.entries({
  'a query name': '/api/mechanics/available?x%FF=1',
  'a query value': '/api/mechanics/available?make=%C3',
  'stream ids': '/api/presence/stream?ids=%FF',
  'a path id': '/api/sessions/%FF%FE',
  'an encoded NUL in the path': '/api/sessions/abc%00def',
})) {
  test(`bad bytes in ${name} → 400 in the error shape (never 500)`, async () => {
    const r = await exchange(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(r.text, /^HTTP\/1\.1 400 /, r.text.slice(0, 200));
    const j = body(r.text);
    assert.equal(j.error, 'bad_request');
    assert.equal(typeof j.message, 'string');
  });
}

test('an error message that quotes bytes which are not UTF-8 stays JSON', async () => {
  const r = await exchange('GET /api/presence/stream?ids=ab%C3%28 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 400 /);
  assert.doesNotThrow(() => body(r.text));
});

test('pages send Referrer-Policy; HSTS only when the public URL is https', async () => {
  const page = await fetch(`${srv.url}/`);
  assert.equal(page.headers.get('referrer-policy'), 'same-origin');
  assert.equal(page.headers.get('strict-transport-security'), null);
  await page.text();
  const api = await fetch(`${srv.url}/api/plans`);
  assert.equal(api.headers.get('referrer-policy'), 'same-origin');
  await api.text();

  const port = await freePort();
  const tls = await startServer({ port, args: ['--public-url', 'https://pitwall.example'] });
  try {
    const r = await fetch(`${tls.url}/`);
    assert.match(r.headers.get('strict-transport-security') || '', /^max-age=\d{7,}/);
    await r.text();
  } finally {
    await tls.stop();
    tls.cleanup?.();
  }
});
