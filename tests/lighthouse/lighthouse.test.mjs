// Lighthouse (issue 11): every page scores 100 for accessibility and 100 for best practices,
// in Debian's Chromium; a page below prints its failing audits with the offending nodes.
// Performance (speed) is measured by bench/lighthouse.sh, not asserted here.
// scripts/run-tests.sh runs it in every `make test` (PITWALL_LIGHTHOUSE=0 skips it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setUp, auditPage, formatFailing } from './lighthouse.mjs';

let ctx;
before(async () => { ctx = await setUp({ log: () => {} }); });
after(async () => { if (ctx) await ctx.close(); });

// one test per page, in a fixed order (they share the browser and the server)
for (const name of ['login', 'register', 'dashboard', 'wizard', 'intake', 'waiver', 'payment', 'waiting', 'mechanic', 'admin']) {
  test(`lighthouse: ${name} — accessibility 100, best practices 100`, async (t) => {
    const page = ctx.pages.find((p) => p.name === name);
    const r = await auditPage(ctx, page);
    if (r.skipped) { t.skip(r.skipped); return; }
    t.diagnostic(`${r.path} → ${r.finalUrl}: ${JSON.stringify(r.scores)}`);
    assert.equal(r.runtimeError, null, `${name}: ${r.runtimeError}`);
    const low = Object.entries(r.scores).filter(([, v]) => v !== 100);
    assert.deepEqual(low, [], `${name} (${r.path}) is below 100:\n${formatFailing(r)}`);
  });
}
