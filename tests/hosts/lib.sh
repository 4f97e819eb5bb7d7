# shellcheck shell=bash
# Shared by the host-start scripts of this folder (their interface: README.md). Source it.

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The one argument every host script takes, a built site, as an absolute path; usage and exit 2
# otherwise. Call as: site="$(site_dir "$0" "$@")" || exit 2
site_dir() {
  local script=$1
  shift
  if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $script SITE_DIR" >&2
    return 2
  fi
  (cd "$1" && pwd)
}

# The mpk-registry binary: $MPK_REGISTRY, else this checkout's release build (built first).
mpk_registry() {
  if [ -n "${MPK_REGISTRY:-}" ]; then
    echo "$MPK_REGISTRY"
    return
  fi
  cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" >&2
  local target
  target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  echo "$target/release/mpk-registry"
}

# A TCP port of 127.0.0.1 that nothing listens on (free when asked; the server binds it next).
free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Runs "$@" in the background with its output in file $2, and sets host_pid to a subshell that
# owns it: TERM to host_pid stops the command and removes folder $1 and the log. When the
# command stops by itself, the log is kept, to say why.
host_start() {
  local state=$1 log=$2
  shift 2
  (
    trap 'kill "${child:-}" 2>/dev/null || true; wait "${child:-}" || true; rm -rf "$state"' EXIT
    trap 'rm -f "$log"; exit 0' TERM
    "$@" &
    child=$!
    wait "$child"
  ) </dev/null >"$log" 2>&1 &
  host_pid=$!
}

# Waits until "$@" succeeds. Fails, printing the log (file $2 of host_start) and naming $1,
# when the server stops first or has not succeeded within a minute.
host_wait() {
  local what=$1 log=$2
  shift 2
  local tries=600
  until "$@"; do
    tries=$((tries - 1))
    if [ "$tries" -eq 0 ] || ! kill -0 "$host_pid" 2>/dev/null; then
      echo "$what did not start:" >&2
      cat "$log" >&2
      kill "$host_pid" 2>/dev/null || true
      rm -f "$log"
      return 1
    fi
    sleep 0.1
  done
}

# Whether something accepts connections on port $1 of 127.0.0.1.
listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
