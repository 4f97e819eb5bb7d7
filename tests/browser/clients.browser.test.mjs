// Calimero Desktop's registry requests in headless Chromium, cross-origin, against the registry
// at REGISTRY_URL serving the site built from tests/fixtures/clients/registry-src.
//
// A small server started here serves clients.page.html on another origin (127.0.0.1, another
// port); the page sends Desktop's requests with its own `fetch`: the list and one app's details
// with `Content-Type: application/json` (so the browser sends a CORS preflight first), then the
// artifact from the registry's origin, whose SHA-256 the page computes. A preflight the host
// does not answer makes `fetch` throw, which fails the test.
//
//   REGISTRY_URL=http://127.0.0.1:8000/ node tests/browser/clients.browser.test.mjs
//
// Optional: CHROMIUM_PATH (default /usr/bin/chromium). Exits 1 if any test fails, 2 if
// REGISTRY_URL is missing or not on another origin than the page.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import process from 'node:process';
import { chromium } from 'playwright-core';
import { packages, packageNames, packagesSignedBy } from './clients.fixture.mjs';
import { Runner, manifest, publishedVersion, registryUrl } from './clients.lib.mjs';

const registry = registryUrl();
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// ---------- The page's origin ----------
const pageHtml = readFileSync(new URL('./clients.page.html', import.meta.url));
const pageServer = createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(pageHtml);
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});
await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
const pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
if (pageOrigin === new URL(registry).origin) {
  console.error(`the page and the registry share the origin ${pageOrigin}: the test would not be cross-origin`);
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM_PATH,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext();
const page = await context.newPage();
const consoleErrors = [];
page.on('console', (msg) => {
  if (msg.type() === 'error') consoleErrors.push(msg.text());
});
const loaded = await page.goto(`${pageOrigin}/`, { waitUntil: 'load' });
if (!loaded || !loaded.ok()) {
  console.error(`the test page did not load from ${pageOrigin}`);
  process.exit(1);
}

// Runs one of the page's Desktop functions; a fetch that throws (a failed preflight, a
// response without Access-Control-Allow-Origin) rejects with the browser's message.
function inPage(name, ...args) {
  return page.evaluate(([fn, fnArgs]) => window.desktop[fn](...fnArgs), [name, args]);
}

function okJson(answer) {
  assert.ok(answer.status >= 200 && answer.status < 300, `GET ${answer.url}: HTTP ${answer.status}: ${answer.text}`);
  assert.notEqual(answer.json, undefined, `GET ${answer.url}: not JSON: ${JSON.stringify(answer.text)}`);
  return answer.json;
}

// The fields Desktop reads from a list entry or an app's details, against the signed manifest.
async function checkDesktopFields(item, pkg, version) {
  assert.ok(item !== null && typeof item === 'object' && !Array.isArray(item), `not an object: ${JSON.stringify(item)}`);
  const signed = await manifest(registry, pkg, version);
  assert.equal(item.package, pkg, 'package');
  assert.equal(item.appVersion, version, 'appVersion');
  assert.deepEqual(item.metadata, signed.metadata, 'metadata');
  if (packages[pkg].author) assert.equal(item.metadata.author, packages[pkg].author, 'metadata.author');
  assert.equal(typeof item.minRuntimeVersion, 'string', 'minRuntimeVersion is not a string');
  assert.equal(item.minRuntimeVersion, signed.minRuntimeVersion, 'minRuntimeVersion');
  assert.equal(item.wasm?.hash, signed.wasm.hash, 'wasm.hash');
  assert.equal(typeof item.wasm?.size, 'number', 'wasm.size is not a number');
  assert.equal(item.wasm.size, signed.wasm.size, 'wasm.size');
  assert.deepEqual(item.signature, signed.signature, 'signature');
  for (const optional of ['links', 'interfaces']) {
    if (optional in signed) assert.deepEqual(item[optional], signed[optional], optional);
  }
}

const t = new Runner(`Calimero Desktop in Chromium, from ${pageOrigin}, against ${registry}`);

t.test('desktop browse: GET /api/v2/bundles with Content-Type: application/json is answered cross-origin', async () => {
  okJson(await inPage('list', registry));
});

t.test('desktop browse: the list is an array of the catalog latest of every package, sorted by package', async () => {
  const list = okJson(await inPage('list', registry));
  assert.ok(Array.isArray(list), `not an array (Desktop would show no apps): ${JSON.stringify(list).slice(0, 120)}`);
  assert.deepEqual(list.map((item) => item.package), packageNames);
  assert.deepEqual(list.map((item) => item.appVersion), packageNames.map((pkg) => packages[pkg].latest));
});

for (const pkg of packageNames) {
  const version = packages[pkg].latest;
  t.test(`desktop browse: the list entry of ${pkg} carries the fields Desktop reads, as signed`, async () => {
    const list = okJson(await inPage('list', registry));
    assert.ok(Array.isArray(list), 'the list is not an array');
    const item = list.find((entry) => entry && entry.package === pkg);
    assert.ok(item, `${pkg} is not in the list`);
    await checkDesktopFields(item, pkg, version);
  });
}

for (const signer of ['alice', 'bob']) {
  const expected = packagesSignedBy(signer);
  t.test(`desktop browse ?developer=D: the packages signed by ${signer} (${expected.join(', ')})`, async () => {
    const { signerId } = await publishedVersion(registry, expected[0], packages[expected[0]].latest);
    const list = okJson(await inPage('list', registry, `?developer=${encodeURIComponent(signerId)}`));
    assert.ok(Array.isArray(list), 'not an array');
    assert.deepEqual(list.map((item) => item.package), expected);
  });
}

t.test('desktop browse ?package=P: only that package', async () => {
  const pkg = 'com.example.numeric';
  const list = okJson(await inPage('list', registry, `?package=${pkg}`));
  assert.ok(Array.isArray(list), 'not an array');
  assert.ok(list.length > 0, 'empty');
  assert.deepEqual([...new Set(list.map((item) => item.package))], [pkg]);
});

for (const pkg of packageNames) {
  const version = packages[pkg].latest;
  t.test(`desktop app details: GET /api/v2/bundles/${pkg}/${version} is answered cross-origin with the fields Desktop reads, as signed`, async () => {
    await checkDesktopFields(okJson(await inPage('details', registry, pkg, version)), pkg, version);
  });
}

for (const pkg of packageNames) {
  const version = packages[pkg].latest;
  t.test(`desktop install: the artifact of ${pkg}@${version} at the registry origin has the published SHA-256`, async () => {
    const got = await inPage('download', registry, pkg, version);
    assert.equal(got.status, 200, `GET ${got.url}: HTTP ${got.status}`);
    const { bundle } = await publishedVersion(registry, pkg, version);
    assert.equal(got.size, bundle.size, 'size differs from apps/<P>/index.json');
    assert.equal(got.sha256, bundle.sha256, 'SHA-256 computed in the page differs from apps/<P>/index.json');
  });
}

let failed;
try {
  failed = await t.run();
  if (failed && consoleErrors.length) {
    console.log(`the page's console:\n  ${[...new Set(consoleErrors)].join('\n  ')}`);
  }
} finally {
  await browser.close();
  pageServer.close();
}
process.exit(failed ? 1 : 0);
