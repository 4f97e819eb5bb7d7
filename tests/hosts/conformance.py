#!/usr/bin/env python3
"""Sends every request form of the read API's contract (docs/read-api.md) to two servers of the
same site, the reference (`mpk-registry serve`) and a host under test, and requires the same
answer from both: the same status, Content-Type, CORS headers and body (JSON compared as JSON).
A redirect is compared by its Location instead of its body, a 405 by its Allow header (the
contract fixes neither body).

Usage: tests/hosts/conformance.py [--api-only] REFERENCE_URL HOST_URL

--api-only compares only what the site's shims answer: the read API (`/api/...`), the artifacts,
the CORS preflight and other methods on any path. The rest — pages, folders, hidden and rule
files — is the host's own static serving (Cloudflare Pages redirects `x.html` to `x` with a 308,
omits `charset`, normalizes `..` before anything sees it), which no shim changes.

The package, version, developer and author names come from the reference's own read API. Exits
0 when every answer agrees, 1 listing each one that does not, 2 when the reference cannot be
read. Standard library only.
"""

import http.client
import json
import sys
import urllib.parse

CORS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
)
# What Calimero Desktop's webview sends: a cross-origin request with a JSON Content-Type, so
# every one is preceded by a preflight.
ORIGIN = {"Origin": "http://tauri.localhost"}
PREFLIGHT = {
    **ORIGIN,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "content-type",
}
DESKTOP = {**ORIGIN, "Content-Type": "application/json"}


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())


def fetch(base, method, target, headers):
    """`method target` sent as it is (no normalization of the path, no redirect followed)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request(method, target, headers=headers)
        response = conn.getresponse()
        body = response.read()
        headers = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), value)
        return Answer(response.status, headers, body)
    finally:
        conn.close()


def body_view(answer):
    """The body as compared: parsed JSON for a JSON answer, else the bytes."""
    content_type = answer.header("Content-Type") or ""
    if content_type.startswith("application/json") and answer.body:
        try:
            return json.loads(answer.body)
        except ValueError:
            pass
    return answer.body


def short(value):
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else json.dumps(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 160 else text[:160] + f"… ({len(text)} characters)"


def differences(reference, host):
    """What a host's answer does differently from the reference's."""
    found = []

    def compare(what, ours, theirs, show=repr):
        if ours != theirs:
            found.append(f"{what}: reference {show(ours)}, host {show(theirs)}")

    compare("status", reference.status, host.status)
    for name in CORS:
        compare(name, reference.header(name), host.header(name))
    if reference.status in (301, 302, 307, 308):
        compare("Location", reference.header("Location"), host.header("Location"))
    elif reference.status == 405:
        compare("Allow", reference.header("Allow"), host.header("Allow"))
    else:
        compare("Content-Type", reference.header("Content-Type"), host.header("Content-Type"))
        compare("body", body_view(reference), body_view(host), short)
    return found


def encode(value, safe="", plus=False, lower=False):
    """`value` percent-encoded as one client or another writes it."""
    quote = urllib.parse.quote_plus if plus else urllib.parse.quote
    encoded = quote(value, safe=safe)
    if lower:
        encoded = "%".join(
            part[:2].lower() + part[2:] if i else part
            for i, part in enumerate(encoded.split("%"))
        )
    return encoded


def spellings(value):
    """The ways clients write `value` in a query: as URLSearchParams, encodeURIComponent,
    lower-case hex, and unencoded where a query may hold the characters."""
    forms = [
        encode(value, plus=True),
        encode(value, safe="~"),
        encode(value, plus=True, lower=True),
        encode(value, safe=":@!$'()*,;/?~"),
        "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"%{b:02X}" for b in value.encode()),
    ]
    return list(dict.fromkeys(forms))


def requests_for(names):
    """Every request form of the contract, for a site holding `names`: (method, target,
    headers, whether the answer must be a non-empty JSON list or object)."""
    package, version, developer, author = (
        names["package"],
        names["version"],
        names["developer"],
        names["author"],
    )
    get = []

    def q(query):
        return f"/api/v2/bundles?{query}"

    # Pages, files, folders and the 404 page.
    get += [
        "/",
        "/index.html",
        "/index",
        "/index.json",
        "/keys.json",
        "/feed.xml",
        "/404.html",
        "/assets/style.css",
        "/assets/search.js",
        f"/apps/{package}",
        f"/apps/{package}?q=x",
        f"/apps/{package}/",
        f"/apps/{package}/index.html",
        f"/apps/{package}/index.json",
        f"/apps/{package}/{version}/manifest.json",
        f"/apps/{package}/{version}",
        f"/apps/{package}/{version}/",
        f"/apps/{encode(package)}/",
        "/nope",
        "/apps/nope/",
        "/index.json/",
    ]
    # Artifacts: the bytes, gzip, cached for ever; a missing one is the 404 page.
    artifact = f"/artifacts/{package}/{version}/{package}-{version}.mpk"
    get += [
        artifact,
        f"/artifacts/{package}/{version}/{package}-9.9.9.mpk",
        f"/artifacts/{package}/{version}",
        f"/artifacts/{package}/{version}/",
    ]
    # The read API's paths.
    get += [
        "/api/healthz",
        "/api/v2/bundles",
        "/api/v2/bundles/",
        f"/api/v2/bundles/{package}/9.9.9",
        f"/api/v2/bundles/{package}",
        f"/api/v2/bundles/{package}/",
        "/api/v2/bundles/nope/1.0.0",
        f"/api/v2/bundles/{package}/{version}?package=nope",
        "/api/nope",
        "/api/v2/",
    ]
    # What the site holds: one version by its path, and every row of the query table with
    # every spelling of each value.
    held = [
        f"/api/v2/bundles/{package}/{version}",
        f"/api/v2/bundles/{encode(package)}/{encode(version, safe='')}",
    ]
    for p in spellings(package):
        for v in spellings(version):
            held.append(q(f"package={p}&version={v}"))
        held += [q(f"package={p}&all_versions=true"), q(f"package={p}")]
    for d in spellings(developer):
        held.append(q(f"developer={d}"))
    for a in spellings(author):
        held.append(q(f"author={a}"))
    get += [
        q(f"version={version}&package={package}"),
        q(f"package={package}&all_versions=false"),
        q(f"all_versions=true&package={package}"),
        q("all_versions=true"),
        q(f"all_versions=true&developer={encode(developer)}"),
        q(f"all_versions=true&version={version}"),
        # Unknown values.
        q("package=com.example.nope"),
        q("package=com.example.nope&all_versions=true"),
        q(f"package=com.example.nope&version={version}"),
        q(f"package={package}&version=9.9.9"),
        q(f"developer={encode(developer.swapcase())}"),
        q("developer=did%3Akey%3Az6MkNobody"),
        q(f"author={encode(author.swapcase(), plus=True)}"),
        q("author=Nobody"),
        q(f"author={encode('Zoë Müller & Co+', plus=True)}"),
        q(f"author={encode('Zoë Müller & Co+')}"),
        q(f"author={encode('Zoë Müller & Co+', plus=True, lower=True)}"),
        q(f"author={encode('名前')}"),
        # The first matching row wins; the first occurrence of a key counts; an empty value
        # is no value; names are matched as they are.
        q(f"developer={encode(developer)}&package={package}"),
        q(f"author=Nobody&developer={encode(developer)}"),
        q(f"author={encode(author)}&developer=nobody"),
        q(f"package={package}&package=com.example.nope"),
        q(f"package=&package={package}"),
        q(f"package&package={package}"),
        q(f"package=&developer={encode(developer)}"),
        q(f"package={package}&version="),
        q(f"Package={package}"),
        q(f"xpackage={package}"),
        q("other=1"),
        q(""),
        q("%zz=1&x"),
        q("all_versions=yes"),
    ]
    # Values that cannot name a file are unknown, never a path.
    for hostile in [
        "..",
        ".",
        "%2e%2e",
        "%2E",
        "../index.json",
        "..%2Findex.json",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        f"{package}%2F..",
        f"{package}%00",
        "a%2Fb",
        "a/b",
        "%5C..%5Cx",
        "index.json",
        "(unknown)",
        "%28unknown%29",
        "$uri",
        "%24mpk_arg_package",
        "latest.json",
    ]:
        get += [
            q(f"package={hostile}"),
            q(f"package={hostile}&all_versions=true"),
            q(f"package={hostile}&version={version}"),
            q(f"package={package}&version={hostile}"),
            q(f"developer={hostile}"),
            q(f"author={hostile}"),
        ]
    # Paths that climb out of the site, hide or cannot be decoded: the 404 page.
    get += [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        f"/apps/..%2f..%2f{package}",
        "/apps/../index.json",
        "/./index.json",
        f"/apps/%2e/{package}/",
        "/a%00b",
        "/..%5cCargo.toml",
        "/%zz",
        "/.nojekyll",
        "/.mpk-registry",
        "/%2enojekyll",
        "/_headers",
        "/_redirects",
        "/_worker.js",
    ]

    requests = [("GET", target, {}, False) for target in get]
    requests += [("GET", target, {}, True) for target in held]
    desktop = ["/api/v2/bundles", q(f"package={package}"), f"/api/v2/bundles/{package}/{version}"]
    requests += [("GET", target, DESKTOP, True) for target in desktop]
    for target in desktop + ["/", "/nope", artifact, "/../x", "/%zz"]:
        requests.append(("OPTIONS", target, PREFLIGHT, False))
    for target in desktop + [q("package=com.example.nope"), "/nope", artifact, f"/apps/{package}"]:
        requests.append(("HEAD", target, ORIGIN, False))
    for method in ["POST", "PUT", "DELETE", "PATCH"]:
        for target in ["/api/v2/bundles", "/", artifact, "/../x"]:
            requests.append((method, target, ORIGIN, False))
    return requests


def site_names(base):
    """One package with its newest version, a developer and an author, from the list."""
    latest = json.loads(fetch(base, "GET", "/api/v2/bundles", {}).body)
    with_author = [item for item in latest if (item.get("metadata") or {}).get("author")]
    if not with_author:
        raise ValueError("the reference lists no package with an author")
    item = with_author[0]
    return {
        "package": item["package"],
        "version": item["appVersion"],
        "developer": item["signerId"],
        "author": item["metadata"]["author"],
    }


def shimmed(method, target):
    """Whether the host's shim, not its static serving, answers this request."""
    path = target.split("?", 1)[0]
    return method not in ("GET", "HEAD") or path.startswith(("/api/", "/artifacts/"))


def main(argv):
    api_only = "--api-only" in argv[1:]
    argv = [a for a in argv if a != "--api-only"]
    if len(argv) != 3:
        print(f"usage: {argv[0]} [--api-only] REFERENCE_URL HOST_URL", file=sys.stderr)
        return 2
    reference, host = argv[1], argv[2]
    try:
        names = site_names(reference)
    except (OSError, ValueError, KeyError) as e:
        print(f"cannot read the site's names from {reference}: {e}", file=sys.stderr)
        return 2

    requests = requests_for(names)
    if api_only:
        requests = [r for r in requests if shimmed(r[0], r[1])]
    failed = 0
    for method, target, headers, known in requests:
        ours = fetch(reference, method, target, headers)
        theirs = fetch(host, method, target, headers)
        found = differences(ours, theirs)
        if known and not (ours.status == 200 and body_view(ours)):
            found.append(f"the reference answers {ours.status} {short(body_view(ours))}, not what the site holds")
        if found:
            failed += 1
            print(f"DIFFERS {method} {target}")
            for line in found:
                print(f"  {line}")
    print(f"{len(requests) - failed} of {len(requests)} requests answered alike by {host} and {reference}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
