#!/usr/bin/env bash
# The product story: release 2 breaks the editor for zero-plugin tenants; the
# guard flips connect-framework off for pluginCount == 0 only, confirms they
# recovered, opens one incident and journals everything. Exit 1.
source "$(dirname "$0")/lib.sh"
setup_demo
start_wiki
deploy 2
editor_ok acme && fail "release 2 should break acme's editor"
editor_ok globex || fail "release 2 should not break globex's editor"

dg verify --config "$WORK/deployguard.toml" --release 2 --json "$WORK/report.json" --junit "$WORK/report.xml"
expect_rc 1
editor_ok acme || fail "acme did not recover"
editor_ok initech || fail "initech did not recover"
editor_ok globex || fail "globex lost its editor"
[[ $(framework_of acme) == False ]] || fail "connect-framework should be off for acme"
[[ $(framework_of globex) == True ]] || fail "connect-framework must stay on for globex (tenant with plugins)"
[[ $(framework_of umbrella) == True ]] || fail "connect-framework must stay on for umbrella"
[[ $(cat "$STATE/release") == 2 ]] || fail "no rollback was needed"

journal_verifies
kinds=$(journal_kinds)
for k in config_loaded verify_started policy_tripped action_intent action_outcome verification policy_recovered incident_opened incident_resolved verify_finished; do
  grep -qw "$k" <<<"$kinds" || fail "journal lacks $k: $kinds"
done
python3 - "$STATE/incidents.jsonl" "$WORK/report.json" <<'PY' || fail "incident/report content"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
kinds = [e["event"] for e in events]
assert kinds[0] == "opened" and kinds[-1] == "resolved" and set(kinds[1:-1]) <= {"updated"}, kinds
assert "updated" in kinds, "responders hear of the flip before it is verified"
assert len({e["dedup_key"] for e in events}) == 1, "one incident per trip"
opened = events[0]
assert "pluginCount == 0" in opened["affected"], opened["affected"]
assert "editor-bootstrap.js" in opened["experience"], opened["experience"]
assert opened["since"] and opened["journal"], opened
assert any("connect-framework" in a for a in events[1]["actions"]), events[1]
report = json.load(open(sys.argv[2]))
assert report["exit_code"] == 1 and report["policies"][0]["state"] == "mitigated", report
assert report["policies"][0]["time_to_detect_seconds"] is not None
PY
grep -q "<failure" "$WORK/report.xml" || fail "JUnit report lacks the failure"
grep -q "time to detect" "$WORK/out.txt" || fail "summary lacks time to detect"
grep -q "time to mitigate" "$WORK/out.txt" || fail "summary lacks time to mitigate"
pass "demo scenario: targeted flip, recovery, incident, journal"
