#!/usr/bin/env bash
# Serves a built site with nginx, configured by `mpk-registry host-config nginx` (the
# configuration a registry would use on its own server), on a free port of 127.0.0.1.
#
# Usage: tests/hosts/nginx.sh SITE_DIR
#
# Prints `URL PID` (the interface of every script here: README.md). Installs nginx-light with
# apt-get when there is no nginx (CI runs as root). nginx runs in the foreground of PID's
# subshell with its configuration, pid file, logs and temporary files in a private folder;
# as root, its workers stay root, so that they read the site wherever the caller can.
set -euo pipefail

# shellcheck source=tests/hosts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
site="$(site_dir "$0" "$@")" || exit 2

nginx="$(command -v nginx || echo /usr/sbin/nginx)"
if [ ! -x "$nginx" ]; then
  install_nginx() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >&2; }
  install_nginx || { apt-get update -q >&2 && install_nginx; }
  nginx="$(command -v nginx || echo /usr/sbin/nginx)"
fi

bin="$(mpk_registry)"
port="$(free_port)"
config="$("$bin" host-config nginx --root "$site" --listen "127.0.0.1:$port")"
state="$(mktemp -d "${TMPDIR:-/tmp}/nginx.XXXXXX")"
log="$state.log"
printf '%s\n' "$config" >"$state/site.conf"
{
  if [ "$(id -u)" -eq 0 ]; then
    echo "user root;"
  fi
  cat <<CONF
daemon off;
worker_processes 1;
pid "$state/nginx.pid";
error_log stderr;
events {
    worker_connections 256;
}
http {
    access_log "$state/access.log";
    client_body_temp_path "$state/client_body";
    proxy_temp_path "$state/proxy";
    fastcgi_temp_path "$state/fastcgi";
    uwsgi_temp_path "$state/uwsgi";
    scgi_temp_path "$state/scgi";
    include "$state/site.conf";
}
CONF
} >"$state/nginx.conf"

host_start "$state" "$log" "$nginx" -p "$state" -c "$state/nginx.conf" -e stderr
host_wait "nginx for $site" "$log" listening "$port"
echo "http://127.0.0.1:$port/ $host_pid"
