#!/usr/bin/env bash
# A real Prometheus (Debian's package, on a free loopback port) scrapes the
# watcher's /metrics; a watcher metric is read back through Prometheus' query
# API: the policy's state after a mitigation and the probe results counted.
source "$(dirname "$0")/lib.sh"
setup_demo
add_watch_section
start_wiki
start_watch
start_prometheus "127.0.0.1:$WATCH_PORT"
api POST /api/v1/releases '{"release":"2"}' >/dev/null
deploy 2
wait_for 15 bash -c "[[ \$(curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"state\":\"mitigated\"') -ge 1 ]]" ||
  fail "not mitigated: $(tail -5 "$WORK/watch.log")"
query() {
  curl -fsS --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
wait_for 15 bash -c "[[ \$(curl -fsS --get http://127.0.0.1:$PROM_PORT/api/v1/query --data-urlencode 'query=deployguard_policy_state{policy=\"editor_initializes\",state=\"mitigated\"}' | grep -c '\"1\"') -ge 1 ]]" ||
  fail "Prometheus does not see the mitigated state: $(curl -sS "http://127.0.0.1:$PROM_PORT/api/v1/targets")"
failed=$(query 'sum(deployguard_probe_results_total{probe="editor_zero_plugins",outcome="failed"})')
[[ -n "$failed" && "$failed" -ge 3 ]] || fail "probe failures through Prometheus: '$failed'"
up=$(query 'up')
[[ "$up" == 1 ]] || fail "the scrape is not up: $up"
stop_watch
pass "Prometheus scrapes the watcher; policy state and probe results read back through its query API"
