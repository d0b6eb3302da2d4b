#!/usr/bin/env bash
# `deployguard review` and `deployguard kpi` on the journals of three verify
# scenarios — mitigated by the segment flip, escalated to a rollback that
# restored users, a rollback that failed — checked against the journal's own
# facts (tests/support/review_check.py): TTD and TTM as journaled, every
# action once and in order, the journal head, HTML that tidy accepts, and no
# secret, though the rollback prints one (set from the environment) and the
# journal redacts it. The hand-raised alarm is checked in test_status_page.sh.
source "$(dirname "$0")/lib.sh"
command -v tidy >/dev/null || fail "tidy is not installed (scripts/install-deps.sh installs it)"
export DG_E2E_REVIEW_SECRET="rvw-$RANDOM$RANDOM-secret"
setup_demo
# The rollback says the secret on its way (as a careless script would).
sed -i 's|^argv = \["./rollback.sh".*|argv = ["sh", "-c", "echo using token $DG_E2E_REVIEW_SECRET; ./rollback.sh .state 1"]\nenv = { DG_E2E_REVIEW_SECRET = "env:DG_E2E_REVIEW_SECRET" }|' "$WORK/deployguard.toml"
cp "$WORK/deployguard.toml" "$WORK/base.toml"
start_wiki

# run NAME RC OUTCOME [sed expressions]: one verify of release 2 on a fresh journal.
run() {
  local name=$1 rc=$2 outcome=$3
  shift 3
  sed "$@" -e "s|^journal = .*|journal = \".state/$name.jsonl\"|" "$WORK/base.toml" >"$WORK/deployguard.toml"
  cp "$DG_SOURCE_DIR/examples/wiki/flags.json" "$STATE/flags.json"
  deploy 2
  dg verify --config "$WORK/deployguard.toml" --release 2
  expect_rc "$rc"
  grep -q "$DG_E2E_REVIEW_SECRET" "$STATE/$name.jsonl" && fail "$name: the journal holds the secret"
  python3 "$DG_SOURCE_DIR/tests/support/review_check.py" "$DEPLOYGUARD_BIN" "$STATE/$name.jsonl" "$WORK/$name" \
    --secret "$DG_E2E_REVIEW_SECRET" --expect-state "$outcome" || fail "$name: review check"
}
wrong_segment=(-e 's/^segment = .*/segment = "pluginCount > 100"/' -e 's/^verify_for = .*/verify_for = "4s"/')
run mitigated 1 "mitigated: users recovered"
run escalated 1 "mitigated: users recovered" "${wrong_segment[@]}"
grep -q "REDACTED" "$WORK/escalated/"*.md || fail "the rollback's output (with the secret redacted) is in the review"
run failed 3 "NOT mitigated" "${wrong_segment[@]}" -e 's|^argv = \["sh".*|argv = ["sh", "-c", "echo rollback broke $DG_E2E_REVIEW_SECRET >\&2; exit 7"]|'
grep -q "NOT mitigated" "$WORK/failed/"*.md || fail "the failed ladder's review says it was not mitigated"
grep -q "exit code 7" "$WORK/failed/"*.md || fail "the failed rollback's exit code is in the review"

# A review of the whole journal with --since, to a file; an unknown incident is an error.
dg review --journal "$STATE/mitigated.jsonl" --since 1d --out "$WORK/all.md"
expect_rc 0
grep -q "^# wiki: editor_initializes tripped after release 2" "$WORK/all.md" || fail "review --since: $(head -5 "$WORK/all.md")"
dg review --journal "$STATE/mitigated.jsonl" --incident dg-nonesuch
expect_rc 1
dg review --journal "$WORK/nothing-here.jsonl"
expect_rc 2

# KPIs over the three journals: three incidents, medians and p90 by nearest rank.
dg kpi --journal "$STATE/mitigated.jsonl" "$STATE/escalated.jsonl" "$STATE/failed.jsonl" --format json
expect_rc 0
python3 - "$WORK/out.txt" "$STATE" <<'PY' || fail "kpi json: $(cat "$WORK/out.txt")"
import json, math, sys
k = json.load(open(sys.argv[1]))
recs = {n: [json.loads(l) for l in open(f"{sys.argv[2]}/{n}.jsonl")] for n in ("mitigated", "escalated", "failed")}
assert k["percentiles"] == "nearest-rank"
assert len(k["incidents"]) == 3, k["incidents"]
ttm = sorted(r["data"]["time_to_mitigate_ms"] for rs in recs.values() for r in rs if r["kind"] == "policy_recovered")
assert sorted(i["ttm_ms"] for i in k["incidents"] if i["ttm_ms"] is not None) == ttm, (k["incidents"], ttm)
assert k["ttm"]["n"] == 2 and k["ttm"]["median_ms"] == ttm[0] and k["ttm"]["p90_ms"] == ttm[1], k["ttm"]
ttd = sorted(i["ttd_ms"] for i in k["incidents"])
assert k["ttd"]["median_ms"] == ttd[math.ceil(0.5 * 3) - 1] and k["ttd"]["p90_ms"] == ttd[2], k["ttd"]
s = k["services"][0]
assert s["service"] == "wiki" and s["incidents"] == 3 and s["best_ttm"]["ms"] == ttm[0] and s["worst_ttm"]["ms"] == ttm[1]
assert len(k["months"]) == 1 and k["months"][0]["incidents"] == 3
PY
dg kpi --journal "$STATE/mitigated.jsonl" "$STATE/escalated.jsonl" "$STATE/failed.jsonl"
expect_rc 0
grep -q "nearest-rank" "$WORK/out.txt" && grep -q "per month (UTC)" "$WORK/out.txt" || fail "kpi table: $(cat "$WORK/out.txt")"
dg kpi --journal "$STATE/mitigated.jsonl" --since "2200-01-01"
expect_rc 0
grep -q "^0 incident(s)" "$WORK/out.txt" || fail "kpi --since in the future: $(head -2 "$WORK/out.txt")"
dg kpi --journal "$STATE/mitigated.jsonl" --since yesterday
expect_rc 2
pass "review: TTD/TTM as journaled, every action once in order, tidy-clean HTML, no secret; kpi: nearest-rank medians and p90"
