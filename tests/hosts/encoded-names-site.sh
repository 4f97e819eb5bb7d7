#!/usr/bin/env bash
# Builds a site whose names a client must encode in a query: a package with `_` and `-`, a
# prerelease, and an author with spaces, non-ASCII letters and most of the punctuation a query
# holds only encoded or may hold as it is. The sample registry has plain names only.
#
# Usage: tests/hosts/encoded-names-site.sh OUT_DIR    (replaced whole)
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
# shellcheck source=tests/hosts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin="$(mpk_registry)"
work="$(mktemp -d "${TMPDIR:-/tmp}/encoded-names.XXXXXX")"
trap 'rm -rf "$work"' EXIT

package=org.encoded_names-test
# A literal `$HOME`: a `$` that nginx must not take for a variable.
# shellcheck disable=SC2016
author='Zoë Müller & Co+ $HOME '"'q'"' (x)/y?z=1;"w" 名前'
"$bin" keygen -o "$work/key.json" >/dev/null
printf '\0asm\1\0\0\0' >"$work/app.wasm"
mkdir -p "$work/src/$package"
for version in 1.0.0 2.0.0-rc.1; do
  python3 -c 'import json, sys
package, version, author = sys.argv[1:]
print(json.dumps({
    "version": "1.0", "package": package, "appVersion": version, "minRuntimeVersion": "0.1.0",
    "metadata": {"name": "Encoded names", "description": "Names a client must encode.",
                 "author": author, "license": "MIT"},
    "wasm": {"path": "app.wasm"}}))' "$package" "$version" "$author" >"$work/manifest.json"
  "$bin" pack "$work/manifest.json" --key "$work/key.json" \
    -o "$work/src/$package/$package-$version.mpk" >/dev/null
done
"$bin" build "$work/src" -o "$1" --no-cache >&2
