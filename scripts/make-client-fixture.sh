#!/usr/bin/env bash
# Regenerates tests/fixtures/clients/registry-src/, the registry the client tests
# (tests/browser/clients.*) run against: the shapes of version history that Calimero Desktop,
# cargo-mero, mero-js and merod each read differently.
#
#   com.example.notes           alice  0.9.0, 1.0.0     metadata.author "Zoë Martín" (a space and a
#                                                        non-ASCII letter), links
#   com.example.yanked-top      alice  1.0.0, 1.0.1     1.0.1 yanked: the newest version is yanked
#   com.example.prerelease-top  alice  1.0.0, 2.0.0-rc.1  the newest version is a prerelease
#   com.example.numeric         bob    1.2.0, 1.10.0    numeric order differs from string order
#
# Two signers, so `?developer=` has something to tell apart. The keys are made in a temporary
# folder and thrown away: no private key is ever committed. The expectations the tests hold
# these packages to are in tests/browser/clients.fixture.mjs; change both together.
#
# After regenerating, commit the folder: `build` reads a registry inside git from git's index.
set -euo pipefail
cd "$(dirname "$0")/.."
# MPK_REGISTRY: an mpk-registry binary to use instead of building one.
bin=${MPK_REGISTRY:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/mpk-registry
fi
out=tests/fixtures/clients/registry-src
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# wasm FILE TEXT: the smallest valid wasm module holding TEXT in a custom section, so each
# version has its own bytes.
wasm() {
  python3 - "$1" "$2" <<'PY'
import sys
path, text = sys.argv[1], sys.argv[2].encode()
name = b"fixture"
def uleb(n):
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)
section = uleb(len(name)) + name + text
with open(path, "wb") as f:
    f.write(b"\0asm" + bytes([1, 0, 0, 0]) + b"\0" + uleb(len(section)) + section)
PY
}

# bundle SIGNER PACKAGE VERSION METADATA-JSON [EXTRA-JSON-MEMBERS]
bundle() {
  local signer=$1 package=$2 version=$3 metadata=$4 extra=${5:-}
  mkdir -p "$out/$package"
  wasm "$work/app.wasm" "$package $version"
  cat >"$work/manifest.json" <<JSON
{
  "version": "1.0",
  "package": "$package",
  "appVersion": "$version",
  "minRuntimeVersion": "0.1.0",
  "metadata": $metadata,
  ${extra:+$extra,}
  "wasm": { "path": "app.wasm" }
}
JSON
  "$bin" pack "$work/manifest.json" --key "$work/$signer.json" --root "$work" \
    -o "$out/$package/$package-$version.mpk" --force >/dev/null
}

rm -rf "$out"
mkdir -p "$out"
"$bin" keygen -o "$work/alice.json" >/dev/null
"$bin" keygen -o "$work/bob.json" >/dev/null

for v in 0.9.0 1.0.0; do
  bundle alice com.example.notes "$v" \
    '{"name": "Notes", "description": "Shared notes for a context.", "author": "Zoë Martín", "tags": ["notes"], "license": "MIT"}' \
    '"links": {"frontend": "https://notes.example.com", "github": "https://github.com/example/notes"}'
done

for v in 1.0.0 1.0.1; do
  bundle alice com.example.yanked-top "$v" \
    '{"name": "Yanked top", "description": "Its newest version is yanked.", "author": "Fixture Team", "tags": ["fixture"]}'
done
cat >"$out/com.example.yanked-top/package.toml" <<'TOML'
yanked = [{ version = "1.0.1", reason = "Withdrawn: the client tests need a yanked newest version." }]
TOML

for v in 1.0.0 2.0.0-rc.1; do
  bundle alice com.example.prerelease-top "$v" \
    '{"name": "Prerelease top", "description": "Its newest version is a prerelease.", "author": "Fixture Team", "tags": ["fixture"]}'
done

for v in 1.2.0 1.10.0; do
  bundle bob com.example.numeric "$v" \
    '{"name": "Numeric order", "description": "1.10.0 is newer than 1.2.0.", "author": "Other Signer", "tags": ["fixture"]}'
done

cat >"$out/registry.toml" <<'TOML'
# The registry the client tests run against (scripts/make-client-fixture.sh).
title = "Client scenarios"
TOML
echo "$out regenerated; commit it before building (build reads git's index)"
