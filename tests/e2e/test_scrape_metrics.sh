#!/usr/bin/env bash
# The scrape source reads the wiki's own /metrics (no Prometheus): the error
# rate computed from its counters trips on injected errors; a probe failing
# AND the error rate rising (combine = "all") is required when asked.
source "$(dirname "$0")/lib.sh"
setup_demo
start_wiki
start_traffic "$PORT"

cat >"$WORK/scrape.toml" <<TOML
[agent]
service = "wiki"
journal = ".state/scrape-journal.jsonl"

[metric_sources.wiki]
type = "scrape"
url = "http://127.0.0.1:$PORT/metrics"

[probes.editor]
type = "http"
url = "http://127.0.0.1:$PORT/edit?tenant=globex"
interval = "500ms"

[policies.errors]
combine = "all"
probes = ["editor"]
consecutive_failures = 2
verify_for = "6s"
[[policies.errors.metrics]]
name = "edit_error_rate"
source = "wiki"
metric = "wiki_http_errors_total"
labels = { route = "/edit" }
function = "rate"
window = "3s"
above = 1.0
interval = "500ms"
on_no_data = "ignore"
[[policies.errors.actions]]
type = "rollback"
rollback = "stop_errors"

[rollbacks.stop_errors]
type = "command"
argv = ["curl", "-fsS", "-X", "POST", "http://127.0.0.1:$PORT/control/errors?rate=0"]
TOML
dg check --config "$WORK/scrape.toml"
expect_rc 0
dg verify --config "$WORK/scrape.toml" --release 1 --bake 4s
expect_rc 0
pass "healthy: no errors counted, exit 0"

curl -fsS -X POST "http://127.0.0.1:$PORT/control/errors?rate=0.7" >/dev/null
dg verify --config "$WORK/scrape.toml" --release 2 --bake 20s
expect_rc 1
grep -q "edit_error_rate" "$WORK/out.txt" || fail "summary does not name the metric condition"
grep -q "probe editor" "$WORK/out.txt" || fail "summary does not name the probe (combine = all)"
pass "errors counted from /metrics and a failing probe trip together: exit 1"
