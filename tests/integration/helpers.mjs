// Shared helpers for the integration tests: start the real pitwall binary on a temporary
// SQLite file and a free loopback port, speak HTTP to it, read its SSE streams.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';

export const BIN = process.env.PITWALL_BIN || resolve('build/pitwall');
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
export async function startServer({ args = [], demo = true, dir, port, env = {} } = {}) {
  dir = dir || mkdtempSync(join(tmpdir(), 'pitwall-test-'));
  port = port || (await freePort());
  const argv = ['serve', '--listen', `127.0.0.1:${port}`, '--db', `sqlite:${join(dir, 'pitwall.db')}`,
    '--web-root', resolve('web'), ...(demo ? ['--demo'] : []), ...args];
  const proc = spawn(BIN, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
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
    this.events = []; this.comments = []; this.waiters = []; this.retry = null;
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
        buf += decoder.decode(chunk, { stream: true });
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
