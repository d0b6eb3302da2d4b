#!/usr/bin/env bash
# The product story: release 2 breaks the editor for zero-plugin tenants; the
# guard flips connect-framework off for pluginCount == 0 only, confirms they
# recovered, opens one incident and journals everything. Exit 1.
DEMO_BROWSER=1
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
# What users saw: the browser probe's screenshot of the broken editor, a PNG
# of the viewport's size, referenced by path and SHA-256 from the journal,
# the incident and the report.
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" "$WORK/report.json" <<'PY' || fail "screenshot evidence"
import hashlib, json, os, struct, sys
records = [json.loads(l) for l in open(sys.argv[1])]
shots = []
for r in records:
    for o in r.get("data", {}).get("evidence", []) or []:
        shots += [a for a in o.get("artifacts", []) if a["kind"] == "screenshot"]
assert shots, "no screenshot referenced from the journal"
a = shots[0]
png = open(a["path"], "rb").read()
assert hashlib.sha256(png).hexdigest() == a["sha256"] and os.path.basename(a["path"]) == a["sha256"] + ".png", a
assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", "not a PNG"
assert struct.unpack(">II", png[16:24]) == (1280, 800), struct.unpack(">II", png[16:24])
incidents = [json.loads(l) for l in open(sys.argv[2])]
assert any(a["path"] in i["experience"] and "selector #editor not visible" in i["experience"] for i in incidents), \
    [i["experience"] for i in incidents]
report = json.load(open(sys.argv[3]))
assert any(x["sha256"] == a["sha256"] for x in report["policies"][0].get("artifacts", [])), report["policies"][0]
PY
grep -q "<failure" "$WORK/report.xml" || fail "JUnit report lacks the failure"
grep -q "time to detect" "$WORK/out.txt" || fail "summary lacks time to detect"
grep -q "time to mitigate" "$WORK/out.txt" || fail "summary lacks time to mitigate"
pass "demo scenario: targeted flip, recovery, incident, journal"
