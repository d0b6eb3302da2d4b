#!/usr/bin/env bash
# Two crashes in a row. Run 1 flips the flag and is killed; run 2 reconciles
# it (keeps the flip, takes over its incident) and is killed in its bake; run 3
# takes the incident over from run 2 and resolves it (exit 1: mitigated by the
# kept flip). Then a run killed after its ladder ended but before the final
# incident event was delivered: the next run sends that event, once.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^verify_for = .*/verify_for = "20s"/'
start_wiki
deploy 2
wait_for_kind() {  # kind, count: waits until the journal holds that many
  for _ in $(seq 1 400); do
    [[ $(grep -c "\"kind\":\"$1\"" "$STATE/journal.jsonl" 2>/dev/null) -ge $2 ]] && return 0
    sleep 0.05
  done
  fail "no $1 record #$2 in the journal"
}
"$DEPLOYGUARD_BIN" verify --config "$WORK/deployguard.toml" --release 2 >"$WORK/out1.txt" 2>"$WORK/err1.txt" &
pid=$!
wait_for_kind action_outcome 1
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
"$DEPLOYGUARD_BIN" verify --config "$WORK/deployguard.toml" --release 2 --bake 30s >"$WORK/out2.txt" 2>"$WORK/err2.txt" &
pid=$!
wait_for_kind verify_started 2
sleep 1  # in its bake
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
journal_verifies
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s
expect_rc 1
journal_verifies
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" <<'PY' || fail "the incident taken over by the run that died"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
runs = [r["run"] for r in recs if r["kind"] == "config_loaded"]
assert len(runs) == 3, runs
rec = [r for r in recs if r["kind"] == "reconciled"]
assert [(r["run"], r["data"]["run"]) for r in rec] == [(runs[1], runs[0]), (runs[2], runs[1])], rec
key = rec[0]["data"]["incident"]
assert rec[1]["data"]["incident"] == key, rec[1]["data"]
assert rec[1]["data"]["flips"][0]["decision"] == "kept", rec[1]["data"]
closed = [r for r in recs if r["kind"] == "interrupted_incident_closed"]
assert len(closed) == 1 and closed[0]["run"] == runs[2] and closed[0]["data"]["key"] == key, closed
incidents = [json.loads(l) for l in open(sys.argv[2])]
assert {i["dedup_key"] for i in incidents} == {key}, incidents
assert incidents[-1]["event"] == "resolved" and incidents[-1]["status"] == "mitigated", incidents[-1]
assert [i["event"] for i in incidents].count("opened") == 1
PY

# A run whose ladder ended (users recovered) but whose resolution was never
# delivered: cut the journal right after policy_recovered, as a kill there does.
rm -f "$STATE/journal.jsonl" "$STATE/incidents.jsonl"
cp "$WIKI/flags.json" "$STATE/flags.json"
editor_ok acme && fail "release 2 should be broken again without the flip"
dg verify --config "$WORK/deployguard.toml" --release 2
expect_rc 1
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines(True)
cut = next(i for i, l in enumerate(lines) if json.loads(l)["kind"] == "policy_recovered")
open(sys.argv[1], "w").write("".join(lines[:cut + 1]))
inc = [l for l in open(sys.argv[2]) if json.loads(l)["event"] != "resolved"]
open(sys.argv[2], "w").write("".join(inc))
PY
journal_verifies
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s
expect_rc 0
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s
expect_rc 0
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" <<'PY' || fail "the undelivered resolution"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
rec = [r for r in recs if r["kind"] == "reconciled"]
assert len(rec) == 1 and rec[0]["data"]["caught_up"][0]["event"] == "resolved", rec
incidents = [json.loads(l) for l in open(sys.argv[2])]
assert [i["event"] for i in incidents].count("resolved") == 1, [i["event"] for i in incidents]
assert incidents[-1]["event"] == "resolved" and incidents[-1]["status"] == "mitigated", incidents[-1]
PY
pass "a second crash passes the incident on; an undelivered final event is sent once"
