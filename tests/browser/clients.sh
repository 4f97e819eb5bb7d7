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

# shellcheck source=tests/browser/tools.sh
source "$here/tools.sh"
browser_tools

cd "$here"

status=0
node clients.node.test.mjs || status=1
node clients.browser.test.mjs || status=1
exit "$status"
