// Server-Sent Events (SPEC §4.2, §4.7): presence stream framing, snapshot, events, replay
// with Last-Event-ID, keep-alives, and the mechanic stream's access rules.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startServer, loggedIn, openStream, getJson, isErrorShape, sleep } from './helpers.mjs';

let srv, small;
const who = {}; // short name -> logged-in client
before(async () => {
  [srv, small] = await Promise.all([
    startServer({ args: ['--keepalive', '1'] }),
    startServer({ args: ['--replay-events', '3', '--keepalive', '1'] }),
  ]);
  for (const [k, email] of [['john', 'john.smith@demo.test'], ['maria', 'maria.garcia@demo.test'],
    ['sarah', 'sarah.johnson@demo.test'], ['david', 'david.kim@demo.test'], ['priya', 'priya.patel@demo.test']]) {
    who[k] = await loggedIn(srv.url, email);
  }
});
after(async () => {
  const errors = [];
  for (const s of [srv, small]) {
    if (!s) continue;
    try { await s.stop(); } catch (e) { errors.push(e); }
    s.cleanup();
  }
  if (errors.length) throw errors[0];
});

const mid = (k) => who[k].me.mechanic_id;
const presenceStream = (server, ids, headers = {}) =>
  openStream(server.url, `/api/presence/stream?ids=${ids.join(',')}`, headers);
const set = async (client, status) => {
  const r = await client.post('/api/mechanic/presence', { status });
  assert.equal(r.status, 200, `${client.me.email} → ${status}: ${r.text}`);
  return r;
};
const presenceEvents = (s) => s.events.filter((e) => e.event === 'presence');

function checkPresenceEvent(ev) {
  assert.equal(ev.event, 'presence');
  assert.match(ev.id, /^\d+$/, 'numeric id');
  assert.deepEqual(Object.keys(ev.json).sort(), ['id', 'is_available', 'last_seen_at', 'presence', 'reason']);
  assert.ok(['online', 'offline', 'busy'].includes(ev.json.presence));
  assert.equal(ev.json.is_available, ev.json.presence === 'online');
  assert.ok(['manual', 'timeout', 'session_accepted', 'session_ended', 'suspended'].includes(ev.json.reason));
  assert.ok(ev.json.last_seen_at === null || !Number.isNaN(Date.parse(ev.json.last_seen_at)));
}

function assertIncreasing(events) {
  for (let i = 1; i < events.length; i++) {
    assert.ok(Number(events[i].id) > Number(events[i - 1].id), `ids increase: ${events[i - 1].id} then ${events[i].id}`);
  }
}

describe('presence stream', () => {
  test('framing: retry 2000 first, then a snapshot of the listed ids only, then presence events', async () => {
    const s = await presenceStream(srv, [mid('john'), mid('maria')]);
    try {
      assert.equal(s.status, 200);
      assert.match(s.res.headers.get('content-type'), /^text\/event-stream/);
      assert.match(s.res.headers.get('cache-control') || '', /no-(store|cache)/);
      const [snap] = await s.waitFor(1);
      assert.ok(s.raw.startsWith('retry: 2000\n'), `the stream starts with retry: 2000, got ${JSON.stringify(s.raw.slice(0, 40))}`);
      assert.equal(s.retry, 2000);
      assert.equal(snap.event, 'snapshot');
      assert.match(snap.id ?? '', /^\d+$/, 'the snapshot carries an id');
      assert.deepEqual(Object.keys(snap.json), ['mechanics']);
      assert.deepEqual(snap.json.mechanics.map((m) => m.id).sort(), [mid('john'), mid('maria')].sort());
      for (const m of snap.json.mechanics) {
        assert.deepEqual(Object.keys(m).sort(), ['id', 'is_available', 'last_seen_at', 'presence']);
        assert.equal(m.presence, 'offline', 'demo mechanics start offline');
        assert.equal(m.is_available, false);
      }

      await set(who.john, 'online');
      await set(who.sarah, 'online'); // not on this stream
      await set(who.maria, 'online');
      await set(who.john, 'offline');
      const evs = await s.waitFor(4);
      const pres = evs.slice(1);
      for (const e of pres) checkPresenceEvent(e);
      assert.deepEqual(pres.map((e) => [e.json.id, e.json.presence, e.json.reason]), [
        [mid('john'), 'online', 'manual'], [mid('maria'), 'online', 'manual'], [mid('john'), 'offline', 'manual']]);
      assertIncreasing([snap, ...pres]);
      await sleep(300);
      assert.ok(!s.events.some((e) => e.json?.id === mid('sarah')), "another mechanic's changes are not on this stream");
      assert.equal(presenceEvents(s).length, 3);
    } finally {
      s.close();
      await set(who.sarah, 'offline');
      await set(who.maria, 'offline');
    }
  });

  test("the snapshot's id is the latest sequence number", async () => {
    const mon = await presenceStream(srv, [mid('david'), mid('sarah')]);
    try {
      await mon.waitFor(1);
      await set(who.david, 'online');
      await set(who.sarah, 'online');
      const evs = await mon.waitFor(3);
      const latest = evs[2].id;
      // a fresh stream on *other* ids still names the latest sequence number
      const s = await presenceStream(srv, [mid('john')]);
      const [snap] = await s.waitFor(1);
      s.close();
      assert.equal(snap.event, 'snapshot');
      assert.equal(snap.id, latest, 'snapshot id = latest event seq');
      const s2 = await presenceStream(srv, [mid('david')]);
      const [snap2] = await s2.waitFor(1);
      s2.close();
      assert.equal(snap2.id, latest);
      assert.deepEqual(snap2.json.mechanics.map((m) => [m.id, m.presence, m.is_available]), [[mid('david'), 'online', true]]);
      assert.ok(snap2.json.mechanics[0].last_seen_at, 'an online mechanic has last_seen_at');
    } finally {
      mon.close();
      await set(who.david, 'offline');
      await set(who.sarah, 'offline');
    }
  });

  test('unknown and unlisted ids are simply absent from the snapshot', async () => {
    const ghost = randomUUID();
    const s = await presenceStream(srv, [ghost, mid('john'), 'some_unknown-id', mid('priya')]);
    try {
      assert.equal(s.status, 200);
      const [snap] = await s.waitFor(1);
      assert.deepEqual(snap.json.mechanics.map((m) => m.id), [mid('john')]);
    } finally { s.close(); }
    const only = await presenceStream(srv, [randomUUID()]);
    try {
      assert.equal(only.status, 200);
      const [snap] = await only.waitFor(1);
      assert.deepEqual(snap.json.mechanics, []);
    } finally { only.close(); }
  });

  test('bad ids: missing, empty, more than 100 distinct, malformed → 400', async () => {
    const path = (qs) => `${srv.url}/api/presence/stream${qs}`;
    const hundred = Array.from({ length: 100 }, () => randomUUID());
    const cases = [
      ['no ids', ''],
      ['ids empty', '?ids='],
      ['ids only commas', '?ids=,,,'],
      ['101 distinct ids', `?ids=${[...hundred, randomUUID()].join(',')}`],
      ['malformed id ($)', `?ids=${mid('john')},abc$def`],
      ['malformed id (slash)', `?ids=${encodeURIComponent('../etc/passwd')}`],
      ['malformed id (space)', `?ids=${encodeURIComponent('a b')}`],
      ['malformed id (quote)', `?ids=${encodeURIComponent('x"y')}`],
      ['malformed id (too long)', `?ids=${'a'.repeat(200)}`],
      ['control character', '?ids=abc%01def'],
      ['bad escape', '?ids=%ZZ'],
    ];
    for (const [label, qs] of cases) {
      const r = await getJson(path(qs));
      assert.equal(r.status, 400, `${label}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.ok(isErrorShape(r.json), `${label}: ${r.text.slice(0, 200)}`);
      assert.match(r.headers.get('content-type'), /^application\/json/);
    }
    // exactly 100 distinct ids is fine, and so are repeats of the same id
    const ok = await presenceStream(srv, hundred);
    assert.equal(ok.status, 200, ok.body);
    ok.close();
    const rep = await presenceStream(srv, Array.from({ length: 105 }, () => mid('john')));
    assert.equal(rep.status, 200, `105 copies of one id are one distinct id: ${rep.body}`);
    const [snap] = await rep.waitFor(1);
    rep.close();
    assert.equal(snap.json.mechanics.length, 1);
  });

  test('Last-Event-ID replay: exactly the missed events of this stream, in order, no duplicates, no snapshot', async () => {
    const A = mid('john'), B = mid('maria'), C = mid('sarah');
    const mon = await presenceStream(srv, [A, B, C]);
    const s = await presenceStream(srv, [A, B]);
    try {
      await mon.waitFor(1);
      await s.waitFor(1);
      await set(who.john, 'online');
      const seen = await s.waitFor(2);
      const lastSeen = seen[1].id;
      s.close();
      await sleep(100);

      await set(who.john, 'offline');  // A: missed
      await set(who.sarah, 'online');  // C: not on the stream
      await set(who.maria, 'online');  // B: missed
      await set(who.sarah, 'offline'); // C
      await set(who.maria, 'offline'); // B: missed
      const monEvents = await mon.waitFor(1 + 6);
      const expected = monEvents.slice(1).filter((e) => Number(e.id) > Number(lastSeen) && [A, B].includes(e.json.id));
      assert.equal(expected.length, 3);

      const r = await presenceStream(srv, [A, B], { 'Last-Event-ID': lastSeen });
      try {
        assert.equal(r.status, 200);
        await r.waitFor(3);
        await sleep(300); // nothing more should come
        assert.ok(r.raw.startsWith('retry: 2000\n'));
        assert.ok(!r.events.some((e) => e.event === 'snapshot'), 'no snapshot on a successful replay');
        assert.deepEqual(r.events.map((e) => [e.id, e.event, e.data]), expected.map((e) => [e.id, e.event, e.data]),
          'exactly the missed events, byte for byte');
        assertIncreasing(r.events);
        assert.deepEqual(r.events.map((e) => [e.json.id, e.json.presence]), [[A, 'offline'], [B, 'online'], [B, 'offline']]);

        // and the stream then carries live events, without repeating any
        await set(who.john, 'online');
        await r.waitFor(4);
        assert.equal(r.events[3].json.id, A);
        assert.equal(r.events[3].json.presence, 'online');
        assertIncreasing(r.events);
        assert.equal(new Set(r.events.map((e) => e.id)).size, r.events.length, 'no duplicate ids');
      } finally { r.close(); }

      // the query form (decisions.md) gives the same
      const qf = await openStream(srv.url, `/api/presence/stream?ids=${A},${B}&last_event_id=${lastSeen}`);
      try {
        await qf.waitFor(4);
        await sleep(200);
        assert.deepEqual(qf.events.map((e) => e.id), [...expected.map((e) => e.id), r.events[3].id]);
      } finally { qf.close(); }
    } finally {
      s.close();
      mon.close();
      await set(who.john, 'offline');
    }
  });

  test('Last-Event-ID equal to the latest: nothing replayed, no snapshot, live events follow', async () => {
    const s = await presenceStream(srv, [mid('david')]);
    const [snap] = await s.waitFor(1);
    s.close();
    const r = await presenceStream(srv, [mid('david')], { 'Last-Event-ID': snap.id });
    try {
      await sleep(300);
      assert.equal(r.events.length, 0, `nothing missed: ${JSON.stringify(r.events)}`);
      assert.equal(r.retry, 2000);
      await set(who.david, 'online');
      const [ev] = await r.waitFor(1);
      assert.equal(ev.event, 'presence');
      assert.ok(Number(ev.id) > Number(snap.id));
    } finally {
      r.close();
      await set(who.david, 'offline');
    }
  });

  test('a garbage, negative or future Last-Event-ID gets a fresh snapshot', async () => {
    const fresh = await presenceStream(srv, [mid('john')]);
    const [cur] = await fresh.waitFor(1);
    fresh.close();
    for (const bad of ['abc', '-5', '12abc', '', String(Number(cur.id) + 1000), '99999999999999999999999']) {
      const r = await presenceStream(srv, [mid('john')], { 'Last-Event-ID': bad });
      try {
        assert.equal(r.status, 200, `Last-Event-ID ${JSON.stringify(bad)}`);
        const [snap] = await r.waitFor(1);
        assert.equal(snap.event, 'snapshot', `Last-Event-ID ${JSON.stringify(bad)}`);
        assert.equal(snap.id, cur.id);
        assert.deepEqual(snap.json, cur.json);
        await sleep(50);
        assert.equal(r.events.length, 1, 'only the snapshot');
      } finally { r.close(); }
    }
  });

  test('keep-alive comment lines arrive on an idle stream (--keepalive 1)', async () => {
    const s = await presenceStream(srv, [mid('john')]);
    try {
      await s.waitFor(1);
      await s.waitUntil((x) => x.comments.length >= 2, 4500, 'two keep-alive comments');
      assert.ok(s.comments.every((c) => c.startsWith(':')));
      assert.ok(!s.closed);
      assert.equal(s.events.length, 1, 'comments are not events');
    } finally { s.close(); }
  });
});

describe('replay limit (--replay-events 3)', () => {
  test('a few missed events are replayed; more than the server keeps → a fresh snapshot', async () => {
    const john = await loggedIn(small.url, 'john.smith@demo.test');
    const id = john.me.mechanic_id;
    const go = async (status) => assert.equal((await john.post('/api/mechanic/presence', { status })).status, 200);

    const s = await presenceStream(small, [id]);
    const [snap] = await s.waitFor(1);
    s.close();
    await go('online');
    await go('offline');
    const r1 = await presenceStream(small, [id], { 'Last-Event-ID': snap.id });
    const evs = await r1.waitFor(2);
    await sleep(200);
    r1.close();
    assert.deepEqual(r1.events.map((e) => [e.event, e.json.presence]), [['presence', 'online'], ['presence', 'offline']],
      'two missed events are still kept');
    const last = evs[1].id;

    await go('online');
    await go('offline');
    await go('online');
    await go('offline'); // 4 missed, only 3 kept
    const r2 = await presenceStream(small, [id], { 'Last-Event-ID': last });
    try {
      const [first] = await r2.waitFor(1);
      await sleep(200);
      assert.equal(first.event, 'snapshot', `too old to replay → snapshot, got ${JSON.stringify(r2.events.map((e) => e.event))}`);
      assert.equal(r2.events.length, 1, 'only the snapshot, no partial replay');
      assert.deepEqual(first.json.mechanics.map((m) => [m.id, m.presence]), [[id, 'offline']]);
      assert.ok(Number(first.id) >= Number(last) + 4, 'the snapshot names the latest sequence number');
      await go('online');
      const ev = await r2.waitForEvent((e) => e.event === 'presence');
      assert.ok(Number(ev.id) > Number(first.id));
    } finally {
      r2.close();
      await go('offline');
    }
  });
});

describe('mechanic stream', () => {
  test('needs a mechanic: 401 anonymous, 403 customer and admin', async () => {
    const anon = await getJson(`${srv.url}/api/mechanic/stream`);
    assert.equal(anon.status, 401);
    assert.ok(isErrorShape(anon.json));
    for (const email of ['alex@demo.test', 'admin@demo.test']) {
      const c = await loggedIn(srv.url, email);
      const r = await getJson(`${srv.url}/api/mechanic/stream`, { headers: { Cookie: c.cookieHeader() } });
      assert.equal(r.status, 403, email);
      assert.ok(isErrorShape(r.json));
    }
  });

  test('a mechanic gets an event stream that starts with retry: 2000', async () => {
    const s = await openStream(srv.url, '/api/mechanic/stream', { Cookie: who.maria.cookieHeader() });
    try {
      assert.equal(s.status, 200, s.body);
      assert.match(s.res.headers.get('content-type'), /^text\/event-stream/);
      await s.waitUntil((x) => x.raw.length > 0, 3000, 'first bytes');
      assert.ok(s.raw.startsWith('retry: 2000\n'), JSON.stringify(s.raw.slice(0, 40)));
      assert.equal(s.retry, 2000);
      await s.waitUntil((x) => x.comments.length >= 1, 3500, 'a keep-alive');
    } finally { s.close(); }
  });
});
