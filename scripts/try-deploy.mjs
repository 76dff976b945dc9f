// The checks of scripts/try-deploy.sh, run through nginx as docs/deploy.md sets it up: three
// pitwall nodes on one PostgreSQL behind packaging/nginx/pitwall.conf. Started by that
// script, which owns every process and cleans up; this file only kills or restarts the
// nodes it is handed (by PID) and records any process it starts in TRY_PIDS.
// Prints PASS / FAIL / NOTE lines; exits 1 if any check failed.
//
// Only node's standard library: node:https (with the trial's CA, and a chosen local address
// where a check needs one), node:http2, node:child_process for psql.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { appendFileSync, openSync, readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';

const env = process.env;
const BASE = new URL(env.TRY_BASE); // https://127.0.0.1:PORT, nginx
const ORIGIN = BASE.origin; // what the nodes were given as --public-url
const CA = readFileSync(env.TRY_CA);
const PG_URL = env.TRY_PG_URL;
// "name:port:pid ...", the nodes try-deploy.sh started; argv is what a restart runs
const NODES = env.TRY_NODES.split(' ').map((entry) => {
  const [name, port, pid] = entry.split(':');
  return {
    name, port: Number(port), pid: Number(pid), log: `${env.TRY_TMP}/${name}.log`,
    argv: [env.TRY_BIN, 'serve', '--listen', `127.0.0.1:${port}`, '--db', PG_URL, '--public-url', ORIGIN,
      '--trusted-proxies', '127.0.0.1', '--web-root', 'web', '--log-level', 'info'],
  };
});
const PIDS_FILE = env.TRY_PIDS;
const HOLD_S = Number(env.TRY_HOLD_SECONDS || 75);
const KEEPALIVE_S = Number(env.TRY_KEEPALIVE_SECONDS || 15);
const THROTTLE = env.TRY_THROTTLE !== '0';
const BURST = Number(env.TRY_BURST || 16); // requests sent at once right after a node is stopped

let failed = 0;
const say = (tag, name, detail) => console.log(`${tag} ${name}${detail ? `: ${detail}` : ''}`);
const pass = (name, detail) => say('PASS', name, detail);
const fail = (name, detail) => { failed++; say('FAIL', name, detail); };
const note = (name, detail) => say('NOTE', name, detail);
const check = (ok, name, detail) => (ok ? pass(name, detail) : fail(name, detail));
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// ---- HTTP ----

// One request on a connection of its own. to: 'nginx' or a node; localAddress: the client's
// address on loopback (the throttling check needs clients nginx and pitwall can tell apart).
function request(method, path, { to = 'nginx', headers = {}, body, localAddress, timeoutMs = 10000 } = {}) {
  const viaNginx = to === 'nginx';
  const mod = viaNginx ? https : http;
  const data = body === undefined ? undefined : JSON.stringify(body);
  const opts = {
    method, path, agent: false, localAddress,
    host: '127.0.0.1', port: viaNginx ? Number(BASE.port) : to.port,
    ca: viaNginx ? CA : undefined,
    headers: { ...(data ? { 'Content-Type': 'application/json' } : {}), ...headers },
  };
  return new Promise((resolve) => {
    const req = mod.request(opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', (e) => resolve({ status: 0, headers: {}, text: String(e), json: null }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve({ status: 0, headers: {}, text: String(e), json: null }));
    if (data) req.write(data);
    req.end();
  });
}

// A Server-Sent Events client through nginx, as a browser's EventSource sees it: events with
// their ids, comments (keep-alives), and whether the stream ended.
class Stream {
  constructor(path, headers = {}) { this.path = path; this.headers = headers; }

  open(timeoutMs = 5000) {
    this.events = []; this.comments = 0; this.closed = false; this.lastId = null; this.buf = '';
    return new Promise((resolve, reject) => {
      const req = https.request({
        method: 'GET', host: '127.0.0.1', port: Number(BASE.port), path: this.path, agent: false,
        ca: CA, headers: { Accept: 'text/event-stream', ...this.headers },
      }, (res) => {
        this.status = res.statusCode; this.type = res.headers['content-type'];
        res.setEncoding('utf8');
        res.on('data', (chunk) => this.feed(chunk));
        const end = () => { if (!this.closed) this.closedAt = Date.now(); this.closed = true; };
        res.on('end', end); res.on('aborted', end); res.on('error', end); res.on('close', end);
        clearTimeout(timer);
        resolve(this);
      });
      const timer = setTimeout(() => { req.destroy(); reject(new Error(`no answer for ${this.path}`)); }, timeoutMs);
      req.on('error', (e) => { this.closed = true; clearTimeout(timer); reject(e); });
      req.end();
      this.req = req;
    });
  }

  feed(chunk) {
    this.buf += chunk;
    let i;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i); this.buf = this.buf.slice(i + 2);
      const ev = { event: 'message', data: '', id: null };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) { this.comments++; continue; }
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'event') ev.event = value;
        else if (field === 'data') ev.data += value;
        else if (field === 'id') ev.id = value;
      }
      if (ev.data) {
        ev.json = JSON.parse(ev.data); ev.at = Date.now();
        this.events.push(ev);
        if (ev.id !== null) this.lastId = ev.id;
      }
    }
  }

  async until(pred, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  close() { this.req?.destroy(); this.closed = true; }
  presenceIds() { return this.events.filter((e) => e.event === 'presence').map((e) => Number(e.id)); }
}

// ---- the nodes ----

const alive = (n) => { try { process.kill(n.pid, 0); return true; } catch { return false; } };

async function metrics(n) {
  const r = await request('GET', '/metrics', { to: n, timeoutMs: 3000 });
  return r.status === 200 ? r.text : '';
}
function metric(text, name) { // the value of one sample, by its name and labels as printed
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}
const READYZ = 'pitwall_http_requests_total{route="/readyz",status="200"}';
const PRESENCE_STREAMS = 'pitwall_streams_open{kind="presence"}';

async function servingNode() { // the live node holding the one presence stream open
  const holders = [];
  for (const n of NODES.filter(alive)) if (metric(await metrics(n), PRESENCE_STREAMS) > 0) holders.push(n);
  return holders.length === 1 ? holders[0] : null;
}

async function waitReady(n, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await request('GET', '/readyz', { to: n, timeoutMs: 1000 })).status === 200) return true;
    await sleep(100);
  }
  return false;
}

async function waitExit(n, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (alive(n) && Date.now() < deadline) await sleep(50);
  return !alive(n);
}

// Starts a stopped node again with its own command line (what systemd's Restart= does).
function restart(n) {
  const log = openSync(n.log, 'a');
  const child = spawn(n.argv[0], n.argv.slice(1), {
    detached: true, stdio: ['ignore', log, log], env: { ...process.env, PGAPPNAME: `pitwall-${n.name}` },
  });
  child.unref();
  n.pid = child.pid;
  appendFileSync(PIDS_FILE, `${child.pid}\n`);
}

// The presence events the database holds for a channel after seq `after`, in order.
function storedSeqs(mechanicId, after) {
  const out = execFileSync('psql', [PG_URL, '-AtXq', '-c',
    `SELECT seq FROM events WHERE channel = 'presence:${mechanicId}' AND seq > ${Number(after)} ORDER BY seq`],
  { encoding: 'utf8', timeout: 10000 });
  return out.split('\n').filter(Boolean).map(Number);
}
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

// ---- the checks ----

async function checkSpread() {
  const before = await Promise.all(NODES.map(async (n) => metric(await metrics(n), READYZ)));
  const statuses = [];
  for (let i = 0; i < 30; i++) statuses.push((await request('GET', '/readyz')).status);
  const after = await Promise.all(NODES.map(async (n) => metric(await metrics(n), READYZ)));
  const per = NODES.map((n, i) => after[i] - before[i]);
  const ok200 = statuses.every((s) => s === 200);
  check(ok200 && per.every((c) => c >= 5),
    '(a) /readyz through nginx answers and requests spread over the nodes',
    `30 requests, ${statuses.filter((s) => s === 200).length} answered 200; per node ${NODES.map((n, i) => `${n.name}=${per[i]}`).join(' ')}`);

  // browsers speak HTTP/2 to nginx: a stream must work there too
  const h2 = await new Promise((resolve) => {
    const s = http2.connect(ORIGIN, { ca: CA });
    const timer = setTimeout(() => { s.destroy(); resolve('timed out'); }, 5000);
    s.on('error', (e) => { clearTimeout(timer); resolve(String(e)); });
    const req = s.request({ ':path': '/api/presence/stream?ids=none', accept: 'text/event-stream' });
    let status = 0, text = '';
    req.on('response', (h) => { status = h[':status']; });
    req.setEncoding('utf8');
    req.on('data', (c) => {
      text += c;
      if (text.includes('event: snapshot')) { clearTimeout(timer); s.destroy(); resolve(`HTTP/2 ${status}, retry and snapshot received`); }
    });
    req.end();
  });
  check(h2.startsWith('HTTP/2 200'), '(a) a presence stream over HTTP/2 (what browsers use)', h2);
}

async function login(email, password = 'pitwall-demo', opts = {}) {
  const r = await request('POST', '/api/auth/login', { headers: { Origin: ORIGIN }, body: { email, password }, ...opts });
  const cookies = (r.headers['set-cookie'] || []).map((c) => c.split(';')[0]).join('; ');
  return { ...r, cookies, secure: (r.headers['set-cookie'] || []).every((c) => /;\s*Secure/i.test(c)), csrf: r.json?.csrf_token };
}

async function checkLogin() {
  const foreign = await request('POST', '/api/auth/login', {
    headers: { Origin: 'https://evil.example' }, body: { email: 'john.smith@demo.test', password: 'pitwall-demo' },
  });
  const john = await login('john.smith@demo.test');
  const me = john.status === 200 ? await request('GET', '/api/me', { headers: { Cookie: john.cookies } }) : null;
  check(john.status === 200 && john.secure && me?.status === 200 && me.json.email === 'john.smith@demo.test' &&
        foreign.status === 403,
  '(d) login through nginx (Origin = --public-url), Secure cookies, /api/me on whichever node',
  `login ${john.status}, Secure ${john.secure}, me ${me?.status}; a foreign Origin gets ${foreign.status} ${foreign.json?.error ?? ''}`);
  return { cookies: john.cookies, csrf: john.csrf, mechanicId: john.json?.user?.mechanic_id };
}

async function setPresence(john, status) {
  return request('POST', '/api/mechanic/presence', {
    headers: { Cookie: john.cookies, 'X-CSRF-Token': john.csrf }, body: { status },
  });
}
async function togglePresence(john) { // a change whatever the presence is now (a timeout may have moved it)
  const now = await request('GET', '/api/mechanic/presence', { headers: { Cookie: john.cookies } });
  return setPresence(john, now.json?.presence === 'online' ? 'offline' : 'online');
}

async function checkHold(john) {
  const s = await new Stream(`/api/presence/stream?ids=${john.mechanicId}`).open();
  const snap = await s.until((x) => x.events.some((e) => e.event === 'snapshot'), 5000);
  if (s.status !== 200 || !snap) {
    fail('(b) a presence stream opens through nginx', `status ${s.status}, snapshot ${snap}`);
    return null;
  }
  const from = Number(s.events[0].id);
  const t0 = Date.now();
  const set = await setPresence(john, 'online');
  const got = await s.until((x) => x.events.some((e) => e.event === 'presence' && e.json.presence === 'online'), 5000);
  const ev = s.events.find((e) => e.event === 'presence' && e.json.presence === 'online');
  check(set.status === 200 && got, '(b) John goes online through nginx; the stream (through nginx) hears it',
    got ? `${ev.at - t0} ms after the POST, id ${ev.id}` : `POST ${set.status} ${set.text.slice(0, 100)}`);

  console.log(`.... holding the stream ${HOLD_S} s (nginx's default proxy_read_timeout is 60 s)`);
  const comments0 = s.comments;
  const deadline = Date.now() + HOLD_S * 1000;
  while (Date.now() < deadline && !s.closed) await sleep(250);
  const held = (Date.now() - t0) / 1000;
  const comments = s.comments - comments0;
  const t1 = Date.now();
  const toggled = await togglePresence(john);
  const want = storedSeqs(john.mechanicId, from);
  const all = await s.until((x) => same(x.presenceIds(), storedSeqs(john.mechanicId, from)), 5000);
  check(!s.closed && comments >= Math.floor(HOLD_S / KEEPALIVE_S) - 1 && toggled.status === 200 && all,
    `(b) the stream stays open ${HOLD_S} s through nginx and still delivers`,
    `open after ${held.toFixed(1)} s: ${!s.closed}; ${comments} keep-alive comments; a change after the hold arrived ` +
    `${all ? `in ${Date.now() - t1} ms` : 'NOT'}; ids ${s.presenceIds().join(',')} = stored ${storedSeqs(john.mechanicId, from).join(',') || want}`);
  return s;
}

// A mechanic's dashboard stream keeps them "seen" while it is open; pitwall notices a closed
// one at once (it watches the socket). Behind nginx that socket is nginx's: nginx must close
// its upstream connection when the browser goes away.
async function checkDashboardClose(john) {
  const KIND = 'pitwall_streams_open{kind="mechanic"}';
  const count = async () => (await Promise.all(NODES.filter(alive).map(async (n) => metric(await metrics(n), KIND))))
    .reduce((a, b) => a + b, 0);
  const d = await new Stream('/api/mechanic/stream', { Cookie: john.cookies }).open(); // sends no event at first
  let opened = false;
  for (const t = Date.now(); !opened && Date.now() - t < 5000;) { opened = (await count()) === 1; if (!opened) await sleep(50); }
  const t0 = Date.now();
  d.close();
  let gone = false;
  while (!gone && Date.now() - t0 < 5000) { gone = (await count()) === 0; if (!gone) await sleep(50); }
  check(d.status === 200 && opened && gone, '(b) a dashboard stream closed by the browser is closed on its node too',
    `status ${d.status}, open on a node: ${opened}; gone there ${gone ? `${Date.now() - t0} ms` : 'NOT within 5 s'} after the client left`);
}

// nginx -s reload (a new certificate, a changed upstream): the old workers stop taking new
// connections and end the streams they still carry after worker_shutdown_timeout; the
// clients come back to the new workers with Last-Event-ID.
async function checkReload(john, s) {
  const last0 = s.lastId;
  const t0 = Date.now();
  process.kill(Number(env.TRY_NGINX_PID), 'SIGHUP');
  await sleep(1000);
  const during = await togglePresence(john); // reaches the old stream: it is still connected
  const ended = await s.until((x) => x.closed, (Number(env.TRY_SHUTDOWN_TIMEOUT || 30) + 10) * 1000);
  const endS = ((s.closedAt ?? Date.now()) - t0) / 1000;
  const last = s.lastId;
  const after = await togglePresence(john);
  await sleep(2000);
  const again = await new Stream(`/api/presence/stream?ids=${john.mechanicId}`, { 'Last-Event-ID': last }).open();
  const complete = await again.until((x) => same(x.presenceIds(), storedSeqs(john.mechanicId, last)), 5000);
  const gotDuring = s.presenceIds().some((id) => id > Number(last0));
  check(ended && during.status === 200 && gotDuring && after.status === 200 && complete && !again.events.some((e) => e.event === 'snapshot'),
    '(g) nginx reload: the old worker keeps the stream until worker_shutdown_timeout, then the client resumes with Last-Event-ID',
    `stream ended ${ended ? `${endS.toFixed(1)} s after the reload` : 'NOT'}; a change during it arrived on the old stream: ${gotDuring}; ` +
    `replayed after ${last}: ${again.presenceIds().join(',') || '-'} = stored ${storedSeqs(john.mechanicId, last).join(',') || '-'}`);
  again.close();
}

// A client on the node that goes away reconnects through nginx with the last id it saw;
// `stop` takes the node away (SIGKILL, or SIGTERM to drain).
async function checkFailover(john, s, label, signal) {
  const victim = await servingNode();
  if (!victim) { fail(`(${label}) find the node serving the stream`, 'not exactly one node holds a presence stream'); return null; }
  const last = s.lastId;
  const t0 = Date.now();
  process.kill(victim.pid, signal);
  // what the rest of the site sees meanwhile: readiness through nginx, and writes; first a
  // burst at once (some of nginx's idle connections to the victim may still be open), then
  // one change after another, each of which must reach the client
  const ended = s.until((x) => x.closed, 6000);
  const exited = waitExit(victim, 8000);
  const burst = await Promise.all(Array.from({ length: BURST }, (_, i) => (i % 2
    ? request('GET', '/readyz').then((r) => ({ kind: 'readyz', status: r.status }))
    : setPresence(john, i % 4 ? 'online' : 'offline').then((r) => ({ kind: 'write', status: r.status })))));
  const readyz = burst.filter((b) => b.kind === 'readyz').map((b) => b.status);
  const writes = burst.filter((b) => b.kind === 'write').map((b) => b.status);
  const changes = [];
  for (let i = 0; i < 4; i++) {
    readyz.push((await request('GET', '/readyz')).status);
    changes.push((await togglePresence(john)).status);
    await sleep(100);
  }
  const endedOk = await ended;
  const endMs = (s.closedAt ?? Date.now()) - t0;
  const exitedOk = await exited;
  for (let i = 0; i < 10; i++) readyz.push((await request('GET', '/readyz')).status);
  // the browser waits its retry (2 s) and comes back with Last-Event-ID
  await sleep(2000);
  const again = await new Stream(`/api/presence/stream?ids=${john.mechanicId}`, { 'Last-Event-ID': last }).open();
  await again.until((x) => x.events.length > 0, 3000);
  const want = storedSeqs(john.mechanicId, last);
  const complete = await again.until((x) => same(x.presenceIds(), storedSeqs(john.mechanicId, last)), 5000);
  const snapshot = again.events.some((e) => e.event === 'snapshot');
  const now = await servingNode();
  const sig = signal === 'SIGKILL' ? 'killed (SIGKILL)' : 'drained (SIGTERM)';
  check(endedOk && exitedOk, `(${label}) ${victim.name} ${sig}: its stream ends and the process is gone`,
    `stream ended after ${endMs} ms; exited ${exitedOk}`);
  check(readyz.every((x) => x === 200), `(${label}) meanwhile /readyz through nginx always answers 200`,
    `${readyz.length} requests: ${summary(readyz)}`);
  const writesOk = writes.every((x) => x === 200);
  // a drain may answer 503 to a POST that nginx sent on a connection kept from before: nginx
  // does not retry a POST, so that one is reported, not failed (docs/deploy.md, "Upgrades")
  const burstName = `(${label}) meanwhile a burst of presence POSTs through nginx`;
  const burstDetail = `${writes.length} at once: ${summary(writes)}`;
  const drainAnswer = signal === 'SIGTERM' && writes.every((x) => x === 200 || x === 503);
  if (writesOk || !drainAnswer) check(writesOk, burstName, burstDetail);
  else note(burstName, `${burstDetail} (503 = sent to the draining node on a kept connection; nginx does not retry a POST)`);
  check(changes.every((x) => x === 200), `(${label}) meanwhile changes one after another through nginx`,
    `${changes.length} toggles: ${summary(changes)}`);
  check(again.status === 200 && complete && !snapshot && want.length >= changes.length && now && now !== victim,
    `(${label}) the client reconnects through nginx with Last-Event-ID ${last}: every change since, in order, no snapshot`,
    `on ${now?.name ?? '?'}; replayed ${again.presenceIds().join(',') || '-'}; stored after ${last}: ${want.join(',') || '-'}`);
  return { stream: again, victim };
}

const summary = (xs) => Object.entries(xs.reduce((m, x) => ({ ...m, [x]: (m[x] || 0) + 1 }), {}))
  .map(([k, v]) => `${v}x ${k}`).join(', ');

async function checkRejoin(victim) {
  restart(victim);
  if (!(await waitReady(victim))) { fail(`(c) ${victim.name} restarted`, 'not ready in 15 s'); return; }
  const t0 = Date.now();
  let reached = 0;
  const before = metric(await metrics(victim), READYZ);
  while (Date.now() - t0 < 25000 && reached === 0) {
    for (let i = 0; i < 6; i++) await request('GET', '/readyz');
    reached = metric(await metrics(victim), READYZ) - before;
    if (!reached) await sleep(1000);
  }
  check(reached > 0, `(c) ${victim.name} restarted takes requests through nginx again`,
    reached ? `after ${((Date.now() - t0) / 1000).toFixed(1)} s (nginx's fail_timeout is 10 s)` : 'not within 25 s');
}

// pitwall counts failed logins per client address; behind nginx it takes the address nginx
// appended to X-Forwarded-For (--trusted-proxies 127.0.0.1). nginx also limits each client's
// attempts (limit_req). Many clients failing together must not lock anyone else out.
async function checkThrottle() {
  const fail = (localAddress, n) => request('POST', '/api/auth/login', {
    localAddress, headers: { Origin: ORIGIN }, body: { email: `guess${n}@nobody.test`, password: 'wrong-password' },
  });
  // one client: nginx answers 429 (its JSON, without asking a node) once the burst is spent
  const one = [];
  for (let i = 0; i < 30; i++) one.push(await fail('127.0.0.3', i));
  const byNginx = one.filter((r) => r.status === 429 && r.json?.message?.includes('in a minute')).length;
  const bystander0 = await login('alex@demo.test', 'pitwall-demo', { localAddress: '127.0.0.5' });
  check(byNginx >= 15 && one.slice(0, 10).every((r) => r.status === 401) && bystander0.status === 200,
    '(f) nginx limits one client\'s login attempts; others still log in',
    `30 wrong passwords from 127.0.0.3: ${summary(one.map((r) => r.status))} (${byNginx} of the 429s from nginx); ` +
    `alex from 127.0.0.5: ${bystander0.status}`);

  // many clients, a few attempts each, until pitwall itself refuses every one
  let tries = 0, in429 = 0, first429 = 0, host = 10;
  while (tries < 450 && in429 < 12) {
    const batch = await Promise.all([0, 1, 2].map(() => {
      tries++;
      const from = `127.0.${1 + Math.floor(host / 250)}.${10 + (host++ % 240)}`;
      return fail(from, 100 + tries);
    }));
    for (const r of batch) {
      if (r.status === 429) { in429++; if (!first429) first429 = tries; } else in429 = 0;
    }
  }
  const alex = await login('alex@demo.test', 'pitwall-demo', { localAddress: '127.0.0.5' });
  const alexDirect = await request('POST', '/api/auth/login', {
    to: NODES.find(alive), localAddress: '127.0.0.4',
    headers: { Origin: ORIGIN }, body: { email: 'alex@demo.test', password: 'pitwall-demo' },
  });
  note('(f) failed logins from many clients through nginx',
    `${tries} wrong passwords from ${tries} addresses (127.0.x.y), each for another email: pitwall's first 429 after ${first429 || 'none'}`);
  check(alex.status === 200 && alexDirect.status === 200,
    '(f) many clients failing do not lock anyone else out',
    `alex@demo.test with the right password through nginx from 127.0.0.5: ${alex.status} ${alex.json?.error ?? ''}; ` +
    `straight to a node from 127.0.0.4: ${alexDirect.status} (each node counts the client nginx names, in one table)`);
}

async function main() {
  await checkSpread();
  const john = await checkLogin();
  if (!john.mechanicId) { fail('(d) John has a mechanic id', 'login failed; stopping'); return; }
  const s = await checkHold(john);
  if (!s) return;
  await checkDashboardClose(john);
  const killed = await checkFailover(john, s, 'c', 'SIGKILL');
  if (!killed) return;
  await checkRejoin(killed.victim);
  const drained = await checkFailover(john, killed.stream, 'e', 'SIGTERM');
  if (drained) {
    restart(drained.victim);
    check(await waitReady(drained.victim), `(e) ${drained.victim.name} started again after its drain`, '');
    await checkReload(john, drained.stream);
  }
  if (THROTTLE) await checkThrottle();
}

const watchdog = setTimeout(() => { fail('trial', 'the checks did not finish in time'); process.exit(1); },
  (HOLD_S + 240) * 1000);
main().catch((e) => fail('trial', e.stack)).finally(() => {
  clearTimeout(watchdog);
  process.exit(failed ? 1 : 0);
});
