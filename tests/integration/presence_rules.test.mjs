// Presence rules (SPEC §3, §4.3, §4.7): who may change presence, validation, no duplicate
// events, and "no ghosts" with a short presence timeout.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, loggedIn, Client, openStream, getJson, isErrorShape, sleep } from './helpers.mjs';

const TIMEOUT_S = 2;
// The keep-alive interval is a proxy setting; it must not change when a closed dashboard
// stream stops counting as "seen". 5 s (rather than 1 s) makes a late detection of the
// close show up clearly instead of hiding inside the timing tolerance.
const KEEPALIVE_S = 5;
let srv;
const who = {};
before(async () => {
  srv = await startServer({ args: ['--presence-timeout', String(TIMEOUT_S), '--keepalive', String(KEEPALIVE_S)] });
  for (const [k, email] of [['john', 'john.smith@demo.test'], ['maria', 'maria.garcia@demo.test'],
    ['sarah', 'sarah.johnson@demo.test'], ['david', 'david.kim@demo.test'], ['emily', 'emily.davis@demo.test'],
    ['mike', 'mike.chen@demo.test'], ['carlos', 'carlos.rodriguez@demo.test'], ['aisha', 'aisha.khan@demo.test'],
    ['priya', 'priya.patel@demo.test'], ['tom', 'tom.baker@demo.test'], ['alex', 'alex@demo.test'],
    ['admin', 'admin@demo.test']]) {
    who[k] = await loggedIn(srv.url, email);
  }
});
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

const mid = (k) => who[k].me.mechanic_id;
const dirEntry = async (id) => {
  const r = await getJson(`${srv.url}/api/mechanics/available?limit=50`);
  return r.json.mechanics.find((m) => m.id === id);
};
const stream = (ids) => openStream(srv.url, `/api/presence/stream?ids=${ids.join(',')}`);

describe('who may change presence', () => {
  test('a mechanic changes only their own presence: naming another has no effect', async () => {
    const s = await stream([mid('maria'), mid('john')]);
    try {
      await s.waitFor(1);
      const r = await who.john.post('/api/mechanic/presence', { status: 'online', id: mid('maria'), mechanic_id: mid('maria') });
      assert.equal(r.status, 200, r.text);
      if ('id' in r.json) assert.equal(r.json.id, mid('john'), 'the answer is about John');
      assert.equal(r.json.presence, 'online');
      const q = await who.john.request('POST', `/api/mechanic/presence?id=${mid('maria')}&mechanic_id=${mid('maria')}`, { body: { status: 'offline' } });
      assert.equal(q.status, 200);
      const evs = await s.waitFor(3);
      await sleep(200);
      assert.deepEqual(s.events.slice(1).map((e) => [e.json.id, e.json.presence]), [[mid('john'), 'online'], [mid('john'), 'offline']]);
      assert.equal((await dirEntry(mid('maria'))).presence, 'offline', 'Maria untouched');
      assert.equal(evs.length, 3);
      // there is no URL that names a mechanic's presence
      for (const path of [`/api/mechanics/${mid('maria')}/presence`, `/api/mechanic/${mid('maria')}/presence`, `/api/mechanic/presence/${mid('maria')}`]) {
        const x = await who.john.post(path, { status: 'online' });
        assert.ok([404, 405].includes(x.status), `${path}: ${x.status}`);
      }
      assert.equal((await dirEntry(mid('maria'))).presence, 'offline');
      // GET shows one's own presence (decisions.md)
      const own = await who.maria.get('/api/mechanic/presence');
      assert.equal(own.status, 200);
      assert.equal(own.json.id, mid('maria'));
      assert.equal(own.json.presence, 'offline');
    } finally { s.close(); }
  });

  test('customers and admin 403, anonymous 401, pending and suspended 403 not_approved', async () => {
    const anon = new Client(srv.url);
    const a = await anon.post('/api/mechanic/presence', { status: 'online' });
    assert.equal(a.status, 401);
    assert.ok(isErrorShape(a.json));
    for (const k of ['alex', 'admin']) {
      const r = await who[k].post('/api/mechanic/presence', { status: 'online' });
      assert.equal(r.status, 403, k);
      assert.ok(isErrorShape(r.json, 'forbidden'), r.text);
      const g = await who[k].get('/api/mechanic/presence');
      assert.equal(g.status, 403, `${k} GET`);
    }
    for (const k of ['priya', 'tom']) {
      const r = await who[k].post('/api/mechanic/presence', { status: 'online' });
      assert.equal(r.status, 403, k);
      assert.ok(isErrorShape(r.json, 'not_approved'), r.text);
      const g = await who[k].get('/api/mechanic/presence');
      assert.equal(g.status, 200, `${k} may see their own status`);
      assert.equal(g.json.presence, 'offline');
      assert.notEqual(g.json.status, 'approved');
    }
  });

  test('status must be "online" or "offline": busy and junk → 400, nothing changes', async () => {
    const s = await stream([mid('sarah')]);
    try {
      await s.waitFor(1);
      const bodies = [{ status: 'busy' }, { status: 'away' }, { status: 'ONLINE' }, { status: 'Online' }, { status: ' online' },
        { status: 1 }, { status: true }, { status: null }, { status: ['online'] }, {}, { state: 'online' }];
      for (const b of bodies) {
        const r = await who.sarah.post('/api/mechanic/presence', b);
        assert.equal(r.status, 400, `${JSON.stringify(b)}: ${r.status} ${r.text}`);
        assert.ok(isErrorShape(r.json), r.text);
      }
      for (const raw of ['"online"', '[]', '{"status":', 'status=online', '']) {
        const r = await who.sarah.request('POST', '/api/mechanic/presence', { raw, headers: { 'Content-Type': 'application/json' } });
        assert.equal(r.status, 400, `raw ${JSON.stringify(raw)}: ${r.status} ${r.text}`);
        assert.ok(isErrorShape(r.json), r.text);
      }
      await sleep(200);
      assert.equal(s.events.length, 1, 'no event from refused changes');
      assert.equal((await dirEntry(mid('sarah'))).presence, 'offline');
    } finally { s.close(); }
  });

  test('setting the same state twice gives no second event', async () => {
    const s = await stream([mid('maria')]);
    try {
      await s.waitFor(1);
      assert.equal((await who.maria.post('/api/mechanic/presence', { status: 'offline' })).status, 200); // already offline
      assert.equal((await who.maria.post('/api/mechanic/presence', { status: 'online' })).status, 200);
      const again = await who.maria.post('/api/mechanic/presence', { status: 'online' });
      assert.equal(again.status, 200);
      assert.equal(again.json.presence, 'online');
      assert.equal((await who.maria.post('/api/mechanic/presence', { status: 'offline' })).status, 200);
      assert.equal((await who.maria.post('/api/mechanic/presence', { status: 'offline' })).status, 200);
      await s.waitFor(3);
      await sleep(300);
      const pres = s.events.slice(1);
      assert.deepEqual(pres.map((e) => e.json.presence), ['online', 'offline'], `only real changes: ${JSON.stringify(pres.map((e) => e.data))}`);
    } finally { s.close(); }
  });
});

// Each of these waits for the timeout; they use different mechanics and run side by side.
describe('no ghosts (--presence-timeout 2, --keepalive 5)', { concurrency: true }, () => {
  test('an online mechanic who makes no requests times out with reason timeout', async () => {
    const s = await stream([mid('emily')]);
    try {
      await s.waitFor(1);
      const t0 = Date.now();
      assert.equal((await who.emily.post('/api/mechanic/presence', { status: 'online' })).status, 200);
      const online = await s.waitForEvent((e) => e.event === 'presence' && e.json.presence === 'online', 3000);
      const ev = await s.waitForEvent((e) => e.event === 'presence' && e.json.presence === 'offline', 6000);
      const elapsed = Date.now() - t0;
      assert.equal(ev.json.reason, 'timeout');
      assert.equal(ev.json.id, mid('emily'));
      assert.equal(ev.json.is_available, false);
      assert.ok(Number(ev.id) > Number(online.id));
      assert.ok(elapsed >= TIMEOUT_S * 1000 - 300, `not before the timeout: ${elapsed} ms`);
      assert.ok(elapsed <= TIMEOUT_S * 1000 + 2500, `soon after the timeout: ${elapsed} ms`);
      const d = await dirEntry(mid('emily'));
      assert.equal(d.presence, 'offline');
      assert.equal(d.is_available, false);
      assert.equal(d.avgResponseTime, 5);
      assert.ok(d.last_seen_at && !Number.isNaN(Date.parse(d.last_seen_at)));
    } finally { s.close(); }
  });

  test('a mechanic who keeps making authenticated requests stays online', async () => {
    const s = await stream([mid('mike')]);
    try {
      await s.waitFor(1);
      assert.equal((await who.mike.post('/api/mechanic/presence', { status: 'online' })).status, 200);
      const until = Date.now() + TIMEOUT_S * 1000 * 2 + 500;
      for (let i = 0; i < 40 && Date.now() < until; i++) {
        const r = await who.mike.get('/api/me');
        assert.equal(r.status, 200);
        await sleep(500);
      }
      const d = await dirEntry(mid('mike'));
      assert.equal(d.presence, 'online', 'still online after twice the timeout');
      assert.ok(!s.events.some((e) => e.event === 'presence' && e.json.presence === 'offline'),
        `no timeout while active: ${JSON.stringify(s.events.map((e) => e.data))}`);
      assert.ok(Date.now() - Date.parse(d.last_seen_at) < 2500, `last_seen_at is recent: ${d.last_seen_at}`);
      // then silence: the timeout comes
      const t0 = Date.now();
      const ev = await s.waitForEvent((e) => e.event === 'presence' && e.json.presence === 'offline', 6000);
      assert.equal(ev.json.reason, 'timeout');
      assert.ok(Date.now() - t0 <= TIMEOUT_S * 1000 + 2500);
    } finally { s.close(); }
  });

  test('an open mechanic stream keeps a mechanic online; closing it starts the timeout', async () => {
    const s = await stream([mid('david')]);
    const dash = await openStream(srv.url, '/api/mechanic/stream', { Cookie: who.david.cookieHeader() });
    try {
      assert.equal(dash.status, 200, dash.body);
      await s.waitFor(1);
      assert.equal((await who.david.post('/api/mechanic/presence', { status: 'online' })).status, 200);
      await sleep(TIMEOUT_S * 1000 * 2 + 500);
      assert.ok(!s.events.some((e) => e.event === 'presence' && e.json.presence === 'offline'),
        `no timeout while the dashboard is open: ${JSON.stringify(s.events.map((e) => e.data))}`);
      assert.equal((await dirEntry(mid('david'))).presence, 'online');
      assert.ok(!dash.closed, 'the dashboard stream stays open');

      // close right after a keep-alive went out (the moment a server that only notices a
      // closed stream on its next write would notice it latest)
      const kaBefore = dash.comments.length;
      await dash.waitUntil((x) => x.comments.length > kaBefore, KEEPALIVE_S * 1000 + 2000, 'a keep-alive on the dashboard');
      dash.close();
      const t0 = Date.now();
      let ev;
      try {
        ev = await s.waitForEvent((e) => e.event === 'presence' && e.json.presence === 'offline', TIMEOUT_S * 1000 + 2500);
      } catch {
        const late = await s.waitForEvent((e) => e.event === 'presence' && e.json.presence === 'offline', 15000).catch(() => null);
        assert.fail(`no timeout within ${TIMEOUT_S * 1000 + 2500} ms of closing the dashboard stream; ` +
          (late ? `it came after ${Date.now() - t0} ms (${late.data})` : 'none within 15 s'));
      }
      const elapsed = Date.now() - t0;
      assert.equal(ev.json.reason, 'timeout');
      assert.ok(elapsed >= TIMEOUT_S * 1000 - 1100, `not long before the timeout after closing: ${elapsed} ms`);
      assert.ok(elapsed <= TIMEOUT_S * 1000 + 2500, `soon after the timeout: ${elapsed} ms`);
    } finally {
      dash.close();
      s.close();
    }
  });

  test('anonymous requests and other people do not keep a mechanic online', async () => {
    const s = await stream([mid('carlos')]);
    try {
      await s.waitFor(1);
      assert.equal((await who.carlos.post('/api/mechanic/presence', { status: 'online' })).status, 200);
      const t0 = Date.now();
      for (let i = 0; i < 12; i++) {
        await getJson(`${srv.url}/api/mechanics/available?city=Brampton`);
        await who.alex.get('/api/me');
        const ev = s.events.find((e) => e.event === 'presence' && e.json.presence === 'offline');
        if (ev) break;
        await sleep(400);
      }
      const ev = await s.waitForEvent((e) => e.event === 'presence' && e.json.presence === 'offline', 6000);
      assert.equal(ev.json.reason, 'timeout');
      assert.ok(Date.now() - t0 <= TIMEOUT_S * 1000 + 2500);
    } finally { s.close(); }
  });
});
