#!/usr/bin/env bash
# kill -9 in the middle of a rollback leaves a journal that verifies, with the
# intent recorded and no outcome. The next run reconciles that orphan once: a
# command's effect cannot be read back, so it keeps the incident open for a
# human and exits 3; the run after judges its own release (exit 0). One
# incident throughout, never a second one.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^segment = .*/segment = "pluginCount > 100"/' -e 's/^verify_for = .*/verify_for = "3s"/'
cat >"$WORK/slow-rollback.sh" <<'SH'
#!/usr/bin/env bash
touch "$1/rollback-started"
sleep 30
SH
chmod +x "$WORK/slow-rollback.sh"
sed -i 's|^argv = \["./rollback.sh".*|argv = ["./slow-rollback.sh", ".state"]|' "$WORK/deployguard.toml"
start_wiki
deploy 2
"$DEPLOYGUARD_BIN" verify --config "$WORK/deployguard.toml" --release 2 >"$WORK/out.txt" 2>"$WORK/err.txt" &
pid=$!
for _ in $(seq 1 400); do [[ -e "$STATE/rollback-started" ]] && break; sleep 0.05; done
[[ -e "$STATE/rollback-started" ]] || fail "the rollback never started"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pkill -f "slow-rollback.sh" 2>/dev/null || true
journal_verifies
python3 - "$STATE/journal.jsonl" <<'PY' || fail "journal content after kill -9"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
kinds = [(r["kind"], r.get("data", {}).get("action")) for r in recs]
assert ("action_intent", "rollback") in kinds, kinds
assert ("action_outcome", "rollback") not in kinds, "the rollback never finished, so no outcome"
flag_outcomes = [r for r in recs if r["kind"] == "action_outcome" and r["data"]["action"] == "flag"]
assert len(flag_outcomes) == 1 and flag_outcomes[0]["data"]["ok"], flag_outcomes
trip = [r for r in recs if r["kind"] == "policy_tripped"]
assert len(trip) == 1 and trip[0]["data"]["incident"]["key"].startswith("dg-"), trip
PY

# Run 2, on the same (still broken) release: reconciles the orphan, continues
# the same incident through its own ladder, and exits 3 (a human must check
# what the killed rollback did).
sed -i 's|^argv = \["./slow-rollback.sh".*|argv = ["./rollback.sh", ".state", "1"]|' "$WORK/deployguard.toml"
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s
expect_rc 3
grep -q "effect cannot be read back" "$WORK/out.txt" || fail "run 2 does not say the rollback's effect is unknown: $(cat "$WORK/out.txt")"
journal_verifies

# Run 3, on the release the rollback restored: nothing to reconcile any more.
dg verify --config "$WORK/deployguard.toml" --release 1 --bake 3s --json "$WORK/report.json" --junit "$WORK/report.xml"
expect_rc 0
head=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["journal_head"])' "$WORK/report.json")
grep -qF "journal head: $head" "$WORK/out.txt" || fail "the summary does not print the head $head"
grep -qF "name=\"journal_head\" value=\"$head\"" "$WORK/report.xml" || fail "the JUnit report lacks the head $head"
journal_verifies
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" "$WORK/report.json" <<'PY' || fail "reconciliation"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
runs = []
for r in recs:
    if r["kind"] == "config_loaded": runs.append(r["run"])
assert len(runs) == 3, runs
rec = [r for r in recs if r["kind"] == "reconciled"]
assert len(rec) == 1, "reconciled exactly once, by run 2: %s" % rec
d = rec[0]["data"]
assert rec[0]["run"] == runs[1] and d["run"] == runs[0], rec
intent = [r for r in recs if r["kind"] == "action_intent" and r["data"]["action"] == "rollback" and r["run"] == runs[0]]
assert d["intents"] == [intent[0]["seq"]], (d, intent)
assert d["findings"][0]["found"] == "unknown" and d["human_needed"], d
assert not any(r["kind"] == "previous_run_interrupted" for r in recs)
finished = [r["data"]["exit_code"] for r in recs if r["kind"] == "verify_finished"]
assert finished[-1] == 0, finished
incidents = [json.loads(l) for l in open(sys.argv[2])]
keys = {i["dedup_key"] for i in incidents}
assert keys == {d["incident"]}, "one incident, not two: %s" % keys
assert incidents[0]["event"] == "opened" and all(i["event"] != "opened" for i in incidents[1:]), [i["event"] for i in incidents]
assert incidents[-1]["status"] == "mitigation_failed", "left open for a human: %s" % incidents[-1]
assert all(":" in i["journal_head"] for i in incidents), incidents
report = json.load(open(sys.argv[3]))
last = recs[-1]
assert report["journal_head"] == "%d:%s" % (last["seq"], last["hash"]), (report["journal_head"], last["seq"])
print(report["journal_head"])
PY
dg journal verify "$STATE/journal.jsonl" --head "$head"
expect_rc 0
# Dropping the last record is detected against the report's head.
python3 - "$STATE/journal.jsonl" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
open(sys.argv[1], "w").write("".join(lines[:-1]))
PY
journal_verifies
dg journal verify "$STATE/journal.jsonl" --head "$head"
expect_rc 1
grep -q "TRUNCATED" "$WORK/out.txt" || fail "truncation not named: $(cat "$WORK/out.txt")"
# A torn final line is reported, dropped and journaled by `journal verify`.
printf '{"seq":999,"kind":"tor' >>"$STATE/journal.jsonl"
dg journal verify "$STATE/journal.jsonl"
expect_rc 0
grep -q "^TORN:" "$WORK/out.txt" && grep -q "^DROPPED:" "$WORK/out.txt" || fail "torn line not reported: $(cat "$WORK/out.txt")"
[[ $(journal_kinds | tr ' ' '\n' | tail -1) == torn_record_dropped ]] || fail "the drop is not journaled"
# A run finding a torn final line says so in its reports, not only on stderr.
printf '{"seq":999,"kind":"tor' >>"$STATE/journal.jsonl"
dg verify --config "$WORK/deployguard.toml" --release 1 --bake 3s --json "$WORK/report.json" --junit "$WORK/report.xml"
expect_rc 0
python3 - "$WORK/report.json" <<'PY' || fail "the torn record is not in the report's warnings"
import json, sys
w = json.load(open(sys.argv[1]))["warnings"]
assert any("torn record" in x for x in w), w
PY
grep -q "torn record" "$WORK/report.xml" || fail "the JUnit report does not name the torn record"
journal_verifies
# A journal modified in the middle is refused (exit 2), never extended.
sed -i '3s/"kind":"policy_tripped"/"kind":"policy_trippeD"/; 3s/"kind":"verify_started"/"kind":"verify_starteD"/' "$STATE/journal.jsonl"
size=$(wc -c <"$STATE/journal.jsonl")
dg verify --config "$WORK/deployguard.toml" --release 1 --bake 3s
expect_rc 2
grep -q "will not be extended" "$WORK/err.txt" && grep -q "agent.journal" "$WORK/err.txt" || fail "refusal does not say how to start anew: $(cat "$WORK/err.txt")"
[[ $(wc -c <"$STATE/journal.jsonl") -eq $size ]] || fail "a modified journal was extended"
pass "kill -9 mid-rollback: reconciled once (exit 3), then healthy (exit 0), one incident"
