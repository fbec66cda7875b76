#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the store tests: `start` prints the URL to export, `stop` ends it.
# Best effort: if no server can be installed or started, `start` prints nothing, the PostgreSQL tests skip with
# their reason and the rest of the suite still runs (a registry hiccup must not hide every other result).
set -uo pipefail
PORT="${THREADLINE_CI_PG_PORT:-54329}"
DATA="/tmp/threadline-ci-pg-$PORT"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
AS=()
[ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)   # initdb and postgres refuse to run as root

stop() {
  [ -n "$BIN" ] && [ -f "$DATA/postmaster.pid" ] && (cd /tmp && "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w stop) >/dev/null 2>&1
  rm -rf "$DATA"
}

start() {
  if [ -z "$BIN" ]; then
    echo "ci: installing PostgreSQL (Debian package)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2 || true
    BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  fi
  if [ -z "$BIN" ]; then
    echo "ci: PostgreSQL not available; its tests will skip" >&2
    return 0
  fi
  stop
  mkdir -p "$DATA" && [ ${#AS[@]} -gt 0 ] && chown postgres "$DATA"
  cd /tmp || return 0
  if "${AS[@]}" "$BIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null 2>&1 &&
     "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
       -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1" start >/dev/null 2>&1; then
    echo "ci: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
  else
    echo "ci: PostgreSQL did not start; its tests will skip" >&2
    tail -5 "$DATA/server.log" >&2 2>/dev/null
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
