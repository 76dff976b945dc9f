// One address must not take pitwall down (issue 13; docs/internals/connections.md): the
// per-address shares of connections and streams, the deadline of a request's head, the reserve
// anonymous streams never take, and the global limit closing at once rather than hanging.
// Loopback only: the attackers are other addresses of 127.0.0.0/8. Bounded: a few hundred
// sockets, every wait capped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { startServer, loggedIn, openStream, sleep, freePort } from './helpers.mjs';

const PER_ADDR = 20, PER_ADDR_STREAMS = 10, MAX = 200, RESERVE = 20, TIMEOUT_S = 2;
let srv, mechanicId;
const sockets = new Set();

// A socket from localAddress, connected. Its `closedBy` promise resolves when the server ends
// it (EOF or reset); `data` collects what it sent.
function connectFrom(port, localAddress) {
  return new Promise((ok, fail) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.data = '';
    s.closedAt = null;
    s.ended = new Promise((done) => {
      const end = () => { if (s.closedAt === null) s.closedAt = Date.now(); done(); };
      s.on('end', end);
      s.on('close', end);
      s.on('error', end);
    });
    s.on('data', (d) => { s.data += d.toString('latin1'); });
    s.once('connect', () => { sockets.add(s); ok(s); });
    s.once('error', fail);
  });
}

async function closedWithin(s, ms) {
  return Promise.race([s.ended.then(() => true), sleep(ms).then(() => false)]);
}

// GET path from localAddress over a fresh connection: { status, ms }.
function getFrom(port, localAddress, path, headers = {}) {
  const t0 = Date.now();
  return new Promise((ok, fail) => {
    const req = http.get({ host: '127.0.0.1', port, path, localAddress, headers, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => ok({ status: res.statusCode, headers: res.headers, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} from ${localAddress}: no answer in 3 s`)));
    req.on('error', fail);
  });
}

// An anonymous presence stream from localAddress: resolves with its status line's code once
// the head has arrived (the socket stays open for a 200).
async function streamFrom(port, localAddress) {
  const s = await connectFrom(port, localAddress);
  s.write(`GET /api/presence/stream?ids=${mechanicId} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
  for (let i = 0; i < 100 && !s.data.includes('\r\n\r\n') && s.closedAt === null; i++) await sleep(20);
  const m = /^HTTP\/1\.1 (\d{3})/.exec(s.data);
  s.status = m ? Number(m[1]) : 0;
  s.retryAfter = /\r\nRetry-After: (\d+)/i.exec(s.data)?.[1];
  return s;
}

function closeAll(list) {
  for (const s of list) { s.destroy(); sockets.delete(s); }
}

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

before(async () => {
  srv = await startServer({
    args: ['--max-connections', String(MAX), '--max-connections-per-address', String(PER_ADDR),
      '--max-streams-per-address', String(PER_ADDR_STREAMS), '--reserved-connections', String(RESERVE * 100 / MAX),
      '--request-timeout', String(TIMEOUT_S)],
  });
  const r = await fetch(`${srv.url}/api/mechanics/available`).then((x) => x.json());
  mechanicId = r.mechanics[0].id;
});

after(async () => {
  closeAll([...sockets]);
  await srv?.stop();
  srv?.cleanup?.();
});

test('trickled headers: one address gets its share, the next connection is closed, another address is served, the deadline ends them', async () => {
  const rss0 = rssKiB(srv.proc.pid);
  const held = [];
  for (let i = 0; i < PER_ADDR; i++) {
    const s = await connectFrom(srv.port, '127.0.0.2');
    s.write('GET /api/mechanics/available HTTP/1.1\r\nHost: x\r\n');
    held.push(s);
  }
  const trickle = setInterval(() => { for (const s of held) if (!s.destroyed) s.write('X-Slow: 1\r\n'); }, 300);
  try {
    await sleep(200);
    const extra = await connectFrom(srv.port, '127.0.0.2');
    assert.ok(await closedWithin(extra, 1000), 'the connection past the share is closed at once');
    assert.equal(extra.data, '', 'and gets no answer');

    // a burst of refused connections: the log stays short (a count per interval)
    const burst = [];
    for (let i = 0; i < 200; i++) burst.push(connectFrom(srv.port, '127.0.0.2').catch(() => null));
    await Promise.all((await Promise.all(burst)).filter(Boolean).map((s) => closedWithin(s, 2000)));

    const other = await getFrom(srv.port, '127.0.0.3', '/api/mechanics/available');
    assert.equal(other.status, 200);
    assert.ok(other.ms < 1000, `another address is answered in under 1 s (${other.ms} ms)`);

    const t0 = Date.now();
    const ended = await Promise.all(held.map((s) => closedWithin(s, (TIMEOUT_S + 3) * 1000)));
    assert.ok(ended.every(Boolean), 'every trickling connection is closed by the deadline, though it never went idle');
    const waited = Math.max(...held.map((s) => s.closedAt)) - t0;
    assert.ok(waited <= (TIMEOUT_S + 2) * 1000, `closed within the deadline and one tick (${waited} ms)`);
    assert.ok(held.every((s) => s.data === ''), 'no answer to a head that never ended');
  } finally {
    clearInterval(trickle);
    closeAll(held);
  }
  const refusedLines = srv.stderr().split('\n').filter((l) => l.includes('"connection refused"')).length;
  assert.ok(refusedLines >= 1 && refusedLines <= 20, `refusals are logged, a few per interval (${refusedLines} lines for 201)`);
  const grown = rssKiB(srv.proc.pid) - rss0;
  assert.ok(grown < 20 * 1024, `memory stays bounded (${grown} KiB more)`);
});

test('idle connections: the share is closed past it, and every one after the deadline', async () => {
  const held = [];
  for (let i = 0; i < PER_ADDR; i++) held.push(await connectFrom(srv.port, '127.0.0.4'));
  await sleep(200);
  const extra = await connectFrom(srv.port, '127.0.0.4');
  assert.ok(await closedWithin(extra, 1000), 'the connection past the share is closed at once');
  const other = await getFrom(srv.port, '127.0.0.3', '/api/mechanics/available');
  assert.equal(other.status, 200);
  assert.ok(other.ms < 1000, `another address is answered in under 1 s (${other.ms} ms)`);
  const ended = await Promise.all(held.map((s) => closedWithin(s, (TIMEOUT_S + 3) * 1000)));
  assert.ok(ended.every(Boolean), 'idle connections are closed by the deadline, not after 30 s');
  closeAll(held);
  const again = await connectFrom(srv.port, '127.0.0.4');
  again.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await closedWithin(again, 2000);
  assert.match(again.data, /^HTTP\/1\.1 200/, 'the address has its share back');
  closeAll([again]);
});

test('anonymous streams: a share per address (429 past it), a reserve they never take (503), and a mechanic still connects', async () => {
  const mine = [];
  try {
    for (let i = 0; i < PER_ADDR_STREAMS; i++) {
      const s = await streamFrom(srv.port, '127.0.0.5');
      mine.push(s);
      assert.equal(s.status, 200, `stream ${i + 1} of the address's share`);
    }
    const past = await streamFrom(srv.port, '127.0.0.5');
    mine.push(past);
    assert.equal(past.status, 429, 'a stream past the address share');
    assert.ok(Number(past.retryAfter) > 0, 'with Retry-After');
    assert.match(past.data, /"error":"too_many_requests"/);

    // other addresses fill what anonymous streams may take: everything but the reserve
    const anonCap = MAX - RESERVE;
    for (let a = 10; mine.filter((s) => s.status === 200).length < anonCap; a++) {
      for (let i = 0; i < PER_ADDR_STREAMS && mine.filter((s) => s.status === 200).length < anonCap; i++) {
        const s = await streamFrom(srv.port, `127.0.0.${a}`);
        assert.equal(s.status, 200, `anonymous stream from 127.0.0.${a}`);
        mine.push(s);
      }
    }
    const full = await streamFrom(srv.port, '127.0.0.99');
    mine.push(full);
    assert.equal(full.status, 503, 'an anonymous stream past the anonymous share');
    assert.ok(Number(full.retryAfter) > 0, 'with Retry-After');
    assert.match(full.data, /"error":"unavailable"/);

    const dir = await getFrom(srv.port, '127.0.0.3', '/api/mechanics/available');
    assert.equal(dir.status, 200, 'the directory still answers');
    const john = await loggedIn(srv.url, 'john.smith@demo.test');
    const dash = await openStream(srv.url, '/api/mechanic/stream', { Cookie: john.cookieHeader() });
    assert.equal(dash.status, 200, "a logged-in mechanic's dashboard stream connects from the reserve");
    dash.close();
  } finally {
    closeAll(mine);
  }
});

test('at the global limit a new connection is closed at once, not left waiting in the backlog', async () => {
  const port = await freePort();
  const small = await startServer({
    port,
    args: ['--max-connections', '30', '--max-connections-per-address', '0', '--max-streams-per-address', '0',
      '--reserved-connections', '0'],
  });
  const held = [];
  try {
    const r = await fetch(`${small.url}/api/mechanics/available`).then((x) => x.json());
    const id = r.mechanics[0].id;
    // more than the limit: whatever else is open (the test's own kept-alive fetches), the
    // table is full
    for (let i = 0; i < 34; i++) {
      const s = await connectFrom(port, '127.0.0.2');
      s.write(`GET /api/presence/stream?ids=${id} HTTP/1.1\r\nHost: x\r\n\r\n`);
      held.push(s);
    }
    // top up until the server refuses one: the table is full now, whatever else closed
    for (let i = 0; i < 20; i++) {
      const s = await connectFrom(port, '127.0.0.2');
      s.write(`GET /api/presence/stream?ids=${id} HTTP/1.1\r\nHost: x\r\n\r\n`);
      held.push(s);
      if (await closedWithin(s, 300)) break;
    }
    const t0 = Date.now();
    const late = await connectFrom(port, '127.0.0.3');
    late.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(await closedWithin(late, 1000), `closed at once (got ${JSON.stringify(late.data.slice(0, 80))})`);
    assert.equal(late.data, '', 'without an answer');
    assert.ok(Date.now() - t0 < 1000);
    closeAll(held.splice(0, 5));
    await sleep(300);
    const ok = await getFrom(port, '127.0.0.3', '/healthz');
    assert.equal(ok.status, 200, 'served again once there is room');
  } finally {
    closeAll(held);
    await small.stop();
    small.cleanup?.();
  }
});
