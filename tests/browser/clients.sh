#!/usr/bin/env bash
# Runs the client tests against a served registry: Calimero Desktop's requests in headless
# Chromium from another origin (clients.browser.test.mjs), and the requests of cargo-mero,
# mero-js and merod (clients.node.test.mjs). The registry must serve the site built from
# tests/fixtures/clients/registry-src.
#
# Usage: REGISTRY_URL=http://127.0.0.1:8000/ tests/browser/clients.sh
#
# Runs both, and fails if either does.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -z "${REGISTRY_URL:-}" ]; then
  echo "Set REGISTRY_URL to the registry serving the client fixture's site." >&2
  exit 2
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium (needed at /usr/bin/chromium)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

status=0
node clients.node.test.mjs || status=1
node clients.browser.test.mjs || status=1
exit "$status"
