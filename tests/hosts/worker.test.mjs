// The Cloudflare Pages worker (templates/hosts/_worker.js) against a fake `env.ASSETS` that
// answers as Pages' asset server does: the path decoded, then `x`, `x.html`, `x/index.html`,
// else the site's 404 page. Every row of docs/read-api.md's query table, the preflight, 405,
// and values that must never become paths.
//
// Usage: node --test tests/hosts/worker.test.mjs   (no packages needed)

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import worker from "../../templates/hosts/_worker.js";

const ORIGIN = "https://registry.example.test";
const NOTES = "com.example.notes";
const ALICE = "did:key:z6MkAlice";
// Her file's name: every byte but `a-z 0-9 - _ ~` percent-encoded.
const ALICE_FILE = "api/v2/developers/did%3Akey%3Az6%4Dk%41lice.json";

// An author whose encoded name would be over 250 bytes: their file is named by the digest.
const LONG_AUTHOR = "Ä".repeat(50);
const LONG_AUTHOR_FILE = `api/v2/authors/sha256.${createHash("sha256").update(LONG_AUTHOR).digest("hex")}.json`;

// The site: path -> body. Bodies name their file, so an answer shows which file it came from.
const FILES = [
  "api/v2/bundles.html",
  "api/v2/bundles/index.html",
  `api/v2/bundles/${NOTES}/1.0.0.html`,
  `api/v2/packages/${NOTES}/latest.json`,
  `api/v2/packages/${NOTES}/all.json`,
  `api/v2/packages/${NOTES}/versions/1.0.0.json`,
  ALICE_FILE,
  "api/v2/authors/%4Aane%20%44oe.json",
  "api/v2/authors/%C3%89milie%2F%43o%2E.json",
  LONG_AUTHOR_FILE,
  "api/v2/empty.json",
  "api/v2/not-found.json",
  "api/v2/invalid-params.json",
  "api/healthz.html",
  // What a value taken for a path would reach.
  "keys.json",
  "index.html",
  "404.html",
];

// The Content-Type `_headers` gives the files under a path (the 404 page included), else the
// file's own, and the other headers it adds there.
const TYPES = [
  ["/api/", "application/json; charset=utf-8"],
  ["/artifacts/", "application/gzip", { "Content-Disposition": "attachment" }],
];

// Pages' asset server, reduced to what the worker relies on. `requests` records every path asked,
// `replies` every answer.
function fakeAssets() {
  const requests = [];
  const replies = [];
  const site = new Map(FILES.map((path) => [path, `<${path}>`]));
  const respond = (request, status, file) => {
    const type = TYPES.find(([prefix]) => new URL(request.url).pathname.startsWith(prefix));
    return new Response(request.method === "HEAD" ? null : site.get(file), {
      status,
      headers: {
        "Content-Type": type ? type[1] : file.endsWith(".json") ? "application/json" : "text/html",
        ...(type ? type[2] : {}),
      },
    });
  };
  return {
    requests,
    replies,
    async fetch(request) {
      const url = new URL(request.url);
      requests.push(url.pathname + url.search);
      const path = decodeURIComponent(url.pathname).slice(1);
      const found = [path, `${path}.html`, `${path}/index.html`].find((p) => site.has(p));
      const reply = found === undefined ? respond(request, 404, "404.html") : respond(request, 200, found);
      replies.push(reply);
      return reply;
    },
  };
}

async function call(target, method = "GET") {
  const env = { ASSETS: fakeAssets() };
  const response = await worker.fetch(new Request(new URL(target, ORIGIN), { method }), env);
  const { requests, replies } = env.ASSETS;
  return { response, body: await response.text(), requests, replies };
}

// Asserts that `target` is answered by `file` with `status`, as JSON.
async function answers(target, status, file) {
  const { response, body } = await call(target);
  assert.equal(body, `<${file}>`, target);
  assert.equal(response.status, status, target);
  assert.equal(response.headers.get("Content-Type"), "application/json; charset=utf-8", target);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*", target);
}

const versionFile = `api/v2/packages/${NOTES}/versions/1.0.0.json`;

test("package and version: that version", () =>
  answers(`/api/v2/bundles?package=${NOTES}&version=1.0.0`, 200, versionFile));

test("package and an unknown version: 404 not_found", () =>
  answers(`/api/v2/bundles?package=${NOTES}&version=9.9.9`, 404, "api/v2/not-found.json"));

test("an unknown package with a version: 404 not_found", () =>
  answers("/api/v2/bundles?package=com.example.none&version=1.0.0", 404, "api/v2/not-found.json"));

test("package and version win over all_versions", () =>
  answers(`/api/v2/bundles?all_versions=true&version=1.0.0&package=${NOTES}`, 200, versionFile));

test("package and all_versions=true: every version", () =>
  answers(`/api/v2/bundles?package=${NOTES}&all_versions=true`, 200, `api/v2/packages/${NOTES}/all.json`));

test("an unknown package with all_versions=true: []", () =>
  answers("/api/v2/bundles?package=com.example.none&all_versions=true", 200, "api/v2/empty.json"));

test("package: its highest version", () =>
  answers(`/api/v2/bundles?package=${NOTES}`, 200, `api/v2/packages/${NOTES}/latest.json`));

test("package with all_versions other than true: its highest version", () =>
  answers(`/api/v2/bundles?package=${NOTES}&all_versions=1`, 200, `api/v2/packages/${NOTES}/latest.json`));

test("an unknown package: []", () =>
  answers("/api/v2/bundles?package=com.example.none", 200, "api/v2/empty.json"));

test("all_versions=true without a package: 400 invalid_params", () =>
  answers("/api/v2/bundles?all_versions=true", 400, "api/v2/invalid-params.json"));

test("all_versions=true with an empty package: 400 invalid_params", () =>
  answers("/api/v2/bundles?package=&all_versions=true", 400, "api/v2/invalid-params.json"));

test("developer: their packages", () =>
  answers(`/api/v2/bundles?developer=${ALICE}`, 200, ALICE_FILE));

test("a percent-encoded developer is decoded", () =>
  answers("/api/v2/bundles?developer=did%3Akey%3Az6MkAlice", 200, ALICE_FILE));

test("developers differing only in letter case are two developers", () =>
  answers("/api/v2/bundles?developer=did:key:z6mkalice", 200, "api/v2/empty.json"));

test("an unknown developer: []", () =>
  answers("/api/v2/bundles?developer=did:key:z6MkNobody", 200, "api/v2/empty.json"));

test("developer comes before author", () =>
  answers(`/api/v2/bundles?author=Jane+Doe&developer=${ALICE}`, 200, ALICE_FILE));

test("author: their packages, + read as a space", () =>
  answers("/api/v2/bundles?author=Jane+Doe", 200, "api/v2/authors/%4Aane%20%44oe.json"));

test("author: UTF-8 bytes, / and . percent-encoded in upper-case hex", () =>
  answers("/api/v2/bundles?author=%C3%89milie%2fCo.", 200, "api/v2/authors/%C3%89milie%2F%43o%2E.json"));

test("author: a name over 250 bytes is the value's SHA-256", () =>
  answers(`/api/v2/bundles?author=${encodeURIComponent(LONG_AUTHOR)}`, 200, LONG_AUTHOR_FILE));

test("an unknown author: []", () =>
  answers("/api/v2/bundles?author=Nobody", 200, "api/v2/empty.json"));

test("no known key: the list", () =>
  answers("/api/v2/bundles?utm_source=x&version=1.0.0", 200, "api/v2/bundles.html"));

test("only empty values: the list", () =>
  answers("/api/v2/bundles?package=&developer=&author=", 200, "api/v2/bundles.html"));

test("the first occurrence of a key counts", () =>
  answers(`/api/v2/bundles?package=${NOTES}&package=com.example.none`, 200, `api/v2/packages/${NOTES}/latest.json`));

// A package that cannot name a file is unknown, whatever file it would reach as a path.
for (const value of [
  "..",
  ".",
  "../../../keys",
  "%2E%2E%2F%2E%2E%2F%2E%2E%2Fkeys",
  "a\\..\\..\\..\\keys",
  `${NOTES}%00`,
  `${NOTES}?all_versions=true`,
  `${NOTES}%23x`,
  "%zz",
  "did:key:z6MkAlice",
]) {
  test(`hostile package=${value} is unknown`, async () => {
    await answers(`/api/v2/bundles?package=${value}`, 200, "api/v2/empty.json");
    const { requests } = await call(`/api/v2/bundles?package=${value}`);
    assert.deepEqual(requests, ["/api/v2/empty.json"]);
  });
}

// A developer or author is encoded whole: one file name in its folder, hidden by no leading dot.
for (const [key, value, name] of [
  ["developer", "..", "%252E%252E"],
  ["developer", "../../keys", "%252E%252E%252F%252E%252E%252Fkeys"],
  ["author", "%2e%2e%2f%2e%2e%2fkeys", "%252E%252E%252F%252E%252E%252Fkeys"],
  ["author", "..\\index", "%252E%252E%255Cindex"],
  ["author", "a%00b", "a%2500b"],
]) {
  test(`hostile ${key}=${value} is one unknown name`, async () => {
    await answers(`/api/v2/bundles?${key}=${value}`, 200, "api/v2/empty.json");
    const { requests } = await call(`/api/v2/bundles?${key}=${value}`);
    assert.deepEqual(requests, [`/api/v2/${key}s/${name}.json`, "/api/v2/empty.json"]);
  });
}

test("a hostile version is unknown: 404 not_found", async () => {
  const target = `/api/v2/bundles?package=${NOTES}&version=..%2F..%2F..%2F..%2Fkeys`;
  await answers(target, 404, "api/v2/not-found.json");
  assert.deepEqual((await call(target)).requests, ["/api/v2/not-found.json"]);
});

test("a query is answered as JSON open to every origin, whatever type the assets give", async () => {
  const env = { ASSETS: { fetch: async () => new Response("[]", { headers: { "Content-Type": "text/plain" } }) } };
  const response = await worker.fetch(new Request(`${ORIGIN}/api/v2/bundles?package=${NOTES}`), env);
  assert.equal(response.headers.get("Content-Type"), "application/json; charset=utf-8");
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
});

test("HEAD of a query: the status and headers, no body", async () => {
  const { response, body } = await call("/api/v2/bundles?package=com.example.none&version=1", "HEAD");
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("Content-Type"), "application/json; charset=utf-8");
  assert.equal(body, "");
});

for (const [target, file] of [
  ["/api/v2/bundles", "api/v2/bundles.html"],
  [`/api/v2/bundles/${NOTES}/1.0.0`, `api/v2/bundles/${NOTES}/1.0.0.html`],
  ["/api/healthz", "api/healthz.html"],
]) {
  test(`${target} comes from the assets as it is`, async () => {
    const { response, body, requests, replies } = await call(target);
    assert.equal(body, `<${file}>`);
    assert.deepEqual(requests, [target]);
    assert.equal(response, replies[0]);
  });
}

test("an unknown /api/v2/bundles/P/V: 404 not_found", () =>
  answers(`/api/v2/bundles/${NOTES}/9.9.9`, 404, "api/v2/not-found.json"));

test("any other path goes to the assets unchanged", async () => {
  const request = new Request(`${ORIGIN}/apps/x?q=1`, { headers: { "If-None-Match": '"e"' } });
  const reply = new Response(null, { status: 304 });
  const seen = [];
  const env = { ASSETS: { fetch: async (r) => (seen.push(r), reply) } };
  assert.equal(await worker.fetch(request, env), reply);
  assert.deepEqual(seen, [request]);
});

// `_headers` types every answer under /api/ and /artifacts/ by the files there, the 404 page too,
// and marks artifacts as downloads.
for (const target of ["/no/such/page", "/api/nope", "/artifacts/a/1.0.0/a-1.0.0.mpk"]) {
  test(`an unknown ${target}: the site's 404 page, as HTML, to show`, async () => {
    const { response, body } = await call(target);
    assert.equal(response.status, 404);
    assert.equal(response.headers.get("Content-Type"), "text/html; charset=utf-8");
    assert.equal(response.headers.get("Content-Disposition"), null);
    assert.equal(body, "<404.html>");
  });
}

for (const target of ["/api/v2/bundles", "/api/v2/bundles?package=x", "/", "/artifacts/a/b/c.mpk"]) {
  test(`OPTIONS ${target}: 204 with the preflight headers`, async () => {
    const { response, body, requests } = await call(target, "OPTIONS");
    assert.equal(response.status, 204);
    assert.equal(body, "");
    assert.deepEqual(Object.fromEntries(response.headers), {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, HEAD, OPTIONS",
      "access-control-allow-headers": "Content-Type, Authorization",
      "access-control-max-age": "86400",
    });
    assert.deepEqual(requests, []);
  });
}

for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
  test(`${method}: 405`, async () => {
    const { response, requests } = await call("/api/v2/bundles?package=x", method);
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("Allow"), "GET, HEAD, OPTIONS");
    assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
    assert.deepEqual(requests, []);
  });
}
