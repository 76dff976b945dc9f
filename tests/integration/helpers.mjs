// Shared helpers for the integration tests: start the real pitwall binary on a temporary
// SQLite file and a free loopback port, speak HTTP to it, read its SSE streams.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';

export const BIN = process.env.PITWALL_BIN || resolve('build/pitwall');

// The tests' own HTTP client should not sit on idle keep-alive connections: pitwall's
// SIGTERM drain waits (up to 4 s) for every open connection, and every file stops at least
// one server. Node's fetch is undici; swap its global pool for one that closes idle sockets
// after 100 ms (lifecycle.test.mjs covers an idle keep-alive connection at shutdown itself).
try {
  await fetch('data:,warm-up');
  const key = Symbol.for('undici.globalDispatcher.1');
  const Agent = globalThis[key]?.constructor;
  if (Agent) globalThis[key] = new Agent({ keepAliveTimeout: 100, keepAliveMaxTimeout: 100 });
} catch { /* keep the default pool */ }

// Debian 12's Node.js 18 runs on Debian's undici 5.15, whose Headers has no getSetCookie()
// (undici 5.19, Node 19.7): there get('set-cookie') joins the lines with ", ", so split it
// again before each "name=" (a comma inside Expires=Thu, 01 Jan ... is never followed by one).
if (typeof Headers.prototype.getSetCookie !== 'function') {
  Headers.prototype.getSetCookie = function getSetCookie() {
    const joined = this.get('set-cookie');
    return joined === null ? [] : joined.split(/,(?=\s*[^;,=\s]+=)/).map((line) => line.trim());
  };
}

export const DEMO_PASSWORD = 'pitwall-demo';

export async function freePort() {
  return new Promise((ok, fail) => {
    const srv = net.createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// Starts pitwall; returns { url, proc, dir, stop(), kill(), stderr() }.
export async function startServer({ args = [], demo = true, dir, port, env = {}, webRoot, bin = BIN } = {}) {
  dir = dir || mkdtempSync(join(tmpdir(), 'pitwall-test-'));
  port = port || (await freePort());
  const argv = ['serve', '--listen', `127.0.0.1:${port}`, '--db', `sqlite:${join(dir, 'pitwall.db')}`,
    '--web-root', webRoot || resolve('web'), ...(demo ? ['--demo'] : []), ...args];
  const proc = spawn(bin, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((ok) => proc.on('exit', (code, signal) => ok({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`pitwall exited early: ${log}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`pitwall did not start: ${log}`);
    await sleep(50);
  }
  return {
    url, proc, dir, port, exited,
    stderr: () => log,
    // SIGTERM, then insist on a clean exit: status 0 and no sanitizer report (under
    // `make check-asan` a leak or UB makes this throw).
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const r = await exited;
      if (r.code !== 0 || /Sanitizer|runtime error:/.test(log)) {
        throw new Error(`pitwall did not stop cleanly (${JSON.stringify(r)}):\n${log.slice(-4000)}`);
      }
      return r;
    },
    async kill() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      return exited;
    },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// A cookie-keeping client for one person.
export class Client {
  constructor(base) { this.base = base; this.cookies = new Map(); this.csrf = null; }

  cookieHeader() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }

  async request(method, path, { body, headers = {}, raw, csrf = true } = {}) {
    const h = { ...headers };
    if (this.cookies.size) h.Cookie = this.cookieHeader();
    if (csrf && this.csrf && method !== 'GET') h['X-CSRF-Token'] = this.csrf;
    let payload = raw;
    if (body !== undefined) { h['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
    const res = await fetch(this.base + path, { method, headers: h, body: payload, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq), value = pair.slice(eq + 1);
      if (value === '') this.cookies.delete(name); else this.cookies.set(name, value);
    }
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, json, text };
  }

  get(path, opts) { return this.request('GET', path, opts); }
  post(path, body, opts = {}) { return this.request('POST', path, { ...opts, body }); }
  put(path, body, opts = {}) { return this.request('PUT', path, { ...opts, body }); }
  del(path, opts = {}) { return this.request('DELETE', path, opts); }

  async login(email, password = DEMO_PASSWORD) {
    const r = await this.post('/api/auth/login', { email, password });
    if (r.status === 200) this.csrf = r.json.csrf_token;
    return r;
  }
}

export async function loggedIn(base, email) {
  const c = new Client(base);
  const r = await c.login(email);
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${r.text}`);
  c.me = r.json.user;
  return c;
}

// Reads an SSE stream; events() resolves parsed events as they come.
export class SSE {
  constructor(url, headers = {}) {
    this.url = url; this.headers = headers;
    this.events = []; this.comments = []; this.waiters = []; this.retry = null; this.raw = '';
    this.controller = new AbortController();
  }

  async open() {
    this.res = await fetch(this.url, { headers: this.headers, signal: this.controller.signal });
    this.status = this.res.status;
    if (this.res.status !== 200) { this.body = await this.res.text(); return this; }
    this.done = this.pump();
    return this;
  }

  async pump() {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of this.res.body) {
        const text = decoder.decode(chunk, { stream: true });
        buf += text; this.raw += text;
        let idx;
        while ((idx = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, idx); buf = buf.slice(idx + 2);
          this.parse(block);
        }
      }
    } catch { /* aborted */ }
    this.closed = true;
    this.wake();
  }

  parse(block) {
    const ev = { event: 'message', data: '', id: null };
    let hasData = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) { this.comments.push(line); continue; }
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
      if (field === 'event') ev.event = value;
      else if (field === 'data') { ev.data += (hasData ? '\n' : '') + value; hasData = true; }
      else if (field === 'id') ev.id = value;
      else if (field === 'retry') this.retry = Number(value);
    }
    if (hasData) { ev.json = JSON.parse(ev.data); this.events.push(ev); }
    this.wake();
  }

  wake() { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }

  // Waits until at least n events arrived (or the stream closed / timeout).
  async waitFor(n, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < n && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} events, have ${this.events.length}`);
      await new Promise((ok) => { this.waiters.push(ok); setTimeout(ok, Math.min(left, 100)); });
    }
    return this.events;
  }

  close() { this.controller.abort(); }
}

export async function directory(base, query = '') {
  const r = await fetch(`${base}/api/mechanics/available${query}`);
  return { status: r.status, json: await r.json() };
}

// ---- additions for the per-area test files ----

// Waits until pred(events) returns a truthy value (or throws on timeout / closed stream).
SSE.prototype.waitUntil = async function waitUntil(pred, timeoutMs = 5000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = pred(this);
    if (v) return v;
    if (this.closed) throw new Error(`stream closed while waiting for ${what}`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events.map((e) => [e.id, e.event, e.data]))}`);
    await new Promise((ok) => { this.waiters.push(ok); setTimeout(ok, Math.min(left, 100)); });
  }
};

// The first event (at index >= from) matching pred.
SSE.prototype.waitForEvent = async function waitForEvent(pred, timeoutMs = 5000, from = 0) {
  return this.waitUntil((s) => s.events.slice(from).find(pred), timeoutMs, 'a matching event');
};

// Resolves once the stream has ended (server closed it), or throws after timeoutMs.
SSE.prototype.waitClosed = async function waitClosed(timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!this.closed) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('stream did not end');
    await new Promise((ok) => { this.waiters.push(ok); setTimeout(ok, Math.min(left, 100)); });
  }
};

// Opens an SSE stream (absolute URL or path on base) and returns it.
export async function openStream(base, path, headers = {}) {
  return new SSE(path.startsWith('http') ? path : base + path, headers).open();
}

// A raw HTTP/1.1 exchange over a socket: sends `head` (string, CRLF line ends added if
// missing) and an optional body, reads until the server closes the connection or timeoutMs.
// Returns { status, headers (lower-case names; arrays for repeats), body, raw }.
export async function rawHttp(port, head, { body, timeoutMs = 5000, chunks } = {}) {
  return new Promise((ok, fail) => {
    const sock = net.connect(port, '127.0.0.1');
    const parts = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(parts).toString('latin1');
      const sep = raw.indexOf('\r\n\r\n');
      if (sep < 0) { fail(new Error(`no HTTP answer: ${JSON.stringify(raw.slice(0, 200))}`)); return; }
      const lines = raw.slice(0, sep).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      if (!m) { fail(new Error(`bad status line: ${lines[0]}`)); return; }
      const headers = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        const k = l.slice(0, c).trim().toLowerCase(), v = l.slice(c + 1).trim();
        if (k in headers) headers[k] = [].concat(headers[k], v); else headers[k] = v;
      }
      let rest = raw.slice(sep + 4);
      if (/chunked/i.test(headers['transfer-encoding'] || '')) {
        let out = '';
        for (let i = 0; i < 10000; i++) {
          const nl = rest.indexOf('\r\n');
          if (nl < 0) break;
          const size = parseInt(rest.slice(0, nl), 16);
          if (!size) break;
          out += rest.slice(nl + 2, nl + 2 + size);
          rest = rest.slice(nl + 2 + size + 2);
        }
        rest = out;
      } else if (headers['content-length'] !== undefined) {
        rest = rest.slice(0, Number(headers['content-length']));
      }
      ok({ status: Number(m[1]), headers, body: rest, raw });
    };
    const timer = setTimeout(finish, timeoutMs);
    sock.on('data', (d) => {
      parts.push(d);
      // a complete answer with a Content-Length lets us stop early
      const raw = Buffer.concat(parts).toString('latin1');
      const sep = raw.indexOf('\r\n\r\n');
      if (sep >= 0) {
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(raw.slice(0, sep + 2));
        if (cl && raw.length - sep - 4 >= Number(cl[1])) finish();
        if (/^HTTP\/1\.[01] 304/.test(raw)) finish();
      }
    });
    sock.on('error', () => finish());
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('connect', async () => {
      let h = head.replace(/\r?\n/g, '\r\n');
      if (!h.endsWith('\r\n\r\n')) h = h.replace(/(\r\n)*$/, '') + '\r\n\r\n';
      sock.write(h);
      try {
        if (chunks) {
          for (const c of chunks) { if (!sock.destroyed) sock.write(c); await sleep(5); }
        } else if (body !== undefined && !sock.destroyed) sock.write(body);
      } catch { /* the server may answer and close before it has read everything */ }
    });
  });
}

// Is b allowed to come right after a in the directory's order (§4.1, §4.7)?
export function rankedBefore(a, b) {
  const ao = a.presence === 'online' ? 1 : 0, bo = b.presence === 'online' ? 1 : 0;
  if (ao !== bo) return ao > bo;
  if (a.rating !== b.rating) return a.rating > b.rating;
  if (a.completed_sessions !== b.completed_sessions) return a.completed_sessions > b.completed_sessions;
  return Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)) < 0;
}

// Throws with the offending pair if list is not in the directory's order.
export function assertRanked(list, label = '') {
  for (let i = 1; i < list.length; i++) {
    if (!rankedBefore(list[i - 1], list[i])) {
      const f = (m) => JSON.stringify({ id: m.id, name: m.name, presence: m.presence, rating: m.rating, completed_sessions: m.completed_sessions });
      throw new Error(`${label} order broken at ${i}: ${f(list[i - 1])} before ${f(list[i])}`);
    }
  }
}

// Polls fn() until it returns a truthy value, or throws after timeoutMs.
export async function eventually(fn, timeoutMs = 5000, intervalMs = 50, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// Fetch with a raw (already encoded) query string, for inputs fetch would not build itself.
export async function getJson(url, init = {}) {
  const r = await fetch(url, { redirect: 'manual', ...init });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, json, text };
}

// Asserts the error shape {"error": code, "message": text} of §4.
export function isErrorShape(json, code) {
  return json !== null && typeof json === 'object' && typeof json.error === 'string' &&
    typeof json.message === 'string' && json.message.length > 0 && (code === undefined || json.error === code);
}
