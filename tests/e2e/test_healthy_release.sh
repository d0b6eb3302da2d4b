#!/usr/bin/env bash
# A healthy release bakes to the end and exits 0; nothing is touched.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^bake = .*/bake = "4s"/'
start_wiki
before=$(sha256sum "$STATE/flags.json")
dg verify --config "$WORK/deployguard.toml" --release 1 --bake 4s --junit "$WORK/report.xml"
expect_rc 0
[[ $(sha256sum "$STATE/flags.json") == "$before" ]] || fail "flags changed on a healthy release"
[[ ! -e "$STATE/incidents.jsonl" ]] || fail "an incident was opened for a healthy release"
grep -q "HEALTHY" "$WORK/out.txt" || fail "summary does not say healthy"
grep -q 'failures="0"' "$WORK/report.xml" || fail "JUnit report shows failures"
journal_verifies
grep -qw policy_healthy <<<"$(journal_kinds)" || fail "journal lacks policy_healthy"
pass "healthy release exits 0"
