#!/usr/bin/env bash
# Serves a built site with Cloudflare's own local Pages runtime, `wrangler pages dev`: its asset
# server and workerd, running the site's _worker.js, as pinned by package-lock.json.
#
# Usage: tests/hosts/wrangler.sh SITE_DIR
#
# Prints `URL PID` (the interface of every script here: README.md). Installs the pinned
# packages first. wrangler runs offline, with its state, logs and caches in a private folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/hosts/lib.sh
source "$here/lib.sh"
site="$(site_dir "$0" "$@")" || exit 2

# The newest date the pinned workerd supports (wrangler refuses to start with a later one).
compatibility_date=2026-05-03

# `npm ci` empties node_modules first, under any wrangler already running from it: it runs
# only when node_modules does not hold this lock's install yet.
installed="$here/node_modules/.installed-package-lock.json"
if ! cmp -s "$here/package-lock.json" "$installed"; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
  cp "$here/package-lock.json" "$installed"
fi

port="$(free_port)"
url="http://127.0.0.1:$port/"
state="$(mktemp -d "${TMPDIR:-/tmp}/wrangler.XXXXXX")"
log="$state.log"
mkdir "$state/tmp"
# wrangler writes `.wrangler/` into its working folder, logs into its config folder and its
# update check's cache into TMPDIR. No network: no telemetry or error reports, no `Request.cf`
# download, and the update check (the banner's is hidden; an error still makes one) is pointed
# at a closed local port.
host_start "$state" "$log" env -C "$state" \
  CLOUDFLARE_CF_FETCH_ENABLED=false \
  WRANGLER_SEND_METRICS=false \
  WRANGLER_SEND_ERROR_REPORTS=false \
  WRANGLER_HIDE_BANNER=true \
  npm_registry=http://127.0.0.1:9/ \
  XDG_CONFIG_HOME="$state/config" \
  TMPDIR="$state/tmp" \
  "$here/node_modules/.bin/wrangler" pages dev "$site" \
  --ip 127.0.0.1 --port "$port" --compatibility-date "$compatibility_date" \
  --persist-to "$state/persist" --show-interactive-dev-session=false

answers() {
  node -e 'fetch(process.argv[1]).then(() => process.exit(0), () => process.exit(1))' "$url"
}
host_wait "wrangler pages dev $site" "$log" answers
echo "$url $host_pid"
