// The operator's command line: pitwall mechanic add|approve|suspend and import-mechanics,
// against the same SQLite file as a running server, which follows within a second.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, Client, startServer, directory, sleep } from './helpers.mjs';

// Retries fn until its assertions hold (the server follows the database within a second).
async function until(fn, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try { return await fn(); } catch (e) { if (Date.now() > deadline) throw e; }
    await sleep(100);
  }
}

let srv, db;
before(async () => { srv = await startServer(); db = `sqlite:${join(srv.dir, 'pitwall.db')}`; });
after(async () => { await srv.stop(); srv.cleanup(); });

const run = (...args) => spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, PITWALL_DB: db } });

test('mechanic add → pending; approve → listed and able to log in; suspend → gone', async () => {
  const add = run('mechanic', 'add', '--email', 'Nina.Cli@demo.test', '--name', 'Nina Cli', '--city', 'Toronto',
    '--brands', 'Tesla;Rivian', '--keywords', 'EV Battery', '--years', '6', '--rating', '4.7', '--password', 'nina-password');
  assert.equal(add.status, 0, add.stderr);
  const [id, email, status] = add.stdout.trim().split('\t');
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(email, 'nina.cli@demo.test');
  assert.equal(status, 'pending');
  const nina = new Client(srv.url);
  assert.equal((await nina.login('nina.cli@demo.test', 'nina-password')).status, 200, 'the new account logs in');
  const notYet = await directory(srv.url, '?city=Toronto&limit=50');
  assert.ok(!notYet.json.mechanics.some((m) => m.id === id), 'pending mechanics are not listed');

  assert.equal(run('mechanic', 'approve', 'nina.cli@demo.test').status, 0);
  await until(async () => {
    const d = await directory(srv.url, '?city=toronto&is_specialist=true&vehicle_make=rivian');
    assert.deepEqual(d.json.mechanics.map((m) => m.id), [id]);
    assert.equal(d.json.mechanics[0].rating, 4.7);
  });
  assert.equal((await nina.post('/api/mechanic/presence', { status: 'online' })).status, 200);

  assert.equal(run('mechanic', 'suspend', id).status, 0);
  await until(async () => {
    const d = await directory(srv.url, '?city=Toronto&limit=50');
    assert.ok(!d.json.mechanics.some((m) => m.id === id), 'a suspended mechanic leaves the list');
  });
  const me = await nina.get('/api/mechanic/presence');
  assert.equal(me.json.presence, 'offline');
  assert.equal(me.json.status, 'suspended');
});

test('bad input is refused with a message and writes nothing', () => {
  const cases = [
    ['mechanic', 'add', '--name', 'No Email', '--city', 'Toronto'],
    ['mechanic', 'add', '--email', 'x@y.test', '--name', 'X', '--city', 'Toronto', '--rating', '7'],
    ['mechanic', 'add', '--email', 'x@y.test', '--name', 'X', '--city', 'Toronto', '--password', 'short'],
    ['mechanic', 'approve', 'nobody@demo.test'],
  ];
  for (const args of cases) {
    const r = run(...args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, /pitwall: /);
  }
  assert.notEqual(run('mechanic', 'add', '--email', 'john.smith@demo.test', '--name', 'Dup', '--city', 'X', '--password', 'long-enough').status, 0);
});

test('import-mechanics: all rows or none', async () => {
  const good = join(srv.dir, 'good.csv');
  writeFileSync(good, 'email,name,city,country,brands,keywords,years_of_experience,rating,status\n'
    + 'olga@import.test,"Olga ""Ollie"" Petrov",Ottawa,Canada,BMW;Audi,Engine,12,4.8,approved\n'
    + 'pete@import.test,Pete Import,Ottawa,,,,3,4.1,\n');
  const r = run('import-mechanics', good);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /\tolga@import\.test\tapproved\tpassword=/);
  assert.match(lines[1], /\tpete@import\.test\tpending\tpassword=/);
  await until(async () => {
    const d = await directory(srv.url, '?city=Ottawa');
    assert.deepEqual(d.json.mechanics.map((m) => m.name), ['Olga "Ollie" Petrov']);
    assert.deepEqual(d.json.mechanics[0].brand_specializations, ['BMW', 'Audi']);
  });

  const bad = join(srv.dir, 'bad.csv');
  writeFileSync(bad, 'email,name,city\nquinn@import.test,Quinn,Ottawa\nolga@import.test,Olga Again,Ottawa\n');
  const r2 = run('import-mechanics', bad);
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /line 3: the email is already used/);
  assert.match(r2.stderr, /nothing imported/);
  assert.equal(r2.stdout, '');
  const q = await fetch(`${srv.url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'quinn@import.test', password: 'whatever-pass' }) });
  assert.equal(q.status, 401, 'the first row of a failed import was not kept');
  const missing = join(srv.dir, 'missing.csv');
  writeFileSync(missing, 'name,city\nX,Y\n');
  assert.match(run('import-mechanics', missing).stderr, /needs at least email,name,city/);
});
