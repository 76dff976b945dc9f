// The walkthrough: John logs in, goes online, a presence stream sees it, and he
// leads the Toronto directory; and who may change whose presence.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, SSE, directory, sleep } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); srv.cleanup(); });

test('john goes online: the stream sees it and he leads Toronto', async () => {
  const john = await loggedIn(srv.url, 'john.smith@demo.test');
  const id = john.me.mechanic_id;
  assert.match(id, /^[0-9a-f-]{36}$/);

  const stream = await new SSE(`${srv.url}/api/presence/stream?ids=${id}`).open();
  assert.equal(stream.status, 200);
  assert.equal(stream.res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const [snap] = await stream.waitFor(1);
  assert.equal(stream.retry, 2000);
  assert.equal(snap.event, 'snapshot');
  assert.deepEqual(snap.json.mechanics.map((m) => [m.id, m.presence]), [[id, 'offline']]);

  const r = await john.post('/api/mechanic/presence', { status: 'online' });
  assert.equal(r.status, 200);
  assert.equal(r.json.presence, 'online');

  const events = await stream.waitFor(2);
  const ev = events[1];
  assert.equal(ev.event, 'presence');
  assert.ok(Number(ev.id) > Number(snap.id), 'sequence numbers grow');
  assert.equal(ev.json.id, id);
  assert.equal(ev.json.presence, 'online');
  assert.equal(ev.json.is_available, true);
  assert.equal(ev.json.reason, 'manual');
  assert.ok(!Number.isNaN(Date.parse(ev.json.last_seen_at)));
  stream.close();

  const d = await directory(srv.url, '?city=Toronto');
  assert.equal(d.status, 200);
  assert.equal(d.json.mechanics[0].id, id);
  assert.equal(d.json.mechanics[0].presence, 'online');
  assert.equal(d.json.mechanics[0].avgResponseTime, 2);
  assert.ok(d.json.online >= 1);

  const off = await john.post('/api/mechanic/presence', { status: 'offline' });
  assert.equal(off.json.presence, 'offline');
});

test('presence changes need the right person', async () => {
  const anon = new Client(srv.url);
  assert.equal((await anon.post('/api/mechanic/presence', { status: 'online' })).status, 401);

  const alex = await loggedIn(srv.url, 'alex@demo.test');
  const r = await alex.post('/api/mechanic/presence', { status: 'online' });
  assert.equal(r.status, 403);
  assert.equal(r.json.error, 'forbidden');

  const maria = await loggedIn(srv.url, 'maria.garcia@demo.test');
  const noCsrf = await maria.post('/api/mechanic/presence', { status: 'online' }, { csrf: false });
  assert.equal(noCsrf.status, 403);
  assert.equal(noCsrf.json.error, 'csrf');

  for (const email of ['priya.patel@demo.test', 'tom.baker@demo.test']) {
    const m = await loggedIn(srv.url, email);
    const g = await m.post('/api/mechanic/presence', { status: 'online' });
    assert.equal(g.status, 403, email);
    assert.equal(g.json.error, 'not_approved');
  }
  const bad = await maria.post('/api/mechanic/presence', { status: 'busy' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error, 'bad_request');
});
