#!/usr/bin/env bash
# Serves a built site with `mpk-registry serve DIR -p 0`, the reference every host is compared
# with, on a free port of 127.0.0.1.
#
# Usage: tests/hosts/serve.sh SITE_DIR
#
# Prints `URL PID` (the interface of every script here: README.md). Its log lists the requests
# answered.
set -euo pipefail

# shellcheck source=tests/hosts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
site="$(site_dir "$0" "$@")" || exit 2

bin="$(mpk_registry)"
state="$(mktemp -d "${TMPDIR:-/tmp}/serve.XXXXXX")"
log="$state.log"
host_start "$state" "$log" "$bin" serve "$site" -p 0
# serve prints `serving DIR on URL` once it listens.
host_wait "mpk-registry serve $site" "$log" grep -q '^serving .* on http://' "$log"
url="$(sed -n 's|^serving .* on \(http://127\.0\.0\.1:[0-9]*/\)$|\1|p' "$log")"
echo "$url $host_pid"
