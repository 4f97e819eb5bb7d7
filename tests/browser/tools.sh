# shellcheck shell=bash
# Shared by run.sh and clients.sh: what the browser tests need on the machine. Source it.

# Debian's Chromium at /usr/bin/chromium (installed when missing; CI runs as root), and this
# folder's pinned npm packages (installed again only when package-lock.json changed).
browser_tools() {
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if [ ! -x /usr/bin/chromium ]; then
    echo "Installing Debian's chromium (needed at /usr/bin/chromium)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  local stamp="$here/node_modules/.installed-package-lock.json"
  if ! cmp -s "$here/package-lock.json" "$stamp"; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$here/package-lock.json" "$stamp"
  fi
}
