#!/usr/bin/env bash
# Canary versus baseline through a real Prometheus: two wiki instances (the
# stable one and the canary) under the same steady load; the sequential test
# must not trip when both fail alike (A/A) and call it healthy only once the
# ratio's upper bound is below max_ratio, and must trip when the canary fails
# five times as often.
source "$(dirname "$0")/lib.sh"
CANARY_PORT=$(free_port)
CANARY_STATE=$WORK/.canary

setup_demo
start_wiki
mkdir -p "$CANARY_STATE"
cp "$STATE/flags.json" "$STATE/tenants.json" "$CANARY_STATE/"
echo 2 >"$CANARY_STATE/release"
node "$WIKI/server.js" --port "$CANARY_PORT" --state "$CANARY_STATE" >"$CANARY_STATE/server.log" 2>&1 &
EXTRA_PIDS+=($!)
for _ in $(seq 1 100); do grep -q listening "$CANARY_STATE/server.log" 2>/dev/null && break; sleep 0.05; done
start_prometheus "127.0.0.1:$PORT" "127.0.0.1:$CANARY_PORT"

# Steady load, the same on both arms (keep-alive, ~150 requests/s each).
python3 - "$PORT" "$CANARY_PORT" <<'PY' &
import http.client, sys, time
conns = [http.client.HTTPConnection("127.0.0.1", int(p), timeout=5) for p in sys.argv[1:]]
while True:
    for c in conns:
        try:
            c.request("GET", "/edit?tenant=globex"); c.getresponse().read()
        except Exception:
            c.close()
    time.sleep(0.005)
PY
EXTRA_PIDS+=($!)

stable="instance=\"127.0.0.1:$PORT\",route=\"/edit\""
canary="instance=\"127.0.0.1:$CANARY_PORT\",route=\"/edit\""
cat >"$WORK/canary.toml" <<TOML
[agent]
service = "wiki"
journal = ".state/canary-journal.jsonl"

[metric_sources.prom]
type = "prometheus"
url = "http://127.0.0.1:$PROM_PORT"

[policies.canary_errors]
scope = "users routed to the canary"
verify_for = "2s"
[[policies.canary_errors.metrics]]
name = "error_rate_vs_stable"
type = "canary"
source = "prom"
canary_errors = 'sum(wiki_http_errors_total{$canary})'
canary_total = 'sum(wiki_http_requests_total{$canary})'
baseline_errors = 'sum(wiki_http_errors_total{$stable})'
baseline_total = 'sum(wiki_http_requests_total{$stable})'
alpha = 0.001  # keeps this test's own chance of a false alarm at 0.1 %
max_ratio = 5  # excluding 5x at 2 % takes a few dozen errors: well within the A/A bake
min_requests = 300
interval = "1s"
[[policies.canary_errors.actions]]
type = "rollback"
rollback = "noop"

[rollbacks.noop]
type = "command"
argv = ["true"]
TOML
dg check --config "$WORK/canary.toml"
expect_rc 0

# A/A: both arms fail 2 % of the time.
curl -fsS -X POST "http://127.0.0.1:$PORT/control/errors?rate=0.02" >/dev/null
curl -fsS -X POST "http://127.0.0.1:$CANARY_PORT/control/errors?rate=0.02" >/dev/null
sleep 3
dg verify --config "$WORK/canary.toml" --release 2 --bake 20s
[[ $RC -eq 0 ]] || fail "A/A canary must not trip and must end healthy (exit $RC): $(cat "$WORK/out.txt")"
grep -q "no regression: the canary fails less than" "$WORK/out.txt" || fail "summary lacks the test's verdict: $(cat "$WORK/out.txt")"
pass "A/A canary: healthy on evidence (ratio bound below max_ratio), no false alarm"

# A typo in the errors query matches nothing: no data, never "zero errors".
sed "s/wiki_http_errors_total{instance=\"127.0.0.1:$CANARY_PORT\"/wiki_http_errorz_total{instance=\"127.0.0.1:$CANARY_PORT\"/" "$WORK/canary.toml" >"$WORK/typo.toml"
grep -q errorz "$WORK/typo.toml" || fail "typo config not written"
dg verify --config "$WORK/typo.toml" --release 2 --bake 4s
[[ $RC -eq 4 ]] || fail "a canary errors query matching nothing must be inconclusive (exit $RC): $(cat "$WORK/out.txt")"
grep -q "no canary errors counted yet" "$WORK/out.txt" || fail "summary must say the errors query had no data: $(cat "$WORK/out.txt")"
pass "canary errors query matching nothing: inconclusive, not healthy"

# The canary fails five times as often: the sequential test trips.
curl -fsS -X POST "http://127.0.0.1:$CANARY_PORT/control/errors?rate=0.10" >/dev/null
dg verify --config "$WORK/canary.toml" --release 2 --bake 40s
[[ $RC -eq 1 || $RC -eq 3 ]] || fail "a 5x canary regression must trip (exit $RC): $(cat "$WORK/out.txt")"
python3 - "$STATE/canary-journal.jsonl" <<'PY' || fail "canary evidence"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
t = [r for r in recs if r["kind"] == "policy_tripped"][-1]["data"]
st = t["stats"]
for k in ("canary_errors", "canary_requests", "baseline_errors", "baseline_requests", "log_likelihood_ratio", "log_threshold"):
    assert k in st, (k, st)
assert st["log_likelihood_ratio"] >= st["log_threshold"], st
assert st["canary_errors"] / st["canary_requests"] > st["baseline_errors"] / st["baseline_requests"], st
PY
pass "5x canary regression trips with its counts and statistic journaled"
