#!/usr/bin/env bash
# A journal in small segments (agent.journal_segment_size = 4096): runs rotate
# it many times; a run killed mid-ladder is reconciled from records spread
# over several segments; `journal verify` checks the chain across them, names
# a modified sealed segment and its line, and reports a missing one; a second
# guard is refused while the first holds the journal, rotations and all.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^verify_for = .*/verify_for = "20s"/' \
  -e 's|^journal = .*|&\njournal_segment_size = 4096|'
start_wiki
deploy 2
J=$STATE/journal.jsonl
# Every record, in chain order: sealed segments oldest first, then the live file.
all_records() { cat $(ls "$J".[0-9]* 2>/dev/null | sort) "$J" 2>/dev/null; }
wait_for_kind() {  # kind, count
  for _ in $(seq 1 400); do
    [[ $(all_records | grep -c "\"kind\":\"$1\"") -ge $2 ]] && return 0
    sleep 0.05
  done
  fail "no $1 record #$2 in the journal"
}

# Run 1 flips the flag and dies before its ladder ends. Meanwhile a second
# guard is refused, whatever rotation the first is in.
"$DEPLOYGUARD_BIN" verify --config "$WORK/deployguard.toml" --release 2 >"$WORK/out1.txt" 2>"$WORK/err1.txt" &
pid=$!
wait_for_kind verify_started 1
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 1s
expect_rc 2
grep -q "in use" "$WORK/err.txt" || fail "the second guard was not refused as in use: $(cat "$WORK/err.txt")"
wait_for_kind action_outcome 1
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 1s
expect_rc 2
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
ls "$J".000001 >/dev/null 2>&1 || fail "run 1 did not rotate the journal: $(ls "$STATE")"
journal_verifies

# Run 2 reconciles run 1 (its records span segments) and keeps its flip.
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s --json "$WORK/report.json"
expect_rc 1
journal_verifies
dg journal verify "$J"
expect_rc 0
grep -qE "chain intact" "$WORK/out.txt" && grep -qE "in [0-9]+ files" "$WORK/out.txt" || fail "verify output: $(cat "$WORK/out.txt")"
python3 - "$J" "$WORK/report.json" <<'PY' || fail "the chain across segments and the reconciliation"
import glob, json, os, sys
live = sys.argv[1]
files = sorted(glob.glob(live + ".[0-9]*")) + [live]
assert len(files) >= 4, files  # .000002 is a middle segment below
recs, prev = [], "0" * 64
for f in files:
    lines = open(f).read().splitlines()
    assert lines, f
    assert os.path.getsize(f) <= 4096 or len(lines) == 1, (f, os.path.getsize(f))
    for l in lines:
        r = json.loads(l)
        assert r["seq"] == len(recs) + 1 and r["prev"] == prev, (f, r["seq"])
        prev = r["hash"]
        recs.append(r)
runs = [r["run"] for r in recs if r["kind"] == "config_loaded"]
assert len(runs) == 2, runs
rec = [r for r in recs if r["kind"] == "reconciled"]
assert len(rec) == 1 and rec[0]["run"] == runs[1] and rec[0]["data"]["run"] == runs[0], rec
assert rec[0]["data"]["flips"][0]["decision"] == "kept", rec[0]["data"]
report = json.load(open(sys.argv[2]))
assert report["journal_head"] == "%d:%s" % (recs[-1]["seq"], recs[-1]["hash"]), report["journal_head"]
PY
head=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["journal_head"])' "$WORK/report.json")
dg journal verify "$J" --head "$head"
expect_rc 0

# A record modified in a sealed segment: named with its segment and line.
cp "$J.000002" "$WORK/keep"
sed -i '2s/"kind":"\([a-z_]*\)"/"kind":"\1X"/' "$J.000002"
dg journal verify "$J"
expect_rc 1
grep -q "^BROKEN: $J.000002:2: record [0-9]* was modified" "$WORK/out.txt" || fail "not named: $(cat "$WORK/out.txt")"
# Verify runs write no checkpoint, so the next run verifies everything and refuses.
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 1s
expect_rc 2
grep -q "will not be extended" "$WORK/err.txt" || fail "a modified sealed segment was not refused: $(cat "$WORK/err.txt")"
cp "$WORK/keep" "$J.000002"

# A missing middle segment.
mv "$J.000002" "$WORK/keep"
dg journal verify "$J"
expect_rc 1
grep -q "segment $J.000002 is missing" "$WORK/out.txt" || fail "missing segment not reported: $(cat "$WORK/out.txt")"
mv "$WORK/keep" "$J.000002"
journal_verifies
pass "a segmented journal: rotated, reconciled across segments, verified across them, locked throughout"
