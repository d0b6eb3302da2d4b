#!/usr/bin/env bash
# A run killed between the intent and the outcome of a flag flip: the next run
# reads the flagd file, finds the flip applied, keeps it (same release), does
# not flip again, and resolves the same incident (exit 1: mitigated by the kept
# flip). The run after that judges its own release (exit 0).
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^verify_for = .*/verify_for = "20s"/'
start_wiki
deploy 2
"$DEPLOYGUARD_BIN" verify --config "$WORK/deployguard.toml" --release 2 >"$WORK/out.txt" 2>"$WORK/err.txt" &
pid=$!
for _ in $(seq 1 400); do grep -q '"kind":"action_outcome"' "$STATE/journal.jsonl" 2>/dev/null && break; sleep 0.05; done
grep -q '"kind":"action_outcome"' "$STATE/journal.jsonl" || fail "the flip never happened"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
# The kill landed after the flip was written but before its outcome was
# journaled: keep the chain up to the flip's intent.
python3 - "$STATE/journal.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines(True)
cut = next(i for i, l in enumerate(lines) if json.loads(l)["kind"] == "action_intent")
open(sys.argv[1], "w").write("".join(lines[:cut + 1]))
PY
journal_verifies
grep -q pluginCount "$STATE/flags.json" || fail "the flip should be in the flag file"
editor_ok acme || fail "the flip should have fixed the zero-plugin tenant"

dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s
expect_rc 1
journal_verifies
editor_ok acme && grep -q pluginCount "$STATE/flags.json" || fail "the flip was kept"
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s
expect_rc 0
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" <<'PY' || fail "reconciliation of the flag orphan"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
runs = [r["run"] for r in recs if r["kind"] == "config_loaded"]
assert len(runs) == 3, runs
rec = [r for r in recs if r["kind"] == "reconciled"]
assert len(rec) == 1 and rec[0]["data"]["run"] == runs[0], rec
d = rec[0]["data"]
f = d["findings"][0]
assert f["action"] == "flag" and f["found"] == "applied", f
assert d["flips"][0]["decision"] == "kept", d["flips"]
assert not d["human_needed"], d
later_flips = [r for r in recs if r["kind"] == "action_intent" and r["run"] != runs[0]]
assert not later_flips, "the flip is not repeated: %s" % later_flips
incidents = [json.loads(l) for l in open(sys.argv[2])]
assert {i["dedup_key"] for i in incidents} == {d["incident"]}, incidents
assert incidents[-1]["event"] == "resolved" and incidents[-1]["status"] == "mitigated", incidents[-1]
# verify_finished says what the process exited with (1: mitigated by the kept
# flip, then 0), after the run's last incident delivery.
finished = [(r["run"], r["data"]["exit_code"]) for r in recs if r["kind"] == "verify_finished"]
assert finished == [(runs[1], 1), (runs[2], 0)], finished
states = [r["data"]["policies"] for r in recs if r["kind"] == "verify_finished"]
assert states[0] == [{"policy": "editor_initializes", "state": "mitigated"}], states
for run in runs[1:]:
    mine = [r["kind"] for r in recs if r["run"] == run]
    assert mine[-1] == "verify_finished", (run, mine[-3:])
PY
pass "kill -9 between a flip's intent and outcome: reconciled from the flag file, kept, one incident resolved"
