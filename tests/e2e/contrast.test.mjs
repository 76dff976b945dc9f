// WCAG 2.x AA contrast of the stylesheet's colours (issue 11), computed from web/styles.css
// itself: no browser. The design tokens are the :root custom properties (var() chains, hex,
// rgb() with alpha resolved); the pairs are found in the rules:
//  - every rule that sets `color:` gives a text colour; if the same rule paints its own
//    background (a button, an input, the avatar's initials), that background is its surface,
//    else the text can sit on any of the page's surfaces below;
//  - the page: the body's radial gradient from its first stop (--slate-800, the top) to its
//    last (--bg) and the html background; every rule with a translucent background (the cards
//    --card-bg, --selected-bg, --hover-bg, the top bar, the stat and chart panels, the intake
//    banner's green...) laid over either end of the page, and over a card on either end
//    (a notice, a choice, a panel inside a card); the worst surface decides;
//  - a few contexts a single rule does not show are listed in EXTRA below, each naming the
//    rules it combines.
// Normal text needs 4.5:1; large text (≥ 24px, or ≥ 18.66px and bold) 3:1; focus rings and
// selection borders (WCAG 1.4.11, non-text) 3:1. Disabled buttons (opacity 0.5) are computed
// and printed but not required: WCAG 1.4.3 exempts inactive components.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

// ---- a small CSS reader: rules (also inside @media), declarations, custom properties ----

export function parseCss(text) {
  text = text.replace(/\/\*[\s\S]*?\*\//g, '');
  const rules = [];
  let i = 0;
  function block(media) {
    while (i < text.length) {
      const open = text.indexOf('{', i), close = text.indexOf('}', i);
      if (close >= 0 && (open < 0 || close < open)) { i = close + 1; return; } // end of an @media
      if (open < 0) { i = text.length; return; }
      const prelude = text.slice(i, open).trim();
      i = open + 1;
      if (/^@(media|supports|layer)\b/.test(prelude)) { block(prelude); continue; }
      // a rule's body (or an @keyframes, skipped whole): up to the matching brace
      let depth = 1, j = i;
      for (; j < text.length && depth; j++) {
        if (text[j] === '{') depth++;
        else if (text[j] === '}') depth--;
      }
      const body = text.slice(i, j - 1);
      i = j;
      if (prelude.startsWith('@')) continue;
      rules.push({ selector: prelude.replace(/\s+/g, ' '), selectors: splitTop(prelude, ',').map((s) => s.trim().replace(/\s+/g, ' ')), decls: declarations(body), media });
    }
  }
  block(null);
  return rules;
}

// splits on sep outside parentheses and quotes
function splitTop(s, sep) {
  const out = [];
  let depth = 0, quote = null, start = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    if (quote) { if (c === quote) quote = null; continue; }
    if (c === '"' || c === "'") quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === sep && depth === 0) { out.push(s.slice(start, k)); start = k + 1; }
  }
  out.push(s.slice(start));
  return out;
}

function declarations(body) {
  const decls = new Map();
  for (const d of splitTop(body, ';')) {
    const c = d.indexOf(':');
    if (c < 0) continue;
    decls.set(d.slice(0, c).trim().toLowerCase(), d.slice(c + 1).trim().replace(/\s*!important$/, ''));
  }
  return decls;
}

// var(--x[, fallback]) → its value, recursively
export function resolveVars(value, vars, depth = 0) {
  if (depth > 20) throw new Error(`var() cycle in ${value}`);
  const k = value.indexOf('var(');
  if (k < 0) return value;
  let d = 0, end = k + 4;
  for (; end < value.length; end++) {
    if (value[end] === '(') d++;
    else if (value[end] === ')') { if (d === 0) break; d--; }
  }
  const [name, ...fallback] = splitTop(value.slice(k + 4, end), ',');
  const got = vars.get(name.trim()) ?? (fallback.length ? fallback.join(',').trim() : undefined);
  if (got === undefined) throw new Error(`undefined custom property ${name.trim()}`);
  return resolveVars(value.slice(0, k) + resolveVars(got, vars, depth + 1) + value.slice(end + 1), vars, depth + 1);
}

// ---- colours ----

const NAMED = { white: '#ffffff', black: '#000000', transparent: 'rgb(0 0 0 / 0)' };

export function parseColor(s) {
  s = s.trim().toLowerCase();
  if (NAMED[s]) s = NAMED[s];
  let m = /^#([0-9a-f]{3,8})$/.exec(s);
  if (m) {
    let h = m[1];
    if (h.length === 3 || h.length === 4) h = [...h].map((c) => c + c).join('');
    if (h.length !== 6 && h.length !== 8) return null;
    return { r: parseInt(h.slice(0, 2), 16), g: parseInt(h.slice(2, 4), 16), b: parseInt(h.slice(4, 6), 16), a: h.length === 8 ? parseInt(h.slice(6, 8), 16) / 255 : 1 };
  }
  m = /^rgba?\(\s*([^)]*)\)$/.exec(s);
  if (m) {
    const [rgb, alpha] = m[1].includes('/') ? m[1].split('/') : [m[1], undefined];
    let parts = rgb.split(/[\s,]+/).filter(Boolean);
    let a = alpha;
    if (parts.length === 4) { a = parts[3]; parts = parts.slice(0, 3); }
    if (parts.length !== 3) return null;
    const ch = (v) => (v.endsWith('%') ? (parseFloat(v) * 255) / 100 : parseFloat(v));
    const al = a === undefined ? 1 : a.trim().endsWith('%') ? parseFloat(a) / 100 : parseFloat(a);
    return { r: ch(parts[0]), g: ch(parts[1]), b: ch(parts[2]), a: al };
  }
  return null;
}

// the colours in a background value: gradient stops and the plain colour layer, if any
export function backgroundColors(value) {
  const out = [];
  for (const m of value.matchAll(/(?:linear|radial|conic)-gradient\(/g)) {
    let d = 0, end = m.index + m[0].length;
    for (; end < value.length; end++) {
      if (value[end] === '(') d++;
      else if (value[end] === ')') { if (d === 0) break; d--; }
    }
    for (const arg of splitTop(value.slice(m.index + m[0].length, end), ',')) {
      const c = colorIn(arg);
      if (c) out.push({ ...c, stop: true });
    }
  }
  const rest = value.replace(/(?:linear|radial|conic)-gradient\((?:[^()]|\([^()]*\))*\)/g, ' ');
  const c = colorIn(rest);
  if (c) out.push({ ...c, stop: false });
  return out;
}

// the first colour written in a piece of CSS text (hex, rgb(), a named one)
function colorIn(s) {
  const m = /#[0-9a-f]{3,8}\b|rgba?\([^)]*\)|\b(?:white|black|transparent)\b/i.exec(s);
  return m ? parseColor(m[0]) : null;
}

// fg (with alpha) laid over an opaque bg
export const over = (fg, bg) => ({
  r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1,
});

// WCAG 2.x relative luminance and contrast ratio
export function luminance({ r, g, b }) {
  const lin = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}
export function contrast(fg, bg) {
  if (bg.a < 1) throw new Error('contrast against a translucent background: composite it first');
  const f = fg.a < 1 ? over(fg, bg) : fg;
  const [hi, lo] = [luminance(f), luminance(bg)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

const hex = (c) => `#${[c.r, c.g, c.b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;

// ---- the stylesheet's pairs ----

const REM = 16;
function px(size) {
  const m = /^([\d.]+)(rem|px|em)$/.exec(size || '');
  if (!m) return null;
  return m[2] === 'px' ? +m[1] : +m[1] * REM;
}
// large text by WCAG: ≥ 24px, or ≥ 18.66px (14pt) and bold; only when the rule says so
function isLarge(decls) {
  const size = px(decls.get('font-size'));
  const weight = Number(decls.get('font-weight')) || 400;
  return size !== null && (size >= 24 || (size >= 18.66 && weight >= 700));
}

// Contexts a rule alone does not show: [description, text colour (rule, property), background
// (rule, property)]. Each names the rules it combines.
const EXTRA = [
  ['skip link when focused: `a` colour on `.skip-link:focus` background', ['a', 'color'], ['.skip-link:focus', 'background']],
  ['sticky first column: `table.data thead th` colour on `table.data th:first-child` background', ['table.data thead th', 'color'], ['table.data th:first-child', 'background']],
  ['sticky first column: `table.data tbody th` colour on `table.data th:first-child` background', ['table.data tbody th', 'color'], ['table.data th:first-child', 'background']],
];
// Where a rule's text lives when its selector does not say: the brand link is the top bar's.
const SCOPE = { '.brand': '.topbar', '.brand span': '.topbar' };
// Layers that hold only their own text (rules under their selector): the intake banner has
// its own h2, p and tick colours.
const EXCLUSIVE = new Set(['.banner-selected']);
// ".choice:has(input:checked)" → ".choice"; "table.data th" → "table.data th"
const baseOf = (sel) => sel.split(' ')[0].replace(/:.*$/, '');
// the container a descendant selector names, if it is one of the layers ("X ..." with X a layer's base)
function containerOf(sel, layers) {
  const first = baseOf(sel);
  if (!sel.includes(' ')) return null;
  return layers.some((l) => l.base === first) ? first : null;
}

// Non-text indicators (WCAG 1.4.11, 3:1) against every page surface: [description, rule, property]
const NON_TEXT = [
  ['focus ring (`:focus-visible` outline, --focus)', ':focus-visible', 'outline'],
  ['selected choice border (`.choice:has(input:checked)`, --selected-border)', '.choice:has(input:checked)', 'border-color'],
];

export function analyse(cssText) {
  const rules = parseCss(cssText);
  const vars = new Map();
  for (const r of rules) if (r.selectors.includes(':root')) for (const [k, v] of r.decls) if (k.startsWith('--')) vars.set(k, v);
  const val = (rule, prop) => {
    const v = rule.decls.get(prop);
    return v === undefined ? undefined : resolveVars(v, vars);
  };
  const find = (sel, prop) => {
    const r = rules.find((x) => x.selectors.includes(sel) && x.decls.has(prop));
    if (!r) throw new Error(`styles.css has no rule "${sel}" with ${prop}`);
    return r;
  };
  const bgOf = (rule) => {
    const v = val(rule, 'background') ?? val(rule, 'background-color');
    if (v === undefined || /^(none|transparent)$/.test(v.trim())) return null;
    return backgroundColors(v);
  };
  const tokenName = (rule, prop) => (/var\((--[\w-]+)/.exec(rule.decls.get(prop) || '') || [])[1] || rule.decls.get(prop);

  // the page: the body's gradient stops and plain layer, the html background
  const body = find('body', 'background');
  const page = bgOf(body).map((c, k, all) => ({ name: c.stop ? (k === 0 ? 'page top (body gradient, first stop)' : 'page bottom (body gradient, last stop)') : 'page (body background colour)', color: c }));
  const html = rules.find((r) => r.selectors.includes('html') && r.decls.has('background'));
  if (html) page.push({ name: 'page (html background)', color: bgOf(html)[0] });
  const opaquePage = page.filter((p) => p.color.a === 1);
  assert.ok(opaquePage.length >= 2, 'the page has its two gradient ends');

  // translucent layers (a rule painting a see-through background and no text colour), each
  // over either end of the page and over a card there
  const card = find('.card', 'background');
  const cardColor = bgOf(card)[0];
  const layers = [];
  for (const r of rules) {
    if (r.decls.has('color') || r.decls.has('opacity')) continue;
    const bg = bgOf(r);
    if (!bg || bg.length !== 1 || bg[0].stop || bg[0].a >= 1 || bg[0].a === 0) continue;
    for (const sel of r.selectors) layers.push({ name: sel, base: baseOf(sel), color: bg[0] });
  }
  const stack = (ls) => {
    const out = [];
    for (const p of opaquePage)
      for (const l of ls) {
        out.push({ name: `${l.name} on ${p.name}`, color: over(l.color, p.color) });
        if (l.name !== '.card') out.push({ name: `${l.name} on .card on ${p.name}`, color: over(l.color, over(cardColor, p.color)) });
      }
    return out;
  };
  const cardOnPage = opaquePage.map((p) => ({ name: `.card on ${p.name}`, color: over(cardColor, p.color) }));
  const surfaces = [...opaquePage, ...stack(layers.filter((l) => !EXCLUSIVE.has(l.base)))];
  // a rule inside a container (".stat dt", ".banner-selected h2", or SCOPE): that container's
  // own layers (its states too: ".choice:hover"); a container without a background of its
  // own (".choice") also shows the page and a card through it
  const containerSurfaces = (base) => {
    const own = layers.filter((l) => l.base === base);
    const plain = own.some((l) => l.name === base);
    return [...(plain ? [] : [...opaquePage, ...cardOnPage]), ...stack(own)];
  };
  const surfacesFor = (rule) => {
    const sels = rule.selectors.map((sel) => SCOPE[sel] || containerOf(sel, layers));
    if (sels.some((c) => !c)) return surfaces; // at least one selector can be anywhere
    return [...new Map(sels.flatMap(containerSurfaces).map((x) => [x.name, x])).values()];
  };

  const pairs = [];
  const add = (what, rule, fgProp, fg, bgList, min, note) => {
    for (const s of bgList) {
      const ratio = contrast(fg, s.color);
      pairs.push({ what, rule, token: tokenName(rule, fgProp), fg: hex(fg), surface: s.name, bg: hex(s.color), ratio, min, ok: ratio >= min, note });
    }
  };
  // an own background: its colours (gradient stops), laid over the page's surfaces if translucent
  const ownSurfaces = (rule, name) => {
    const out = [];
    for (const c of bgOf(rule)) {
      if (c.a >= 1) out.push({ name: `${name}${c.stop ? ' gradient stop' : ''} ${hex(c)}`, color: c });
      else if (c.a > 0) for (const s of surfaces) out.push({ name: `${name} ${hex(c)}/${c.a} on ${s.name}`, color: over(c, s.color) });
    }
    return out.length ? out : surfaces;
  };

  for (const r of rules) {
    const v = val(r, 'color');
    if (v === undefined || /^(inherit|currentcolor|initial|unset)$/i.test(v)) continue;
    const fg = parseColor(v);
    assert.ok(fg, `${r.selector}: colour "${v}" could not be read`);
    // the body's colour is inherited by all text that sets none: every surface
    const own = r.selector === 'body' ? null : bgOf(r);
    add(r.selector, r, 'color', fg, own ? ownSurfaces(r, r.selector) : surfacesFor(r), isLarge(r.decls) ? 3 : 4.5);
  }
  for (const [what, [fs, fp], [bs, bp]] of EXTRA) {
    const fr = find(fs, fp), br = find(bs, bp);
    add(what, fr, fp, parseColor(val(fr, fp)), ownSurfaces(br, bs), isLarge(fr.decls) ? 3 : 4.5);
  }
  for (const [what, sel, prop] of NON_TEXT) {
    const r = find(sel, prop);
    add(what, r, prop, colorIn(val(r, prop)), surfaces, 3, 'non-text');
  }
  // disabled buttons: the whole button at opacity 0.5 over each page surface (exempt: printed)
  const disabled = find('.btn:disabled', 'opacity');
  const alpha = Number(val(disabled, 'opacity'));
  for (const sel of ['.btn-primary', '.btn-secondary']) {
    const r = find(sel, 'color');
    const fg = parseColor(val(r, 'color'));
    const bgs = bgOf(r);
    for (const s of surfaces) {
      const under = s.color;
      const face = bgs ? bgs.map((c) => over({ ...c, a: c.a * alpha }, under)) : [under];
      for (const f of face)
        pairs.push({ what: `${sel}:disabled (opacity ${alpha})`, rule: disabled, token: tokenName(r, 'color'), fg: hex(over({ ...fg, a: alpha }, f)), surface: `${hex(f)} on ${s.name}`, bg: hex(f), ratio: contrast({ ...fg, a: alpha }, f), min: 4.5, ok: true, note: 'exempt (WCAG 1.4.3: inactive component)' });
    }
  }
  return { pairs, vars, surfaces, rules };
}

// ---- the tests ----

test('the contrast arithmetic is WCAG 2.x (known values)', () => {
  const c = (a, b) => contrast(parseColor(a), parseColor(b));
  assert.equal(c('#ffffff', '#000000').toFixed(2), '21.00');
  assert.equal(c('#000', '#000').toFixed(2), '1.00');
  assert.equal(c('#777777', '#ffffff').toFixed(2), '4.48'); // the textbook just-failing grey
  assert.equal(c('#767676', '#ffffff').toFixed(2), '4.54'); // and the just-passing one
  assert.deepEqual(parseColor('rgb(30 41 59 / 0.5)'), { r: 30, g: 41, b: 59, a: 0.5 });
  assert.deepEqual(parseColor('rgba(30, 41, 59, 50%)'), { r: 30, g: 41, b: 59, a: 0.5 });
  assert.deepEqual(parseColor('#fff8'), { r: 255, g: 255, b: 255, a: 0x88 / 255 });
  assert.deepEqual(over({ r: 255, g: 0, b: 0, a: 0.5 }, { r: 0, g: 0, b: 255, a: 1 }), { r: 127.5, g: 0, b: 127.5, a: 1 });
  const vars = new Map([['--a', 'var(--b)'], ['--b', 'var(--c, #123456)']]);
  assert.equal(resolveVars('var(--a)', vars), '#123456');
  assert.throws(() => resolveVars('var(--x)', new Map([['--x', 'var(--x)']])), /cycle/);
});

test('self-check: a failing pair is reported as failing', () => {
  // slate-500 on slate-800 is about 3:1: the checker must say no
  const sheet = `:root { --slate-500: #64748b; --slate-800: #1e293b; --muted: var(--slate-500); --bg: #0f172a; --card-bg: rgb(30 41 59 / 0.5); }
    html { background: var(--bg); }
    body { background: radial-gradient(ellipse at top, var(--slate-800), var(--bg)) no-repeat var(--bg); color: #fff; }
    :focus-visible { outline: 3px solid #fdba74; }
    .choice:has(input:checked) { border-color: #f97316; }
    .card { background: var(--card-bg); }
    .quiet { color: var(--muted); }
    .skip-link:focus { background: var(--slate-800); } a { color: #fb923c; }
    table.data thead th { color: #fff; } table.data tbody th { color: #fff; } table.data th:first-child { background: var(--bg); }
    .topbar { background: rgb(15 23 42 / 0.8); } .brand span { color: #f97316; }
    .btn-primary { background: #f97316; color: #fff; } .btn-secondary { color: #fff; } .btn:disabled { opacity: 0.5; }`;
  const { pairs } = analyse(sheet);
  const quiet = pairs.filter((p) => p.what === '.quiet');
  assert.ok(quiet.length >= 2);
  const top = quiet.find((p) => p.surface.startsWith('page top'));
  assert.equal(top.bg, '#1e293b');
  assert.ok(top.ratio < 3.1 && top.ratio > 2.9, `slate-500 on slate-800: ${top.ratio}`);
  assert.equal(top.ok, false, 'reported as failing');
  assert.ok(pairs.filter((p) => p.what === 'body').every((p) => p.ok), 'white passes everywhere');
});

test('every text colour of web/styles.css meets WCAG AA on every surface it can sit on', (t) => {
  const { pairs, surfaces } = analyse(readFileSync(resolve('web/styles.css'), 'utf8'));
  t.diagnostic(`${surfaces.length} surfaces: ${surfaces.map((s) => `${s.name} ${hex(s.color)}`).join('; ')}`);
  // one line per text colour and rule: its worst surface
  const byRule = new Map();
  for (const p of pairs) {
    const k = `${p.what} [${p.token}]`;
    if (!byRule.has(k) || p.ratio < byRule.get(k).ratio) byRule.set(k, p);
  }
  for (const [k, p] of byRule)
    t.diagnostic(`${p.ok ? 'ok  ' : 'FAIL'} ${p.ratio.toFixed(2)}:1 (needs ${p.min}) ${k} ${p.fg} worst on ${p.surface} ${p.bg}${p.note ? ` — ${p.note}` : ''}`);
  const failing = pairs.filter((p) => !p.ok);
  assert.deepEqual(failing.map((p) => `${p.what} [${p.token} ${p.fg}] on ${p.surface} ${p.bg}: ${p.ratio.toFixed(2)}:1 < ${p.min}`), []);
  assert.ok(pairs.length > 100, `${pairs.length} pairs checked`);
});
