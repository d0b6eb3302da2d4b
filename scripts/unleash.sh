#!/usr/bin/env bash
# Starts and stops a real Unleash (npm unleash-server@7.5.1) on a private
# PostgreSQL cluster (Debian's postgresql), both on free loopback ports, for
# the unleash flag provider's integration tests.
#   UNLEASH_ADMIN_TOKEN='*:*.secret' scripts/unleash.sh start DIR
#   scripts/unleash.sh stop DIR
#   scripts/unleash.sh install        (npm packages only; start does it too)
# start writes DIR/url (http://127.0.0.1:PORT) and waits until /health says GOOD.
# Exit 77: PostgreSQL or the npm packages cannot be installed here (the tests skip).
# Pids are kept in DIR; stop ends only those. The cluster and the npm folder
# (tests/support/unleash/node_modules, ignored by git) are reused across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pkg=tests/support/unleash
cmd=${1:-}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

install_npm() {
  local stamp="$pkg/node_modules/.deployguard-lock"
  if [[ ! -f "$stamp" ]] || ! cmp -s "$pkg/package-lock.json" "$stamp"; then
    echo "unleash.sh: installing unleash-server in $pkg" >&2
    (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 77
    cp "$pkg/package-lock.json" "$stamp"
  fi
}

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }; done
  return 1
}

# PostgreSQL refuses to run as root: run its tools as the postgres user then.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  install)
    install_npm || exit 77
    ;;
  start)
    dir=${2:?usage: $0 start DIR}
    token=${UNLEASH_ADMIN_TOKEN:?set UNLEASH_ADMIN_TOKEN to an admin token like '*:*.secret'}
    bin=$(pg_bin) || { echo "unleash.sh: PostgreSQL is not installed (scripts/install-deps.sh)" >&2; exit 77; }
    install_npm || exit 77
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [[ $(id -u) -eq 0 ]] && chmod o+x "$dir"  # the postgres user reaches its cluster inside
    pg="$dir/pg"
    if [[ ! -f "$pg/PG_VERSION" ]]; then
      mkdir -p "$pg"
      [[ $(id -u) -eq 0 ]] && chown postgres: "$pg"
      as_pg "$bin/initdb" -D "$pg" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    pgport=$(free_port)
    # Only TCP on loopback (no Unix socket: a long DIR would not fit its path).
    as_pg "$bin/pg_ctl" -D "$pg" -l "$pg/server.log" -w -t 60 \
      -o "-h 127.0.0.1 -p $pgport -k '' -F" start >/dev/null ||
      { cat "$pg/server.log" >&2; exit 1; }
    echo "$pgport" >"$dir/pg.port"
    as_pg "$bin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname='unleash'" | grep -q 1 ||
      as_pg "$bin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres unleash
    port=$(free_port)
    (
      cd "$pkg"
      exec env DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/unleash" DATABASE_SSL=false \
        INIT_ADMIN_API_TOKENS="$token" HTTP_HOST=127.0.0.1 HTTP_PORT="$port" \
        SEND_TELEMETRY=false CHECK_VERSION=false LOG_LEVEL=warn \
        node server.mjs
    ) >"$dir/unleash.log" 2>&1 &
    echo $! >"$dir/unleash.pid"
    for _ in $(seq 1 1200); do
      if curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null | grep -q GOOD; then
        echo "http://127.0.0.1:$port" >"$dir/url"
        exit 0
      fi
      if ! kill -0 "$(cat "$dir/unleash.pid")" 2>/dev/null; then
        echo "unleash exited:" >&2; tail -50 "$dir/unleash.log" >&2; exit 1
      fi
      sleep 0.1
    done
    echo "unleash did not become healthy on port $port" >&2
    tail -50 "$dir/unleash.log" >&2
    exit 1
    ;;
  stop)
    dir=${2:?usage: $0 stop DIR}
    if [[ -f "$dir/unleash.pid" ]]; then
      pid=$(cat "$dir/unleash.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/unleash.pid"
    fi
    if [[ -f "$dir/pg/postmaster.pid" ]] && bin=$(pg_bin); then
      as_pg "$bin/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  *) echo "usage: $0 start DIR | stop DIR | install" >&2; exit 2 ;;
esac
