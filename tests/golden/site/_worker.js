// Cloudflare Pages worker ("advanced mode"), written by `mpk-registry build` into the site root.
//
// Pages serves only GET and HEAD, and its `_redirects` can neither match a query string nor answer
// 404, so the parts of the read API that need them are answered here, from the site's own files,
// as docs/read-api.md says. Every other request goes to the static assets as it is (`_headers`,
// `/x` -> `x.html`, redirects and the 404 page are theirs); only their 404 is mended. Cloudflare
// never serves this file itself.

const PREFLIGHT = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
  "Access-Control-Allow-Headers": "Content-Type, Authorization",
  "Access-Control-Max-Age": "86400",
};

const LIST = "/api/v2/bundles";
const EMPTY = { file: "/api/v2/empty.json", status: 200 };
const NOT_FOUND = { file: "/api/v2/not-found.json", status: 404 };
const INVALID_PARAMS = { file: "/api/v2/invalid-params.json", status: 400 };

export default {
  async fetch(request, env) {
    if (request.method === "OPTIONS") {
      return new Response(null, { status: 204, headers: PREFLIGHT });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response(null, {
        status: 405,
        headers: { Allow: "GET, HEAD, OPTIONS", "Access-Control-Allow-Origin": "*" },
      });
    }
    const url = new URL(request.url);
    if (url.pathname === LIST && url.search !== "") {
      return answer(request, env, await bundlesQuery(url.searchParams));
    }
    const asset = await env.ASSETS.fetch(request);
    if (asset.status !== 404) {
      return asset;
    }
    if (url.pathname.startsWith(`${LIST}/`)) {
      // An unknown `/api/v2/bundles/P/V` is the API's 404, not the site's page.
      return answer(request, env, NOT_FOUND);
    }
    // The site's 404 page, whatever type and disposition `_headers` gives the files of the
    // path asked for: a page to show, not a bundle to save.
    const headers = new Headers(asset.headers);
    headers.set("Content-Type", "text/html; charset=utf-8");
    headers.delete("Content-Disposition");
    return new Response(asset.body, { status: 404, headers });
  },
};

// The file answering `GET /api/v2/bundles?…`: `{ file, status, missing }`, where `missing`
// answers instead when the file does not exist, and no status means the file's own. The first
// row that matches wins.
async function bundlesQuery(params) {
  // The first occurrence of a key counts; an empty value is as good as none.
  const get = (key) => params.get(key) || null;
  const [pkg, version, developer, author] = ["package", "version", "developer", "author"].map(get);
  const allVersions = get("all_versions") === "true";
  if (pkg !== null && version !== null) {
    return packageFile([pkg, version], `${pkg}/versions/${version}.json`, NOT_FOUND);
  }
  if (pkg !== null && allVersions) {
    return packageFile([pkg], `${pkg}/all.json`, EMPTY);
  }
  if (pkg !== null) {
    return packageFile([pkg], `${pkg}/latest.json`, EMPTY);
  }
  if (allVersions) {
    return INVALID_PARAMS;
  }
  if (developer !== null) {
    return { file: `/api/v2/developers/${await encodedName(developer)}.json`, missing: EMPTY };
  }
  if (author !== null) {
    return { file: `/api/v2/authors/${await encodedName(author)}.json`, missing: EMPTY };
  }
  return { file: LIST };
}

// `/api/v2/packages/<path>`, built from a package and version (`values`). When one of them
// cannot name a file, it is unknown, never a path: `missing` answers.
function packageFile(values, path, missing) {
  return values.every(isName) ? { file: `/api/v2/packages/${path}`, missing } : missing;
}

function isName(value) {
  return value !== "." && value !== ".." && /^[A-Za-z0-9._-]+$/.test(value);
}

// The name of a developer's or author's file in a URL: every UTF-8 byte outside `a-z 0-9 - _ ~`
// as `%XX` in upper-case hex, as the build names it, or `sha256.` and the value's SHA-256 in hex
// when that is over 250 bytes; then its `%`s encoded once more, since the asset server decodes a
// path before looking it up.
async function encodedName(value) {
  const bytes = new TextEncoder().encode(value);
  let name = "";
  for (const byte of bytes) {
    const c = String.fromCharCode(byte);
    name += /[a-z0-9_~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (name.length > 250) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return `sha256.${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }
  return name.replaceAll("%", "%25");
}

// Answers `route` from the assets (see `bundlesQuery`) as an API answer: JSON, open to every
// origin, whatever `_headers` says. Only the method is passed on, so the asset's answer is always
// whole and its status is the one to replace.
async function answer(request, env, route) {
  const fetchFile = (file) =>
    env.ASSETS.fetch(new Request(new URL(file, request.url), { method: request.method }));
  let { status } = route;
  let asset = await fetchFile(route.file);
  if (asset.status === 404 && route.missing) {
    asset = await fetchFile(route.missing.file);
    status = route.missing.status;
  }
  const headers = new Headers(asset.headers);
  headers.set("Content-Type", "application/json; charset=utf-8");
  headers.set("Access-Control-Allow-Origin", "*");
  return new Response(asset.body, { status: status ?? asset.status, headers });
}
