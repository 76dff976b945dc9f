// Three pitwall nodes on one PostgreSQL (SPEC §6, issue 7): a presence change made on one
// node reaches streams on the others (1,000 changes, in order, delay measured); a client
// that reconnects to another node with Last-Event-ID misses nothing; twenty mechanics spread
// over the nodes accept one broadcast at once and exactly one wins; a suspension and a
// rollout change made on one node hold on the others; failed logins count on every node; a
// mechanic whose dashboard is open on one node never times out on another; a preferred
// mechanic going offline by hand on one node ends the window once; two bookings of one
// customer at once on two nodes give one session; and a node killed with -9 in a priority
// window is covered: another node broadcasts, once.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { startServer, loggedIn, SSE, directory, eventually, sleep, isErrorShape } from './helpers.mjs';
import {
  vehicleByMake, bookOk, setPresence, presenceOf, mechanicStream, sessionStream, waitStep,
  about, waitAbout, settle, getSession,
} from './booking_helpers.mjs';

const PG_SH = resolve('scripts/pg.sh');
const WINDOW_S = 3;
const TIMEOUT_S = 4;
let pgDir = null;
let adminUrl, dbUrl, dbName;
const nodes = []; // A, B, C

function psql(url, sql) {
  return execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', url, '-c', sql],
    { encoding: 'utf8' }).trim();
}

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

const nodeArgs = () => ['--db', dbUrl, '--priority-window', String(WINDOW_S), '--request-ttl', '120',
  '--broadcast-size', '20', '--presence-timeout', String(TIMEOUT_S)];

before(async () => {
  adminUrl = process.env.PITWALL_TEST_PG_URL;
  if (!adminUrl) {
    pgDir = execFileSync(PG_SH, ['start'], { encoding: 'utf8' }).trim().split('\n').pop();
    adminUrl = execFileSync(PG_SH, ['url', pgDir], { encoding: 'utf8' }).trim();
  }
  dbName = `cluster_${process.pid}_${Date.now()}`;
  psql(adminUrl, `CREATE DATABASE ${dbName}`);
  dbUrl = withDatabase(adminUrl, dbName);
  // node C starts first, on the empty database, without demo data; then A and B at once with
  // --demo: one of them loads it, the other finds it there, and C, already running, hears of
  // it. Each node names its connections, so a test can cut exactly one node's off.
  const c = await startServer({ demo: false, args: nodeArgs(), env: { PGAPPNAME: 'pitwall-c' } });
  const args = [...nodeArgs(), '--demo-mechanics', '40'];
  nodes.push(...await Promise.all(['pitwall-a', 'pitwall-b'].map(
    (name) => startServer({ args, env: { PGAPPNAME: name } }))), c);
  assert.equal(psql(dbUrl, "SELECT count(*) FROM users WHERE email = 'john.smith@demo.test'"), '1');
  assert.equal(psql(dbUrl, "SELECT count(*) FROM mechanics m JOIN users u ON u.id = m.user_id WHERE u.email LIKE '%@gen.demo.test'"), '40');
});

after(async () => {
  for (const n of nodes) {
    if (n.proc.exitCode === null && n.proc.signalCode === null) await n.stop();
    n.cleanup();
  }
  try { if (dbName) psql(adminUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`); } catch { /* gone */ }
  if (pgDir) execFileSync(PG_SH, ['stop', pgDir]);
});

const [A, B, C] = [0, 1, 2];
const url = (i) => nodes[i].url;

// The generated mechanics taken so far by tests (each test uses its own), and their clients.
const taken = new Set();
const working = [];

// A generated mechanic who may work (approved, can accept), logged in on node i and online.
async function workingMechanic(i) {
  for (let n = 1; n <= 40; n++) {
    if (taken.has(n)) continue;
    const c = await loggedIn(url(i), `mechanic${n}@gen.demo.test`);
    const r = await c.post('/api/mechanic/presence', { status: 'online' });
    if (r.status === 200) { taken.add(n); working.push(c); return c; }
    assert.equal(r.status, 403, r.text);
  }
  throw new Error('no working generated mechanic left');
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

test('a node running before the demo data was loaded lists it', async () => {
  for (const i of [A, B, C]) {
    await eventually(async () => (await directory(url(i), '?limit=50')).json.total >= 8, 3000, 50, `node ${i} lists the demo mechanics`);
  }
});

describe('presence across nodes', () => {
  let john;
  before(async () => { john = await loggedIn(url(A), 'john.smith@demo.test'); });

  test('1,000 changes made on node A reach a stream on node B, each once and in order', async () => {
    const id = john.me.mechanic_id;
    const s = await new SSE(`${url(B)}/api/presence/stream?ids=${id}`).open();
    try {
      assert.equal(s.status, 200);
      await s.waitFor(1); // the snapshot
      assert.equal(s.events[0].event, 'snapshot');
      const delays = [];
      let state = s.events[0].json.mechanics?.[0]?.presence ?? 'offline';
      for (let i = 0; i < 1000; i++) {
        state = state === 'online' ? 'offline' : 'online';
        const have = s.events.length;
        const t0 = process.hrtime.bigint();
        const r = await john.post('/api/mechanic/presence', { status: state });
        assert.equal(r.status, 200, r.text);
        await s.waitFor(have + 1, 5000);
        delays.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const ev = s.events[have];
        assert.equal(ev.event, 'presence');
        assert.equal(ev.json.id, id);
        assert.equal(ev.json.presence, state);
      }
      // ids strictly increase: one order, the table's
      const ids = s.events.slice(1).map((e) => Number(e.id));
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids ${ids[i - 1]} then ${ids[i]}`);
      delays.sort((x, y) => x - y);
      // measured, not asserted (a timing goal is a benchmark: BENCHMARKS.md); printed for the record
      console.log(`# cross-node presence delay over 1000 changes (request on A until B's stream has it): p50 ${quantile(delays, 0.5).toFixed(2)} ms, p99 ${quantile(delays, 0.99).toFixed(2)} ms, max ${delays[delays.length - 1].toFixed(2)} ms`);
      // node C's memory followed too: its directory shows the last state
      await eventually(async () => (await presenceOf(url(C), id)) === state, 3000, 50, 'C follows');
    } finally { s.close(); }
  });

  test('a client that reconnects to another node with Last-Event-ID misses nothing', async () => {
    const id = john.me.mechanic_id;
    await setPresence(john, 'online');
    const first = await new SSE(`${url(A)}/api/presence/stream?ids=${id}`).open();
    await first.waitFor(1);
    await setPresence(john, 'offline');
    await first.waitFor(2);
    const lastId = first.events[1].id;
    first.close();
    // while the client is away, changes are made on node C
    const viaC = await loggedIn(url(C), 'john.smith@demo.test');
    const missed = ['online', 'offline', 'online', 'offline'];
    for (const st of missed) await setPresence(viaC, st);
    const again = await new SSE(`${url(B)}/api/presence/stream?ids=${id}`, { 'Last-Event-ID': lastId }).open();
    try {
      await again.waitFor(missed.length);
      await settle();
      assert.deepEqual(again.events.map((e) => e.event), missed.map(() => 'presence'), 'replayed, no snapshot');
      assert.deepEqual(again.events.map((e) => e.json.presence), missed);
      assert.ok(again.events.every((e) => Number(e.id) > Number(lastId)));
    } finally { again.close(); }
  });

  test('node B loses its PostgreSQL connections: it reconnects and its streams get what was missed, in order', async () => {
    const id = john.me.mechanic_id;
    await setPresence(john, 'offline');
    const s = await new SSE(`${url(B)}/api/presence/stream?ids=${id}`).open();
    try {
      await s.waitFor(1);
      const killed = psql(dbUrl, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pitwall-b' AND datname = current_database()`);
      assert.ok(Number(killed) >= 2, `B's connections cut (${killed})`);
      const sent = ['online', 'offline', 'online', 'offline', 'online'];
      for (const st of sent) await setPresence(john, st);
      await s.waitFor(1 + sent.length, 8000);
      await settle();
      assert.deepEqual(s.events.slice(1).map((e) => e.json.presence), sent);
      // and B is listening again: the next change arrives without waiting for a tick
      await setPresence(john, 'offline');
      await s.waitFor(2 + sent.length, 3000);
      assert.equal(psql(dbUrl, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pitwall-b' AND datname = current_database() AND query LIKE 'LISTEN%'`), '1');
      const metrics = await (await fetch(`${url(B)}/metrics`)).text();
      assert.match(metrics, /^pitwall_db_listener_reconnects_total [1-9]/m);
      assert.match(metrics, /^pitwall_followed_events_total [1-9]/m);
    } finally { s.close(); }
  });

  test('a dashboard open on node A keeps the mechanic online on B and C; closed, exactly one timeout', async () => {
    const who = await workingMechanic(A);
    const id = who.me.mechanic_id;
    const dash = await mechanicStream(url(A), who);
    try {
      await sleep((TIMEOUT_S * 2 + 1) * 1000); // twice the timeout, seen only through A
      for (const i of [A, B, C]) assert.equal(await presenceOf(url(i), id), 'online', `node ${i}`);
    } finally { dash.close(); }
    const closedAt = Date.now();
    await eventually(async () => (await presenceOf(url(B), id)) === 'offline', (TIMEOUT_S + 4) * 1000, 100, 'timed out');
    assert.ok(Date.now() - closedAt >= (TIMEOUT_S - 1) * 1000, 'not before the timeout');
    await sleep(2000);
    const timeouts = psql(dbUrl, `SELECT count(*) FROM events WHERE channel = 'presence:${id}' AND payload::json->>'reason' = 'timeout' AND created_at >= ${closedAt - 1000}`);
    assert.equal(timeouts, '1');
  });
});

describe('operators on one node, effects on all', () => {
  test('a suspension on node A takes the mechanic off B and C; a rollout change shows on C', async () => {
    const admin = await loggedIn(url(A), 'admin@demo.test');
    const mech = await workingMechanic(B);
    const id = mech.me.mechanic_id;
    const watch = await new SSE(`${url(C)}/api/presence/stream?ids=${id}`).open();
    try {
      // C may open the stream a moment before it has the change made on B: then the event
      // follows the snapshot
      const presenceSeen = (w) => w.events.map((e) => e.json.mechanics?.[0]?.presence ?? e.json.presence);
      await watch.waitUntil((w) => presenceSeen(w).at(-1) === 'online', 3000, 'online on C');
      assert.equal((await admin.post(`/api/admin/mechanics/${id}/suspend`)).status, 200);
      await watch.waitForEvent((e) => e.event === 'presence' && e.json.reason === 'suspended', 3000);
      for (const i of [B, C]) {
        await eventually(async () => !(await directory(url(i), '?limit=50')).json.mechanics.some((m) => m.id === id), 3000, 50, `gone from node ${i}`);
      }
      const again = await mech.post('/api/mechanic/presence', { status: 'online' });
      assert.equal(again.status, 403, 'suspended on B too');
      assert.equal((await admin.post(`/api/admin/mechanics/${id}/approve`)).status, 200);
      await eventually(async () => (await mech.post('/api/mechanic/presence', { status: 'online' })).status === 200, 3000, 50, 'approved on B');
    } finally { watch.close(); }
    const put = await admin.request('PUT', '/api/admin/rollout', { body: { mechanic_selection_percent: 37 } });
    assert.equal(put.status, 200, put.text);
    const adminC = await loggedIn(url(C), 'admin@demo.test');
    await eventually(async () => (await adminC.get('/api/admin/rollout')).json?.mechanic_selection_percent === 37, 3000, 50, 'C has 37%');
    await admin.request('PUT', '/api/admin/rollout', { body: { mechanic_selection_percent: 100 } });
  });
});

describe('logins across nodes', () => {
  test('failed logins spread over the three nodes count together: the 11th gets 429 on any node', async () => {
    const email = 'alex@demo.test';
    for (let k = 0; k < 10; k++) {
      const r = await fetch(`${url(k % 3)}/api/auth/login`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: `wrong-${k}` }),
      });
      assert.equal(r.status, 401, `attempt ${k}`);
    }
    for (const i of [A, B, C]) {
      const r = await fetch(`${url(i)}/api/auth/login`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: 'pitwall-demo' }),
      });
      assert.equal(r.status, 429, `node ${i}`);
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    }
    // the addresses and emails are not stored as such
    assert.equal(psql(dbUrl, `SELECT count(*) FROM login_failures WHERE key LIKE '%@%' OR key LIKE '%127.0.0.1%'`), '0');
    psql(dbUrl, 'DELETE FROM login_failures'); // later tests log alex in
  });
});

describe('routing across nodes', () => {
  test('twenty mechanics on three nodes accept one broadcast at once: exactly one wins', async () => {
    const alex = await loggedIn(url(A), 'alex@demo.test');
    const honda = await vehicleByMake(alex, 'Honda');
    // only the twenty are online: the offer goes to exactly them
    const john = await loggedIn(url(A), 'john.smith@demo.test');
    for (const c of [john, ...working]) assert.equal((await c.post('/api/mechanic/presence', { status: 'offline' })).status, 200);
    const mechs = [];
    for (let k = 0; k < 20; k++) {
      const node = k % 3;
      const c = await workingMechanic(node);
      // the dashboard at once: it keeps them online (the timeout here is only 4 s)
      mechs.push({ c, node, id: c.me.mechanic_id, stream: await mechanicStream(url(node), c) });
    }
    assert.ok(new Set(mechs.map((m) => m.node)).size === 3, 'spread over the three nodes');
    // node A, where the customer books, has seen them all come online (milliseconds)
    for (const m of mechs) await eventually(async () => (await presenceOf(url(A), m.id)) === 'online', 3000, 20, `${m.id} online on A`);
    try {
      const s = await bookOk(alex, honda.id);
      const ss = await sessionStream(url(C), alex, s.id, { 'Last-Event-ID': '0' });
      try {
        const bc = await waitStep(ss, 'broadcast');
        assert.equal(bc.json.count, 20);
        for (const m of mechs) await waitAbout(m.stream, s.id, 'offer');
        const answers = await Promise.all(mechs.map((m) => m.c.post(`/api/sessions/${s.id}/accept`)));
        const won = answers.map((r, i) => [r, mechs[i]]).filter(([r]) => r.status === 200);
        assert.equal(won.length, 1, `statuses: ${answers.map((r) => r.status).join(',')}`);
        assert.equal(answers.filter((r) => r.status === 409).length, 19);
        for (const r of answers) if (r.status === 409) assert.ok(isErrorShape(r.json, 'taken'), r.text);
        const winner = won[0][1];
        assert.equal((await getSession(alex, s.id)).assigned_mechanic.id, winner.id);
        await waitStep(ss, 'accepted');
        for (const i of [A, B, C]) {
          await eventually(async () => (await presenceOf(url(i), winner.id)) === 'busy', 3000, 50, `busy on node ${i}`);
        }
        for (const m of mechs) if (m !== winner) await waitAbout(m.stream, s.id, 'offer_withdrawn');
        await settle();
        for (const m of mechs) assert.equal(about(m.stream, s.id, 'offer_withdrawn').length, m === winner ? 0 : 1);
        assert.equal(psql(dbUrl, `SELECT count(*) FROM events WHERE channel = 'session:${s.id}' AND payload::json->>'step' = 'accepted'`), '1');
        assert.equal((await winner.c.post(`/api/sessions/${s.id}/end`)).status, 200);
      } finally { ss.close(); }
    } finally {
      for (const m of mechs) m.stream?.close();
    }
  });

  test('the preferred mechanic switching offline by hand on node B ends the window at once, once; back online on C: no offer', async () => {
    const alex = await loggedIn(url(A), 'alex@demo.test');
    const honda = await vehicleByMake(alex, 'Honda');
    const johnB = await loggedIn(url(B), 'john.smith@demo.test');
    const johnC = await loggedIn(url(C), 'john.smith@demo.test');
    await setPresence(johnB, 'online');
    const dash = await mechanicStream(url(A), johnB); // his dashboard on another node again
    let ss;
    try {
      const s = await bookOk(alex, honda.id, { routing_type: 'priority_broadcast', preferred_mechanic_id: johnB.me.mechanic_id });
      assert.equal(s.state, 'priority');
      await waitAbout(dash, s.id, 'offer', 5000, (o) => o.kind === 'priority');
      ss = await sessionStream(url(C), alex, s.id, { 'Last-Event-ID': '0' });
      await setPresence(johnB, 'offline');
      const declined = await waitStep(ss, 'priority_declined');
      assert.equal(declined.json.mechanic_id, johnB.me.mechanic_id);
      await waitStep(ss, 'broadcast');
      const w = await waitAbout(dash, s.id, 'offer_withdrawn');
      assert.equal(w.json.reason, 'priority_ended');
      await setPresence(johnC, 'online');
      await settle((WINDOW_S + 1) * 1000); // the window's own end passes too: nothing more
      const count = (step) => psql(dbUrl, `SELECT count(*) FROM events WHERE channel = 'session:${s.id}' AND payload::json->>'step' = '${step}'`);
      assert.equal(count('priority_declined'), '1');
      assert.equal(count('broadcast'), '1');
      assert.equal(count('priority_expired'), '0');
      assert.equal(psql(dbUrl, `SELECT count(*) FROM events WHERE channel = 'session:${s.id}' AND payload::json->>'step' = 'offer_added' AND payload::json->>'mechanic_id' = '${johnB.me.mechanic_id}'`), '0');
      assert.equal(about(dash, s.id, 'offer').length, 1, 'only the priority offer');
      assert.equal(about(dash, s.id, 'offer_withdrawn').length, 1);
      // every node's session object tells the same story
      for (const i of [A, B, C]) {
        const c = i === A ? alex : await loggedIn(url(i), 'alex@demo.test');
        assert.deepEqual((await getSession(c, s.id)).steps.map((x) => x.step).filter((x) => x !== 'offer_added'),
          ['priority_offered', 'priority_declined', 'broadcast']);
      }
      assert.equal((await alex.post(`/api/sessions/${s.id}/cancel`)).status, 200);
    } finally {
      ss?.close();
      dash.close();
      await setPresence(johnC, 'offline');
    }
  });

  test('one live request per customer holds across nodes: two POSTs at once on A and B, one 201 and one 409', async () => {
    const onA = await loggedIn(url(A), 'alex@demo.test');
    const onB = await loggedIn(url(B), 'alex@demo.test');
    const honda = await vehicleByMake(onA, 'Honda');
    const start = (await onA.get('/api/me')).json.credit_balance_cents;
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all([onA, onB].map((c) => c.post('/api/sessions', {
        vehicle_id: honda.id, plan: 'video', is_specialist: false, preferred_mechanic_id: null,
        routing_type: 'broadcast', intake: { concern: 'A grinding noise when braking.', symptoms: [], urgency: 'low' },
        waiver_accepted: true, payment_method: 'credits',
      })));
      const won = answers.filter((r) => r.status === 201);
      const lost = answers.filter((r) => r.status === 409);
      assert.equal(won.length, 1, answers.map((r) => `${r.status} ${r.text}`).join(' / '));
      assert.equal(lost.length, 1);
      assert.equal(lost[0].json.error, 'session_in_progress');
      assert.equal(lost[0].json.session_id, won[0].json.id);
      assert.equal((await onB.get('/api/me')).json.credit_balance_cents, start - won[0].json.price_cents, 'charged once');
      assert.equal((await onB.post(`/api/sessions/${won[0].json.id}/cancel`)).status, 200);
    }
    assert.equal((await onA.get('/api/me')).json.credit_balance_cents, start);
  });

  test('node A killed with -9 in a priority window: another node broadcasts, once', async () => {
    const alex = await loggedIn(url(A), 'alex@demo.test');
    const honda = await vehicleByMake(alex, 'Honda');
    const john = await loggedIn(url(B), 'john.smith@demo.test');
    await setPresence(john, 'online');
    const dash = await mechanicStream(url(B), john); // keeps John online while A is gone
    try {
      const s = await bookOk(alex, honda.id, { routing_type: 'priority_broadcast', preferred_mechanic_id: john.me.mechanic_id });
      assert.equal(s.state, 'priority');
      await waitAbout(dash, s.id, 'offer');
      await nodes[A].kill();
      const alexOnC = await loggedIn(url(C), 'alex@demo.test');
      const ss = await sessionStream(url(C), alexOnC, s.id, { 'Last-Event-ID': '0' });
      try {
        const step = await waitStep(ss, 'broadcast', (WINDOW_S + 5) * 1000);
        assert.ok(step);
        await settle(2500); // both surviving nodes ran their timers meanwhile
        assert.equal(psql(dbUrl, `SELECT count(*) FROM events WHERE channel = 'session:${s.id}' AND payload::json->>'step' = 'broadcast'`), '1');
        assert.equal(psql(dbUrl, `SELECT count(*) FROM events WHERE channel = 'session:${s.id}' AND payload::json->>'step' = 'priority_expired'`), '1');
        assert.equal((await getSession(alexOnC, s.id)).state, 'broadcast');
      } finally { ss.close(); }
    } finally { dash.close(); }
  });
});
