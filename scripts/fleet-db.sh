#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the fleet server (tests, benchmarks, a trial run).
#
#   scripts/fleet-db.sh start DIR   create (first time) and start a cluster in DIR on a free
#                                   loopback port; the last line printed is its database URL
#   scripts/fleet-db.sh stop DIR    stop it (DIR stays; `rm -rf DIR` removes it)
#   scripts/fleet-db.sh url DIR     print the URL of a running cluster again
#
# Listens on 127.0.0.1 only, password authentication (a random password kept in DIR, 0600).
# As root, initdb and the server run as an unprivileged user (FLEET_DB_USER, default nobody),
# so DIR must be reachable by that user (a directory under /tmp is). PostgreSQL's programs are
# taken from PATH, else the newest /usr/lib/postgresql/*/bin (Debian's `postgresql` package).
set -euo pipefail

say() { printf '[fleet-db] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop|url DIR"

bindir=""
for candidate in "$(dirname "$(readlink -f "$(command -v pg_ctl || echo /nonexistent/pg_ctl)")")" \
    $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/createdb" ]; then
    bindir="$candidate"; break
  fi
done
[ -n "$bindir" ] || die "PostgreSQL is not installed (no pg_ctl): apt-get install postgresql, or run scripts/setup.sh test"

run_as=()
owner="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
  owner="${FLEET_DB_USER:-nobody}"
  id "$owner" >/dev/null 2>&1 || die "user $owner does not exist (set FLEET_DB_USER to an unprivileged user)"
  if command -v runuser >/dev/null 2>&1; then
    run_as=(runuser -u "$owner" --)
  else
    run_as=(setpriv --reuid="$owner" --regid="$(id -g "$owner")" --clear-groups --)
  fi
fi
as_owner() { "${run_as[@]}" "$@"; }

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
data="$dir/data"
socket_dir="$dir/socket"

url() {
  local port password
  port="$(cat "$dir/port")"
  password="$(cat "$dir/password")"
  printf 'postgresql://fleet:%s@127.0.0.1:%s/fleet\n' "$password" "$port"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
  start)
    if [ ${#run_as[@]} -gt 0 ]; then
      chown "$owner" "$dir"
      as_owner test -w "$dir" || die "$dir is not reachable by user $owner (a parent directory is private): use a directory under /tmp"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      umask 077
      python3 -c 'import secrets; print(secrets.token_hex(16))' > "$dir/password"
      [ ${#run_as[@]} -gt 0 ] && chown "$owner" "$dir/password"
      mkdir -p "$socket_dir"
      [ ${#run_as[@]} -gt 0 ] && chown "$owner" "$socket_dir"
      say "initdb in $data (as $owner)"
      as_owner "$bindir/initdb" -D "$data" -U fleet --pwfile="$dir/password" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
      fresh=1
    else
      fresh=0
    fi
    if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      say "already running"
      url
      exit 0
    fi
    started=0
    previous=""  # a cluster started again keeps its port (and so its URL) when the port is still free
    if [ "$fresh" -eq 0 ] && [ -f "$dir/port" ]; then previous="$(cat "$dir/port")"; fi
    for attempt in 1 2 3 4 5; do
      if [ "$attempt" -eq 1 ] && [ -n "$previous" ]; then port="$previous"; else port="$(free_port)"; fi
      echo "$port" > "$dir/port"
      if as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
          -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$socket_dir -c max_connections=200" \
          start >/dev/null 2>&1; then
        started=1; break
      fi
      say "port $port did not work, trying another"
    done
    [ "$started" -eq 1 ] || { tail -n 20 "$dir/server.log" >&2 || true; die "PostgreSQL did not start (see $dir/server.log)"; }
    if [ "$fresh" -eq 1 ]; then
      as_owner env PGPASSWORD="$(cat "$dir/password")" "$bindir/createdb" -h 127.0.0.1 -p "$(cat "$dir/port")" -U fleet fleet
    fi
    say "PostgreSQL running in $dir on 127.0.0.1:$(cat "$dir/port")"
    url
    ;;
  stop)
    [ -f "$data/PG_VERSION" ] || die "no cluster in $dir"
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || say "was not running"
    say "stopped"
    ;;
  url)
    [ -f "$dir/port" ] || die "no cluster in $dir"
    url
    ;;
  *)
    die "unknown command $cmd (start, stop or url)"
    ;;
esac
