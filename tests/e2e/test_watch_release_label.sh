#!/usr/bin/env bash
# The watcher learns the release from a label of a metric the service itself
# exposes (wiki_release_info{release="N"} on its /metrics): a deploy nobody
# announced starts release 2 (release_started, from the label), the trip and
# its incident carry release 2, and the flip mitigates it.
source "$(dirname "$0")/lib.sh"
setup_demo
add_watch_section
cat >>"$WORK/deployguard.toml" <<TOML

[metric_sources.wiki]
type = "scrape"
url = "http://127.0.0.1:$PORT/metrics"
timeout = "2s"

[services.wiki.release_from]
source = "wiki"
metric = "wiki_release_info"
label = "release"
interval = "300ms"
TOML
start_wiki
start_watch
wait_for 10 bash -c "curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"release\":\"1\"' >/dev/null" || fail "release 1 not learnt from the label: $(tail -3 "$WORK/watch.log")"
deploy 2
wait_for 15 bash -c "[[ \$(curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"state\":\"mitigated\"') -ge 1 ]]" ||
  fail "not mitigated: $(tail -5 "$WORK/watch.log")"
stop_watch
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" <<'PY' || fail "release learnt from the label"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
rel = [r["data"] for r in recs if r["kind"] == "release_started"]
assert [r["release"] for r in rel] == ["1", "2"], rel
assert rel[1]["who"].startswith("label release"), rel[1]
trip = next(r for r in recs if r["kind"] == "policy_tripped")
assert trip["data"]["release"] == "2", trip["data"]["release"]
inc = [json.loads(l) for l in open(sys.argv[2])]
assert inc and all(i["release"] == "2" for i in inc), [i["release"] for i in inc]
PY
journal_verifies
pass "watch learns the release from a scraped metric's label; the trip is about release 2"
