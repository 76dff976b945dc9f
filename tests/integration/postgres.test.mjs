// The real binary on PostgreSQL (--db postgres://...), in a fresh database: the presence
// walkthrough (John logs in, goes online, a presence stream sees it, he leads Toronto), a
// credits booking a mechanic accepts, and a restart that keeps the data and continues the
// event sequence. The server comes from PITWALL_TEST_PG_URL (scripts/run-tests.sh starts
// one with scripts/pg.sh); without it this file starts its own private one and stops it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { startServer, loggedIn, SSE, directory, eventually } from './helpers.mjs';
import { VIDEO, vehicleByMake, bookOk, balanceOf, setPresence, getSession } from './booking_helpers.mjs';

const PG_SH = resolve('scripts/pg.sh');
let pgDir = null; // set when this file started its own PostgreSQL
let adminUrl;
let dbUrl;
let dbName;
let srv;

function psql(url, sql) {
  return execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', url, '-c', sql],
    { encoding: 'utf8' }).trim();
}

// The same server and user, another database.
function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function start() {
  srv = await startServer({ args: ['--db', dbUrl, '--presence-timeout', '600'] });
}

before(async () => {
  adminUrl = process.env.PITWALL_TEST_PG_URL;
  if (!adminUrl) {
    pgDir = execFileSync(PG_SH, ['start'], { encoding: 'utf8' }).trim().split('\n').pop();
    adminUrl = execFileSync(PG_SH, ['url', pgDir], { encoding: 'utf8' }).trim();
  }
  dbName = `it_${process.pid}_${Date.now()}`;
  psql(adminUrl, `CREATE DATABASE ${dbName}`);
  dbUrl = withDatabase(adminUrl, dbName);
  await start();
});

after(async () => {
  if (srv) { await srv.stop(); srv.cleanup(); }
  try { if (dbName) psql(adminUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`); } catch { /* server gone */ }
  if (pgDir) execFileSync(PG_SH, ['stop', pgDir]);
});

test('the server runs on PostgreSQL with the demo data', async () => {
  const r = await fetch(`${srv.url}/readyz`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).storage, 'postgres');
  // the migrations ran in PostgreSQL's dialect and recorded their version
  assert.ok(Number(psql(dbUrl, 'SELECT version FROM schema_version')) >= 3);
  assert.equal(psql(dbUrl, "SELECT count(*) FROM users WHERE email = 'john.smith@demo.test'"), '1');
});

test('john goes online: the stream sees it and he leads Toronto', async () => {
  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  const id = john.me.mechanic_id;
  const stream = await new SSE(`${srv.url}/api/presence/stream?ids=${id}`).open();
  try {
    assert.equal(stream.status, 200);
    const [snap] = await stream.waitFor(1);
    assert.equal(snap.event, 'snapshot');
    assert.deepEqual(snap.json.mechanics.map((m) => [m.id, m.presence]), [[id, 'offline']]);

    assert.equal((await setPresence(john, 'online')).presence, 'online');
    const events = await stream.waitFor(2);
    const ev = events[1];
    assert.equal(ev.event, 'presence');
    assert.ok(Number(ev.id) > Number(snap.id), 'sequence numbers grow');
    assert.equal(ev.json.id, id);
    assert.equal(ev.json.presence, 'online');
    assert.equal(ev.json.reason, 'manual');
    // written through: the row and its event are in PostgreSQL
    assert.equal(psql(dbUrl, `SELECT presence FROM mechanics WHERE id = '${id}'`), 'online');
    assert.equal(psql(dbUrl, 'SELECT max(seq) FROM events'), ev.id);
  } finally {
    stream.close();
  }

  const d = await directory(srv.url, '?city=Toronto');
  assert.equal(d.status, 200);
  assert.equal(d.json.mechanics[0].id, id);
  assert.equal(d.json.mechanics[0].presence, 'online');
});

test('a credits booking accepted by a mechanic survives a restart, and the sequence goes on', async () => {
  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  await setPresence(john, 'online');
  const before = await balanceOf(alex);
  const honda = await vehicleByMake(alex, 'Honda');
  const s = await bookOk(alex, honda.id, { payment_method: 'credits', routing_type: 'broadcast' });
  assert.equal(s.state, 'broadcast');
  assert.equal(await balanceOf(alex), before - VIDEO, 'debited once');

  // the broadcast reaches John (the Toronto leader): he accepts
  const acc = await eventually(async () => {
    const r = await john.post(`/api/sessions/${s.id}/accept`);
    return r.status === 200 ? r : null;
  }, 5000, 100, 'john can accept');
  assert.equal(acc.json.state, 'accepted');
  const second = await john.post(`/api/sessions/${s.id}/accept`);
  assert.equal(second.status, 409, 'one winner');

  const lastSeq = Number(psql(dbUrl, 'SELECT max(seq) FROM events'));
  assert.ok(lastSeq > 0);

  // restart on the same database (no demo reload: it is not empty)
  await srv.stop();
  srv.cleanup();
  srv = null;
  await start();

  const alex2 = await loggedIn(srv.url, 'alex@demo.test');
  const kept = await getSession(alex2, s.id);
  assert.equal(kept.state, 'accepted');
  assert.equal(kept.assigned_mechanic?.id ?? kept.assigned_mechanic_id ?? kept.assigned_mechanic,
    john.me.mechanic_id);
  assert.equal(await balanceOf(alex2), before - VIDEO, 'still debited exactly once');
  assert.equal(psql(dbUrl, "SELECT count(*) FROM users WHERE email = 'alex@demo.test'"), '1',
    'the demo was not loaded twice');

  // a new event after the restart continues the sequence; a stream resuming from the old
  // last id gets exactly the new event
  const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
  const mid = maria.me.mechanic_id;
  const resumed = await new SSE(`${srv.url}/api/presence/stream?ids=${mid}`, { 'Last-Event-ID': String(lastSeq) }).open();
  try {
    assert.equal(resumed.status, 200);
    await setPresence(maria, 'online');
    const ev = await resumed.waitForEvent((e) => e.event === 'presence' && e.json.id === mid);
    assert.ok(Number(ev.id) > lastSeq, `event ${ev.id} after ${lastSeq}`);
    assert.equal(ev.json.presence, 'online');
  } finally {
    resumed.close();
  }
  await setPresence(maria, 'offline');
});

// Its own PostgreSQL, stopped under a running node: what needs the database answers 503
// (try again), not 500; /readyz says not ready; what memory holds is still served; the
// node stops cleanly.
test('PostgreSQL gone: 503 unavailable for what needs it, the directory still answers', async () => {
  const dir = execFileSync(PG_SH, ['start'], { encoding: 'utf8' }).trim().split('\n').pop();
  let node = null;
  try {
    const url = execFileSync(PG_SH, ['url', dir], { encoding: 'utf8' }).trim();
    node = await startServer({ args: ['--db', url] });
    const alex = await loggedIn(node.url, 'alex@demo.test');
    execFileSync(PG_SH, ['stop', dir]);
    const me = await alex.get('/api/me');
    assert.equal(me.status, 503, me.text);
    assert.equal(me.json.error, 'unavailable');
    const ready = await fetch(`${node.url}/readyz`);
    assert.equal(ready.status, 503);
    const list = await directory(node.url);
    assert.equal(list.status, 200);
    assert.ok(list.json.mechanics.length > 0);
  } finally {
    if (node) { await node.stop(); node.cleanup(); }
    try { execFileSync(PG_SH, ['stop', dir]); } catch { /* stopped above */ }
  }
});
