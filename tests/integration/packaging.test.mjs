// Packaging: pitwall(1) documents every flag of --help (both come from one table), and the
// build produces the manual page and a systemd unit that runs `pitwall serve`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN } from './helpers.mjs';

test('the manual page documents every flag and variable of --help', () => {
  const help = spawnSync(BIN, ['--help'], { encoding: 'utf8' }).stdout;
  const man = spawnSync(BIN, ['man'], { encoding: 'utf8' }).stdout;
  const flags = [...help.matchAll(/^\s+--([a-z-]+)/gm)].map((m) => m[1]);
  assert.ok(flags.length >= 14, `found ${flags.length} flags in --help`);
  for (const f of ['listen', 'db', 'demo', 'demo-mechanics', 'presence-timeout', 'priority-window',
    'broadcast-size', 'request-ttl', 'stripe-secret-key', 'stripe-webhook-secret', 'stripe-api-base', 'public-url']) {
    assert.ok(flags.includes(f), `--help lists --${f} (SPEC §6)`);
  }
  for (const f of flags) {
    assert.ok(man.includes(`\\-\\-${f.replace(/-/g, '\\-')}`), `the manual page documents --${f}`);
    const env = `PITWALL_${f.toUpperCase().replace(/-/g, '_')}`;
    assert.ok(help.includes(env) && man.includes(env), `${env} is named in both`);
  }
  assert.match(man, /^\.TH PITWALL 1/m);
});

test('the build leaves pitwall.1 and pitwall.service beside the binary', () => {
  const dir = dirname(BIN);
  assert.ok(existsSync(join(dir, 'pitwall.1')));
  const unit = readFileSync(join(dir, 'pitwall.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/\S+\/pitwall serve$/m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  assert.match(unit, /^LimitNOFILE=\d+$/m);
});

test('the build leaves pitwall@.service: one node per port, on PostgreSQL only', () => {
  const unit = readFileSync(join(dirname(BIN), 'pitwall@.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/\S+\/pitwall serve$/m);
  assert.match(unit, /^Environment=PITWALL_LISTEN=127\.0\.0\.1:%i$/m);
  assert.match(unit, /^ExecStartPre=.*postgres:\/\//m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  assert.match(unit, /^LimitNOFILE=\d+$/m);
});
