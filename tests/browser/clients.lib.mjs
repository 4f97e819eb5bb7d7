// Shared by the client tests: the registry under test, what its site publishes, and a small
// runner that runs every test, names each result, and sets the exit code.

import { createHash } from 'node:crypto';
import process from 'node:process';

// The registry under test, without a trailing slash (clients append `/api/v2/...` to it).
export function registryUrl() {
  const raw = process.env.REGISTRY_URL;
  if (!raw) {
    console.error('REGISTRY_URL is not set (example: REGISTRY_URL=http://127.0.0.1:8000/)');
    process.exit(2);
  }
  return raw.replace(/\/+$/, '');
}

export function sha256Hex(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

// A GET whose answer must be 200 JSON; used to read what the site publishes, not as a client.
async function published(url) {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status}, expected 200`);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`GET ${url}: not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
}

// apps/<P>/index.json: every version of P the site publishes, with its bundle's SHA-256.
const appIndexes = new Map();
export function appIndex(registry, pkg) {
  if (!appIndexes.has(pkg)) appIndexes.set(pkg, published(`${registry}/apps/${pkg}/index.json`));
  return appIndexes.get(pkg);
}

export async function publishedVersion(registry, pkg, version) {
  const index = await appIndex(registry, pkg);
  const entry = index.versions.find((v) => v.version === version);
  if (!entry) throw new Error(`apps/${pkg}/index.json does not list ${version}`);
  return entry;
}

// apps/<P>/<V>/manifest.json: the signed manifest, as the bundle holds it.
export function manifest(registry, pkg, version) {
  return published(`${registry}/apps/${pkg}/${version}/manifest.json`);
}

export class Runner {
  constructor(title) {
    this.title = title;
    this.tests = [];
  }

  test(name, fn) {
    if (this.tests.some((t) => t.name === name)) throw new Error(`two tests named ${name}`);
    this.tests.push({ name, fn });
  }

  // Runs every test, even after a failure, and returns the number that failed.
  async run() {
    console.log(`# ${this.title}`);
    let failed = 0;
    for (const { name, fn } of this.tests) {
      try {
        await fn();
        console.log(`ok   - ${name}`);
      } catch (err) {
        failed += 1;
        // A message without the stack lines a browser adds to errors thrown in a page.
        const message = (err && err.message ? err.message : String(err))
          .split('\n').filter((line) => !/^\s+at /.test(line)).join('\n');
        console.log(`FAIL - ${name}\n       ${message.replace(/\n/g, '\n       ')}`);
      }
    }
    console.log(`${this.tests.length - failed} passed, ${failed} failed`);
    return failed;
  }
}
