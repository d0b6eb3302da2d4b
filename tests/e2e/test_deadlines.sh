#!/usr/bin/env bash
# Every wait honours its deadline: a 3 s bake whose metric sources stall (one
# never answers, one trickles a byte at a time) ends within the bake plus one
# source timeout — no read before the bake starts, no read after it ends, may
# hold it longer — and says it could not judge (exit 4). A stop signal ends a
# long bake promptly too.
source "$(dirname "$0")/lib.sh"
mkdir -p "$STATE"
python3 "$DG_SOURCE_DIR/tests/support/hostile_server.py" "$WORK/silent.port" silent &
EXTRA_PIDS+=($!)
python3 "$DG_SOURCE_DIR/tests/support/hostile_server.py" "$WORK/trickle.port" trickle &
EXTRA_PIDS+=($!)
for f in silent trickle; do
  for _ in $(seq 1 100); do [[ -s $WORK/$f.port ]] && break; sleep 0.05; done
  [[ -s $WORK/$f.port ]] || fail "hostile server $f did not start"
done
SILENT=$(cat "$WORK/silent.port")
TRICKLE=$(cat "$WORK/trickle.port")

cat >"$WORK/hostile.toml" <<TOML
[agent]
service = "wiki"
journal = ".state/journal.jsonl"

[metric_sources.stalled]
type = "prometheus"
url = "http://127.0.0.1:$SILENT"
timeout = "2s"

[metric_sources.trickling]
type = "scrape"
url = "http://127.0.0.1:$TRICKLE/metrics"
timeout = "2s"

[policies.guarded]
[[policies.guarded.metrics]]
name = "vs_baseline"
type = "baseline"
source = "stalled"
query = 'sum(rate(errors_total[1m]))'
max_increase = "50%"
interval = "500ms"
[[policies.guarded.metrics]]
name = "canary"
type = "canary"
source = "stalled"
canary_errors = 'sum(errors_total{track="canary"})'
canary_total = 'sum(requests_total{track="canary"})'
baseline_errors = 'sum(errors_total{track="stable"})'
baseline_total = 'sum(requests_total{track="stable"})'
interval = "500ms"
[[policies.guarded.metrics]]
name = "scraped"
source = "trickling"
metric = "errors_total"
above = 1
interval = "500ms"
[[policies.guarded.actions]]
type = "rollback"
rollback = "noop"

[rollbacks.noop]
type = "command"
argv = ["true"]
TOML

start=$(date +%s.%N)
dg verify --config "$WORK/hostile.toml" --release 2 --bake 3s
took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
expect_rc 4
# 3 s of bake + 2 s of source timeout; a generous second for the process itself.
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 6.0 else 1)" "$took" ||
  fail "a 3 s bake against stalled sources took ${took}s (bound: 3 s + 2 s timeout + 1 s)"
# Each source was asked during the bake and its timeout is the reason given.
for c in vs_baseline canary scraped; do
  grep -q "guarded/$c: .*timeout after 2000 ms" "$WORK/out.txt" || fail "summary does not say why $c could not judge: $(cat "$WORK/out.txt")"
done
journal_verifies
pass "3 s bake against stalled sources ended after ${took}s with exit 4"

# A stop signal ends a long bake within one source timeout, as inconclusive.
set +e
"$DEPLOYGUARD_BIN" verify --config "$WORK/hostile.toml" --release 3 --bake 5m >"$WORK/out.txt" 2>"$WORK/err.txt" &
pid=$!
set -e
sleep 1.5
start=$(date +%s.%N)
kill -TERM "$pid"
set +e; wait "$pid"; RC=$?; set -e
took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
expect_rc 4
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 3.5 else 1)" "$took" ||
  fail "SIGTERM took ${took}s to end the bake (bound: 2 s timeout + 1.5 s)"
pass "SIGTERM ended a 5 m bake after ${took}s with exit 4"
