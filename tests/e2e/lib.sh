#!/usr/bin/env bash
# Shared set-up for end-to-end scenarios: a private copy of the demo (config,
# flags, tenants, scripts) in a temp dir, on a free port, with the demo wiki
# service running; everything is stopped and removed on exit.
set -euo pipefail

DG_SOURCE_DIR=${DG_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DEPLOYGUARD_BIN=${DEPLOYGUARD_BIN:-$DG_SOURCE_DIR/build/deployguard}
WIKI=$DG_SOURCE_DIR/examples/wiki

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dg-e2e-XXXXXX")
STATE=$WORK/.state
SERVER_PID=""
EXTRA_PIDS=()   # background helpers (traffic, more services), stopped on exit
PROM_DIR=""     # set by start_prometheus

cleanup() {
  local rc=$?
  for pid in "${EXTRA_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n "$PROM_DIR" ]]; then "$DG_SOURCE_DIR/scripts/prometheus.sh" stop "$PROM_DIR" || true; fi
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 && -d "$WORK" ]]; then
    echo "---- e2e failed; work dir contents:" >&2
    for f in "$WORK"/out.txt "$WORK"/err.txt "$STATE"/journal.jsonl "$STATE"/server.log; do
      [[ -f "$f" ]] && { echo "-- $f" >&2; tail -c 4000 "$f" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PORT=$(free_port)

# Copies the demo into $WORK with the free port; extra sed expressions may
# rewrite the config for a scenario. The policy judges the browser probe
# only with DEMO_BROWSER=1 (the demo scenario): the other scenarios time
# their steps on the HTTP probes, and a headless Chromium on a busy machine
# would move those timings.
setup_demo() {
  mkdir -p "$STATE"
  cp "$WIKI/flags.json" "$WIKI/tenants.json" "$STATE/"
  cp "$WIKI/rollback.sh" "$WIKI/deploy.sh" "$WORK/"
  echo 1 >"$STATE/release"
  local browser=(-e 's/, "editor_in_browser"\]/]/')
  [[ "${DEMO_BROWSER:-0}" == 1 ]] && browser=()
  sed -e "s/127.0.0.1:18080/127.0.0.1:$PORT/g" -e 's/^bake = .*/bake = "12s"/' "${browser[@]}" "$@" \
    "$WIKI/deployguard.toml" >"$WORK/deployguard.toml"
}

start_wiki() {
  node "$WIKI/server.js" --port "$PORT" --state "$STATE" >"$STATE/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    grep -q "listening" "$STATE/server.log" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "wiki did not start: $(cat "$STATE/server.log")"
}

deploy() { "$WORK/deploy.sh" "$STATE" "$1" >/dev/null; }

# Runs deployguard; sets RC; stdout/stderr in $WORK/out.txt, $WORK/err.txt.
dg() {
  set +e
  "$DEPLOYGUARD_BIN" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
  RC=$?
  set -e
}

editor_ok() { curl -fsS "http://127.0.0.1:$PORT/edit?tenant=$1" | grep -q "editor-bootstrap.js"; }
framework_of() { curl -fsS "http://127.0.0.1:$PORT/flags/eval?tenant=$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])'; }
journal_kinds() { python3 -c 'import json,sys; print(" ".join(json.loads(l)["kind"] for l in open(sys.argv[1])))' "$STATE/journal.jsonl"; }
expect_rc() { [[ $RC -eq $1 ]] || fail "expected exit code $1, got $RC; stdout: $(cat "$WORK/out.txt"); stderr: $(cat "$WORK/err.txt")"; }
journal_verifies() {
  "$DEPLOYGUARD_BIN" journal verify "$STATE/journal.jsonl" >/dev/null || fail "journal does not verify: $("$DEPLOYGUARD_BIN" journal verify "$STATE/journal.jsonl")"
}

# Steady user traffic to /edit on the given ports, until the test ends.
start_traffic() {
  ( while true; do for p in "$@"; do curl -s -o /dev/null "http://127.0.0.1:$p/edit?tenant=globex"; done; sleep 0.05; done ) &
  EXTRA_PIDS+=($!)
}

# A private Prometheus scraping the given host:port targets every second.
start_prometheus() {
  command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/install-deps.sh installs it)"
  PROM_PORT=$(free_port)
  PROM_DIR=$WORK/prom
  "$DG_SOURCE_DIR/scripts/prometheus.sh" start "$PROM_DIR" "$PROM_PORT" "$@"
}

# ---- deployguard watch ----
WATCH_PID=""
export DG_ALARM_TOKEN=${DG_ALARM_TOKEN:-e2e-alarm-token-$RANDOM$RANDOM}
WATCH_PORT=$(free_port)

# Appends a [watch] section (free port, alarm token from the environment).
add_watch_section() {
  cat >>"$WORK/deployguard.toml" <<TOML

[watch]
port = $WATCH_PORT
alarm_token = "env:DG_ALARM_TOKEN"
reload_poll = "200ms"
TOML
}

# Starts the watcher in the background (log in $WORK/watch.log) and waits for its API.
start_watch() {
  "$DEPLOYGUARD_BIN" watch --config "$WORK/deployguard.toml" --log-format json "$@" >>"$WORK/watch.log" 2>&1 &
  WATCH_PID=$!
  EXTRA_PIDS+=("$WATCH_PID")
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$WATCH_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$WATCH_PID" 2>/dev/null || fail "watch exited: $(cat "$WORK/watch.log")"
    sleep 0.05
  done
  fail "watch did not start: $(cat "$WORK/watch.log")"
}

# SIGTERM; the watcher must exit 0.
stop_watch() {
  kill -TERM "$WATCH_PID"
  set +e
  wait "$WATCH_PID"
  local rc=$?
  set -e
  [[ $rc -eq 0 ]] || fail "watch exited $rc after SIGTERM: $(tail -20 "$WORK/watch.log")"
  WATCH_PID=""
}

kill9_watch() {
  kill -9 "$WATCH_PID"
  wait "$WATCH_PID" 2>/dev/null || true
  WATCH_PID=""
}

api() {  # api METHOD PATH [JSON] — with the token; prints the body, sets HTTP_STATUS
  local out
  out=$(curl -sS -o "$WORK/api.body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $DG_ALARM_TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "http://127.0.0.1:$WATCH_PORT$2")
  HTTP_STATUS=$out
  cat "$WORK/api.body"
}

policy_state() {
  curl -fsS "http://127.0.0.1:$WATCH_PORT/api/v1/status" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(next(p["state"] for p in d["policies"] if p["name"]==sys.argv[1]))' "$1"
}

# wait_for SECONDS COMMAND...: polls until the command succeeds.
wait_for() {
  local t=$1
  shift
  for _ in $(seq 1 $((t * 20))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

journal_count() { grep -c "\"kind\":\"$1\"" "$STATE/journal.jsonl" || true; }
