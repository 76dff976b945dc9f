// The favicon (issue 11): every page's head links the SVG icon (and the .ico and the
// apple-touch-icon), and every icon URL a page names answers 200 with an image; /favicon.ico,
// which browsers ask for on their own, is a real ICO.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startServer } from './helpers.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { if (srv) { await srv.stop(); srv.cleanup(); } });

const pages = readdirSync(resolve('web')).filter((f) => f.endsWith('.html'));

// <link rel="..." href="..."> of the head whose rel names an icon
function iconLinks(html) {
  const head = html.slice(0, html.indexOf('</head>'));
  const links = [];
  for (const m of head.matchAll(/<link\b[^>]*>/gi)) {
    const rel = /\brel="([^"]*)"/i.exec(m[0])?.[1] || '';
    const href = /\bhref="([^"]*)"/i.exec(m[0])?.[1];
    if (/\b(icon|apple-touch-icon)\b/i.test(rel) && href) links.push({ rel, href, tag: m[0] });
  }
  return links;
}

test('every page links the SVG favicon in its head', () => {
  assert.ok(pages.length >= 9, pages.join(' '));
  for (const f of pages) {
    const links = iconLinks(readFileSync(resolve('web', f), 'utf8'));
    assert.ok(links.some((l) => l.rel === 'icon' && l.href === '/favicon.svg' && /type="image\/svg\+xml"/.test(l.tag)),
      `${f}: <link rel="icon" href="/favicon.svg" type="image/svg+xml">`);
    assert.ok(links.some((l) => l.href === '/favicon.ico'), `${f}: links /favicon.ico`);
  }
});

test("each page's icon URLs answer 200 with an image", async () => {
  const seen = new Map();
  for (const f of pages) {
    for (const { href } of iconLinks(readFileSync(resolve('web', f), 'utf8'))) {
      if (!seen.has(href)) seen.set(href, await fetch(new URL(href, srv.url)));
      const r = seen.get(href);
      assert.equal(r.status, 200, `${f}: ${href}`);
      assert.match(r.headers.get('content-type') || '', /^image\//, `${f}: ${href}`);
    }
  }
  assert.ok(seen.size >= 3, [...seen.keys()].join(' '));
});

test('/favicon.ico is an ICO file served as one', async () => {
  const r = await fetch(`${srv.url}/favicon.ico`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^image\/(x-icon|vnd\.microsoft\.icon)$/);
  const b = Buffer.from(await r.arrayBuffer());
  assert.deepEqual([...b.subarray(0, 4)], [0, 0, 1, 0], 'ICONDIR: reserved 0, type 1 (icon)');
  assert.ok(b.readUInt16LE(4) >= 2, 'several sizes');
  const svg = await (await fetch(`${srv.url}/favicon.svg`)).text();
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /#f97316/i);
  assert.match(svg, /#0f172a/i);
});
