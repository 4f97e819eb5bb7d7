// The requests cargo-mero, mero-js and merod send to a registry, and what each does with the
// answer, run against the registry at REGISTRY_URL serving the site built from
// tests/fixtures/clients/registry-src. Each client is modelled from what it is known to send and
// read (../shared/spec/clients.md), nothing more.
//
//   REGISTRY_URL=http://127.0.0.1:8000/ node tests/browser/clients.node.test.mjs
//
// Exits 1 if any test fails, 2 if REGISTRY_URL is missing.

import assert from 'node:assert/strict';
import process from 'node:process';
import { packages, packageNames, unknownPackage } from './clients.fixture.mjs';
import { Runner, appIndex, publishedVersion, registryUrl, sha256Hex } from './clients.lib.mjs';

const registry = registryUrl();
const t = new Runner(`cargo-mero, mero-js and merod against ${registry}`);

// ---------- cargo-mero `bundle --bump` ----------
//
// GET {base}/api/v2/bundles?package=P; any non-2xx status is an error; the body must be a
// top-level JSON array; [] means never published (0.1.0); otherwise the highest
// (major, minor, patch) over the entries' appVersion, each component read as its leading
// digits (so a prerelease tag is ignored), with the patch bumped.

function versionTriple(text) {
  const parts = String(text).split('.');
  if (parts.length < 3) return null;
  const triple = [];
  for (const part of parts.slice(0, 3)) {
    const digits = /^[0-9]+/.exec(part);
    if (!digits) return null;
    triple.push(Number(digits[0]));
  }
  return triple;
}

function compareTriples(a, b) {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

async function cargoMeroNextVersion(pkg, query) {
  const url = `${registry}/api/v2/bundles?package=${pkg}${query}`;
  const res = await fetch(url, { redirect: 'follow' });
  if (!res.ok) throw new Error(`cargo-mero would fail: GET ${url} answered HTTP ${res.status}`);
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`cargo-mero would fail: GET ${url} is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
  if (!Array.isArray(body)) {
    throw new Error(`cargo-mero would fail: GET ${url} is not a top-level array: ${JSON.stringify(text.slice(0, 120))}`);
  }
  if (body.length === 0) return '0.1.0';
  const triples = body
    .map((entry) => (entry && typeof entry.appVersion === 'string' ? versionTriple(entry.appVersion) : null))
    .filter(Boolean);
  if (triples.length === 0) throw new Error(`cargo-mero would fail: no readable appVersion in ${JSON.stringify(body).slice(0, 200)}`);
  const [major, minor, patch] = triples.sort(compareTriples).at(-1);
  return `${major}.${minor}.${patch + 1}`;
}

// The spec's request, and the same with `&all_versions=true`, which newer cargo-mero sends.
for (const [label, query] of [['?package=P', ''], ['?package=P&all_versions=true', '&all_versions=true']]) {
  t.test(`cargo-mero bump (${label}): a package never published proposes 0.1.0`, async () => {
    assert.equal(await cargoMeroNextVersion(unknownPackage, query), '0.1.0');
  });

  for (const pkg of packageNames) {
    const { scenario, bump } = packages[pkg];
    t.test(`cargo-mero bump (${label}): ${scenario} (${pkg}) proposes ${bump}, a version not yet published`, async () => {
      const proposed = await cargoMeroNextVersion(pkg, query);
      const publishedVersions = (await appIndex(registry, pkg)).versions.map((v) => v.version);
      assert.ok(
        !publishedVersions.includes(proposed),
        `proposed ${proposed}, which the site already publishes (${publishedVersions.join(', ')})`,
      );
      assert.equal(proposed, bump, `proposed ${proposed}, expected ${bump}`);
    });
  }
}

// ---------- mero-js ----------
//
// getRegistryVersions(P): GET {registry}/api/v2/bundles?package=P, a 4xx throws, keeps every
// entry's appVersion. installFromRegistry(P, V): GET {registry}/api/v2/bundles/P/V, reads
// `package` and `appVersion`.

async function meroJsGet(url) {
  const res = await fetch(url);
  if (res.status >= 400 && res.status < 500) {
    const error = new Error(`mero-js would throw: GET ${url} answered HTTP ${res.status}`);
    error.status = res.status;
    throw error;
  }
  if (!res.ok) throw new Error(`GET ${url} answered HTTP ${res.status}`);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`GET ${url} is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
}

async function getRegistryVersions(pkg) {
  const body = await meroJsGet(`${registry}/api/v2/bundles?package=${encodeURIComponent(pkg)}`);
  assert.ok(Array.isArray(body), `the answer is not an array: ${JSON.stringify(body).slice(0, 120)}`);
  return body.map((entry) => entry.appVersion);
}

async function installFromRegistry(pkg, version) {
  const body = await meroJsGet(`${registry}/api/v2/bundles/${encodeURIComponent(pkg)}/${encodeURIComponent(version)}`);
  return { package: body.package, appVersion: body.appVersion };
}

t.test('mero-js getRegistryVersions: a package never published gives [] without throwing', async () => {
  assert.deepEqual(await getRegistryVersions(unknownPackage), []);
});

for (const pkg of packageNames) {
  t.test(`mero-js getRegistryVersions: ${pkg} gives versions the site publishes`, async () => {
    const versions = await getRegistryVersions(pkg);
    assert.ok(versions.length > 0, 'no versions');
    for (const version of versions) {
      assert.equal(typeof version, 'string', `appVersion ${JSON.stringify(version)} is not a string`);
      assert.ok(packages[pkg].versions.includes(version), `${version} is not a published version of ${pkg}`);
    }
  });
}

for (const pkg of packageNames) {
  for (const version of packages[pkg].versions) {
    t.test(`mero-js installFromRegistry: ${pkg}@${version} reads package and appVersion`, async () => {
      assert.deepEqual(await installFromRegistry(pkg, version), { package: pkg, appVersion: version });
    });
  }
}

t.test('mero-js installFromRegistry: a version never published is a 404', async () => {
  const pkg = packageNames[0];
  await assert.rejects(installFromRegistry(pkg, '99.0.0'), (err) => {
    assert.equal(err.status, 404, err.message);
    return true;
  });
});

// ---------- merod: meroctl app install --url ----------
//
// The node downloads the URL: up to 10 redirects are followed, the content type is ignored,
// and the bytes must be the bundle's exact bytes.

async function nodeDownload(url) {
  let current = url;
  for (let redirects = 0; ; redirects += 1) {
    const res = await fetch(current, { redirect: 'manual' });
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      await res.arrayBuffer();
      if (!location) throw new Error(`GET ${current}: HTTP ${res.status} without Location`);
      if (redirects === 10) throw new Error(`GET ${url}: more than 10 redirects`);
      current = new URL(location, current).href;
      continue;
    }
    if (!res.ok) throw new Error(`GET ${current}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

for (const pkg of packageNames) {
  for (const version of packages[pkg].versions) {
    t.test(`merod install --url: the artifact of ${pkg}@${version} arrives with the published SHA-256`, async () => {
      const origin = new URL(registry).origin;
      const bytes = await nodeDownload(`${origin}/artifacts/${pkg}/${version}/${pkg}-${version}.mpk`);
      const { bundle } = await publishedVersion(registry, pkg, version);
      assert.equal(bytes.length, bundle.size, 'size differs from the published one');
      assert.equal(sha256Hex(bytes), bundle.sha256, 'SHA-256 differs from the published one');
    });
  }
}

// ---------- Author filter ----------
//
// `?author=A` is read as a form: `%XX` decoded and `+` a space; the author of com.example.notes
// has a space and non-ASCII letters, so both spellings must find it.

const authorPackage = packageNames.find((pkg) => packages[pkg].author);
const author = packages[authorPackage].author;
for (const [label, query] of [
  ['%20 for the space', encodeURIComponent(author)],
  ['+ for the space', encodeURIComponent(author).replace(/%20/g, '+')],
]) {
  t.test(`?author=A (${label}): ${JSON.stringify(author)} lists ${authorPackage} only`, async () => {
    const url = `${registry}/api/v2/bundles?author=${query}`;
    const res = await fetch(url);
    const text = await res.text();
    assert.equal(res.status, 200, `GET ${url}: HTTP ${res.status}`);
    const list = JSON.parse(text);
    assert.ok(Array.isArray(list), `not an array: ${text.slice(0, 120)}`);
    assert.deepEqual(list.map((item) => item.package), [authorPackage]);
  });
}

// ---------- Status and parameter errors ----------

t.test('GET /api/healthz answers 200 JSON', async () => {
  const res = await fetch(`${registry}/api/healthz`);
  assert.equal(res.status, 200);
  const text = await res.text();
  let body;
  assert.doesNotThrow(() => { body = JSON.parse(text); }, `not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  assert.ok(body !== null && typeof body === 'object' && !Array.isArray(body), `not a JSON object: ${text.slice(0, 120)}`);
});

t.test('GET /api/v2/bundles?all_versions=true without a package answers 400 invalid_params', async () => {
  const res = await fetch(`${registry}/api/v2/bundles?all_versions=true`);
  const text = await res.text();
  assert.equal(res.status, 400, `HTTP ${res.status}: ${text.slice(0, 120)}`);
  assert.deepEqual(JSON.parse(text), { error: 'invalid_params' });
});

process.exit((await t.run()) ? 1 : 0);
