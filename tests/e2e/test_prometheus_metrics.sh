#!/usr/bin/env bash
# Metric conditions through a real Prometheus (Debian's package, started on a
# free loopback port, scraping the demo wiki every second):
#  - injected errors trip the policy through PromQL and the mitigation runs;
#  - a healthy service does not trip;
#  - Prometheus stopped mid-run gives "cannot judge" (exit 4), not healthy and
#    not a rollback.
source "$(dirname "$0")/lib.sh"
setup_demo
start_wiki
start_prometheus "127.0.0.1:$PORT"
start_traffic "$PORT"

cat >"$WORK/metrics.toml" <<TOML
[agent]
service = "wiki"
environment = "e2e"
journal = ".state/metrics-journal.jsonl"

[metric_sources.prom]
type = "prometheus"
url = "http://127.0.0.1:$PROM_PORT"
timeout = "2s"

[policies.edit_errors]
scope = "every tenant using the editor"
verify_for = "25s"
recovery_passes = 2
[[policies.edit_errors.metrics]]
name = "error_ratio"
source = "prom"
query = '(sum(rate(wiki_http_errors_total{route="/edit"}[5s])) or vector(0)) / sum(rate(wiki_http_requests_total{route="/edit"}[5s]))'
above = 0.2
for = "2s"
interval = "1s"
max_source_errors = 3
[[policies.edit_errors.actions]]
type = "rollback"
rollback = "stop_errors"

[rollbacks.stop_errors]
type = "command"
argv = ["curl", "-fsS", "-X", "POST", "http://127.0.0.1:$PORT/control/errors?rate=0"]
timeout = "5s"

[incident_sinks.log]
type = "file"
path = ".state/metrics-incidents.jsonl"
TOML
dg check --config "$WORK/metrics.toml"
expect_rc 0

# Give Prometheus a few scrapes of traffic first.
sleep 4

# 1. Healthy: no trip.
dg verify --config "$WORK/metrics.toml" --release 1 --bake 6s
expect_rc 0
pass "healthy service through PromQL: exit 0"

# 2. Injected errors: trip through PromQL, the mitigation clears them, exit 1.
curl -fsS -X POST "http://127.0.0.1:$PORT/control/errors?rate=0.6" >/dev/null
dg verify --config "$WORK/metrics.toml" --release 2 --bake 30s
expect_rc 1
grep -q "above 0.2" "$WORK/out.txt" || fail "summary does not say what tripped: $(cat "$WORK/out.txt")"
python3 - "$STATE/metrics-journal.jsonl" <<'PY' || fail "journal evidence"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
tripped = [r for r in recs if r["kind"] == "policy_tripped"]
assert tripped, "no trip journaled"
ev = tripped[-1]["data"]["metric_evidence"]
assert ev and "rate(wiki_http_errors_total" in ev[-1]["query"], ev
assert tripped[-1]["data"]["stats"]["value"] > 0.2, tripped[-1]["data"]["stats"]
PY
pass "injected errors trip through PromQL and the mitigation is confirmed: exit 1"

# 3. Prometheus stops mid-run: cannot judge, no rollback.
marker=$STATE/rollback-ran
sed -i "s|^argv = \[\"curl\".*|argv = [\"touch\", \"$marker\"]|" "$WORK/metrics.toml"
( sleep 3; "$DG_SOURCE_DIR/scripts/prometheus.sh" stop "$PROM_DIR" ) &
stopper=$!
dg verify --config "$WORK/metrics.toml" --release 3 --bake 10s
wait $stopper || true
expect_rc 4
[[ ! -e "$marker" ]] || fail "a rollback ran while the metric source was down"
grep -q "cannot judge" "$WORK/out.txt" || fail "summary does not say it cannot judge: $(cat "$WORK/out.txt")"
pass "Prometheus stopped mid-run: exit 4, no action"
