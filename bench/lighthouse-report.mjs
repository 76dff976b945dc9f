// Writes the Lighthouse section of BENCHMARKS.md from bench/lighthouse.sh's runs:
//   node bench/lighthouse-report.mjs RESULTS_DIR BENCHMARKS.md
// The section sits between <!-- lighthouse:start --> and <!-- lighthouse:end --> (appended
// the first time). With several runs the median score of each page is shown, with its metrics.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';

const [dir, md] = process.argv.slice(2);
const runs = readdirSync(dir).filter((f) => /^run\d+\.json$/.test(f)).sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
const names = runs[0].map((r) => r.name);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
const ms = (v) => (v === undefined || v === null ? '—' : `${Math.round(v).toLocaleString('en-US')} ms`);
const lines = [];
lines.push('<!-- lighthouse:start -->');
lines.push('## Lighthouse performance of the pages');
lines.push('');
lines.push(`Command: \`${process.env.COMMAND || 'bench/lighthouse.sh'}\` → \`${dir}/\` (${runs.length} run${runs.length > 1 ? 's, the median score per page' : ''}),`);
let load = '';
try { load = `, load average ${readFileSync(join(dir, 'loadavg'), 'utf8').trim()} at the start`; } catch { /* older run */ }
lines.push(`${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores${load}, Lighthouse 12.2.3 with its default mobile`);
lines.push('settings (simulated slow 4G and 4× CPU slowdown) in Debian\'s Chromium, pitwall `--demo` on SQLite.');
lines.push('Goal: a performance score of at least 95 on every page.');
lines.push('');
lines.push('| page | score | FCP | LCP | TBT | CLS | Speed Index | ≥ 95? |');
lines.push('|---|---|---|---|---|---|---|---|');
const notes = [];
for (const name of names) {
  const per = runs.map((run) => run.find((r) => r.name === name)).filter(Boolean);
  if (per[0].skipped) { lines.push(`| ${name} | skipped: ${per[0].skipped} | | | | | | |`); continue; }
  const m = median(per.map((r) => r.scores.performance));
  const r = per.find((x) => x.scores.performance === m);
  const { fcp, lcp, tbt, cls, si } = r.metrics;
  const all = runs.length > 1 ? ` (${per.map((x) => x.scores.performance).join(' / ')})` : '';
  lines.push(`| \`${r.path.split('?')[0]}\` | ${m}${all} | ${ms(fcp)} | ${ms(lcp)} | ${ms(tbt)} | ${cls?.toFixed(3)} | ${ms(si)} | ${m >= 95 ? 'yes' : '**no**'} |`);
  for (const f of r.failing.filter((x) => x.score < 0.9)) notes.push(`- \`${r.path.split('?')[0]}\`: ${f.id} — ${f.title}${f.displayValue ? ` (${f.displayValue})` : ''}`);
}
// tests/lighthouse/shifts.mjs: the browser's layout-shift entries under the same throttling
try {
  const shifts = JSON.parse(readFileSync(join(dir, 'shifts.json'), 'utf8'));
  for (const p of shifts.filter((x) => x.cls >= 0.01))
    for (const s of p.shifts)
      notes.push(`- \`${p.path.split('?')[0]}\`: a layout shift of ${s.value.toFixed(3)} at ${s.at} ms (4× CPU, slow 4G, empty cache, /api/ answers held 500 ms): ${s.sources.map((x) => `\`${x.node}\` ${x.from} → ${x.to}`).join('; ')}`);
} catch { /* no shifts.json: an older run */ }
if (notes.length) { lines.push(''); lines.push('What costs points (audits below 0.9, elements that shift):'); lines.push(''); lines.push(...notes); }
lines.push('<!-- lighthouse:end -->');
const section = lines.join('\n');
let text = readFileSync(md, 'utf8');
const re = /<!-- lighthouse:start -->[\s\S]*?<!-- lighthouse:end -->/;
text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
writeFileSync(md, text);
