#!/usr/bin/env bash
# Runs the headless-browser checks against a generated registry site.
#
# Usage:
#   SITE_URL=http://127.0.0.1:8799/ tests/browser/run.sh   # a site that is already served
#   SITE_DIR=path/to/output         tests/browser/run.sh   # serve this folder on 127.0.0.1 for the run
#
# Optional: SCREENSHOT_DIR (default tests/browser/screenshots), SEARCH_QUERY,
# SEARCH_EXPECT, SITE_PORT (with SITE_DIR; default 8799). See site.test.mjs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Resolve caller-relative paths before changing directory.
if [ -z "${SITE_URL:-}" ] && [ -n "${SITE_DIR:-}" ]; then
  SITE_DIR="$(cd "$SITE_DIR" && pwd)"
fi
if [ -n "${SCREENSHOT_DIR:-}" ]; then
  mkdir -p "$SCREENSHOT_DIR"
  SCREENSHOT_DIR="$(cd "$SCREENSHOT_DIR" && pwd)"
fi

if [ -z "${SITE_URL:-}" ] && [ -z "${SITE_DIR:-}" ]; then
  echo "Set SITE_URL (a served site) or SITE_DIR (a folder to serve)." >&2
  exit 2
fi

# shellcheck source=tests/browser/tools.sh
source "$here/tools.sh"
browser_tools

cd "$here"

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

if [ -z "${SITE_URL:-}" ]; then
  site_dir="$SITE_DIR"
  port="${SITE_PORT:-8799}"
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site_dir" >/dev/null 2>&1 &
  server_pid=$!
  export SITE_URL="http://127.0.0.1:${port}/"
  for _ in $(seq 1 50); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$SITE_URL" 2>/dev/null; then
      break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "The static file server for $site_dir did not start (is port $port free?)." >&2
      exit 1
    fi
    sleep 0.1
  done
fi

export SCREENSHOT_DIR="${SCREENSHOT_DIR:-$here/screenshots}"
node "$here/site.test.mjs"
