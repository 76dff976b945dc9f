// The torture test (docs/internals/torture.md), in the manner of curl's: for the request
// paths of login, booking, presence and accept, the Nth allocation (then the Nth store call)
// of the request fails, for N = 1, 2, ... until the request succeeds with no failure
// injected. Each time: the answer is a 5xx in the {"error","message"} shape (or a success
// when the failure hit nothing the client sees), the process still answers /healthz, and
// the tables the request touches are exactly as before. The server runs until the end of
// each path and must then stop cleanly: under `make check-asan` a leak fails the test.
//
// It drives pitwall-torture (tests/torture/, built with the unit tests) on SQLite only: the
// injection sits above the storage interface, so what it proves about the handlers does not
// depend on the backend, and the PostgreSQL backend's own error paths are covered by the
// storage tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startServer, freePort, loggedIn, Client, isErrorShape, BIN, DEMO_PASSWORD } from './helpers.mjs';
import { sessionBody, vehiclesOf } from './booking_helpers.mjs';

const TORTURE_BIN = process.env.PITWALL_TORTURE_BIN || join(dirname(BIN), 'tests', 'torture', 'pitwall-torture');
const N_MAX = Number(process.env.PITWALL_TORTURE_MAX || 5000); // a runaway guard, not a target

// The state a failed request must not change (volatile columns such as last_seen_at left out).
const DUMP = `
SELECT 'user', id, credit_balance_cents, free_session_used FROM users ORDER BY id;
SELECT 'auth', token_hash, user_id FROM auth_sessions ORDER BY token_hash;
SELECT 'mechanic', id, presence, status, can_accept_sessions FROM mechanics ORDER BY id;
SELECT 'session', * FROM sessions ORDER BY id;
SELECT 'offer', * FROM offers ORDER BY id;
SELECT 'event', seq, type, channel, payload FROM events ORDER BY seq;
SELECT 'vehicle', * FROM vehicles ORDER BY id;
SELECT 'login_failures', count(*) FROM login_failures;`;


function dump(srv) {
  return execFileSync('sqlite3', ['-readonly', join(srv.dir, 'pitwall.db'), DUMP], { encoding: 'utf8' });
}

async function status(srv) {
  const r = await fetch(`${srv.url}/__torture/status`);
  assert.equal(r.status, 200);
  return r.json();
}

// Runs one path: p.setup(srv) -> ctx once, on a demo server whose database then becomes the
// fixture; p.run(ctx, url, headers) -> response, once per N. A server restarted on a copy of
// the fixture (same port: the clients' cookies stay valid) gives the next N the same state
// after a request that changed it; p.reset, when a path has one, does the same cheaper.
async function torture(name, mode, p) {
  const port = await freePort();
  const args = ['--presence-timeout', '3600'];
  let srv = await startServer({ port, args, bin: TORTURE_BIN });
  const url = srv.url;
  const ctx = await p.setup(srv);
  const initial = { ...ctx }; // what a restart on the fixture goes back to
  await srv.stop();
  const fixture = srv.dir;
  srv = null;
  let before = null;
  const fresh = async () => {
    if (srv) { await srv.stop(); srv.cleanup(); }
    const dir = mkdtempSync(join(tmpdir(), 'pitwall-torture-'));
    copyFileSync(join(fixture, 'pitwall.db'), join(dir, 'pitwall.db'));
    srv = await startServer({ port, dir, args, demo: false, bin: TORTURE_BIN, env: { PITWALL_FAULT_BACKTRACE: '1' } });
    Object.assign(ctx, initial);
    before = dump(srv);
  };
  const problems = [];
  let n = 1, restarts = 0, last;
  try {
    await fresh();
    for (; n <= N_MAX; n++) {
      let res;
      try {
        res = await p.run(ctx, url, { 'X-Pitwall-Fault': `${mode}=${n}` });
      } catch (e) { // no answer: the process died
        await srv.kill();
        problems.push(`${mode}=${n}: no answer (${e.cause?.code || e.message}):\n${srv.stderr().slice(-6000)}`);
        srv = null;
        break;
      }
      const st = await status(srv);
      last = st;
      const health = await fetch(`${url}/healthz`).then((r) => r.status, (e) => String(e));
      if (health !== 200) { problems.push(`${mode}=${n}: /healthz ${health} after ${res.status}`); break; }
      const ok = res.status >= 200 && res.status < 300;
      if (ok && !st.fired) break; // N went past the request: done
      if (ok) { // the failure hit something the client does not see (a log line, a fan-out)
        if (p.reset && await p.reset(ctx, url)) before = dump(srv);
        else { restarts++; await fresh(); }
        continue;
      }
      const where = () => { // with PITWALL_FAULT_BACKTRACE=1: the frames of the failed call
        const log = srv.stderr(), at = log.lastIndexOf('fault fired at:');
        return at < 0 ? '' : '\n' + log.slice(at, at + 1500);
      };
      if (res.status < 500 || !isErrorShape(res.json)) problems.push(`${mode}=${n}: ${res.status} ${res.text.slice(0, 200)}${where()}`);
      if (dump(srv) !== before) {
        problems.push(`${mode}=${n}: the database changed after a ${res.status}${where()}`);
        restarts++;
        await fresh(); // so that the next N starts from the same state
      }
    }
    if (n > N_MAX) problems.push(`${mode}: no success within ${N_MAX} injected failures`);
  } finally {
    if (srv) {
      try { await srv.stop(); } catch (e) { problems.push(`${mode}: ${e.message.slice(0, 3000)}`); }
      srv.cleanup();
    }
    rmSync(fixture, { recursive: true, force: true });
  }
  console.log(`${name} ${mode}: N = 1..${n - 1} failed in turn (${last?.allocs} allocations, ` +
    `${last?.stores} store calls counted on the last run), ${restarts} restarts`);
  assert.deepEqual(problems, [], `${name}: ${problems.length} problems\n${problems.join('\n')}`);
}

const paths = {
  login: {
    async setup() { return {}; },
    async reset() { return true; /* a new login row: the next N compares against it */ },
    run: (ctx, srvUrl, headers) => new Client(srvUrl).post('/api/auth/login',
      { email: 'alex@demo.test', password: DEMO_PASSWORD }, { headers }),
  },
  booking: {
    async setup(srv) {
      const alex = await loggedIn(srv.url, 'alex@demo.test');
      const john = await loggedIn(srv.url, 'john.smith@demo.test');
      const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
      for (const m of [john, maria]) assert.equal((await m.post('/api/mechanic/presence', { status: 'online' })).status, 200);
      const [v] = await vehiclesOf(alex);
      return { alex, vehicle: v.id };
    },
    async reset(ctx) { // cancel the booking: the customer may book again, credits come back
      const live = (await ctx.alex.get('/api/sessions')).json.sessions.find((x) => ['awaiting_payment', 'priority', 'broadcast'].includes(x.state));
      return (await ctx.alex.post(`/api/sessions/${live.id}/cancel`, {})).status === 200;
    },
    run: (ctx, srvUrl, headers) => ctx.alex.post('/api/sessions', sessionBody(ctx.vehicle), { headers }),
  },
  presence: {
    async setup(srv) {
      const alex = await loggedIn(srv.url, 'alex@demo.test');
      const john = await loggedIn(srv.url, 'john.smith@demo.test');
      const [v] = await vehiclesOf(alex);
      // a session being broadcast: john coming online joins it (join_broadcast)
      const b = await alex.post('/api/sessions', sessionBody(v.id));
      assert.equal(b.status, 201, b.text);
      return { alex, john, vehicle: v.id, id: b.json.id };
    },
    async reset(ctx) { // john offline, a new broadcast without him: coming online joins it again
      if ((await ctx.john.post('/api/mechanic/presence', { status: 'offline' })).status !== 200) return false;
      if ((await ctx.alex.post(`/api/sessions/${ctx.id}/cancel`, {})).status !== 200) return false;
      const b = await ctx.alex.post('/api/sessions', sessionBody(ctx.vehicle));
      if (b.status !== 201) return false;
      ctx.id = b.json.id;
      return true;
    },
    run: (ctx, srvUrl, headers) => ctx.john.post('/api/mechanic/presence', { status: 'online' }, { headers }),
  },
  accept: {
    async setup(srv) {
      const alex = await loggedIn(srv.url, 'alex@demo.test');
      const john = await loggedIn(srv.url, 'john.smith@demo.test');
      const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
      for (const m of [john, maria]) assert.equal((await m.post('/api/mechanic/presence', { status: 'online' })).status, 200);
      const [v] = await vehiclesOf(alex);
      const b = await alex.post('/api/sessions', sessionBody(v.id));
      assert.equal(b.status, 201, b.text);
      return { alex, john, vehicle: v.id, id: b.json.id };
    },
    async reset(ctx) { // john ends the session (back online); a new one is offered to both
      if ((await ctx.john.post(`/api/sessions/${ctx.id}/end`, { outcome: 'resolved' })).status !== 200) return false;
      const b = await ctx.alex.post('/api/sessions', sessionBody(ctx.vehicle));
      if (b.status !== 201) return false; // out of credits: a restart on the fixture
      ctx.id = b.json.id;
      return true;
    },
    run: (ctx, srvUrl, headers) => ctx.john.post(`/api/sessions/${ctx.id}/accept`, {}, { headers }),
  },
};

// PITWALL_TORTURE=booking:alloc,login (a developer's shortcut) runs only those
const only = (process.env.PITWALL_TORTURE || '').split(',').filter(Boolean);
const wanted = (name, mode) => !only.length || only.includes(name) || only.includes(`${name}:${mode}`);
for (const [name, p] of Object.entries(paths)) {
  for (const mode of ['alloc', 'store'].filter((m) => wanted(name, m))) {
    test(`torture: ${name}, every ${mode === 'alloc' ? 'allocation' : 'store call'} fails in turn`, async () => {
      assert.ok(existsSync(TORTURE_BIN), `${TORTURE_BIN} is built with the unit tests (meson -Dtests=enabled)`);
      await torture(name, mode, p);
    });
  }
}
