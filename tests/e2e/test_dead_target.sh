#!/usr/bin/env bash
# No successful observation of a dead target is never "healthy": the default
# policy says inconclusive (exit 4); with on_errors = "trip" it acts (exit 1 or 3).
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^bake = .*/bake = "4s"/'
# No wiki started: every probe gets "connection refused".
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 4s
expect_rc 4
grep -q "INCONCLUSIVE" "$WORK/out.txt" || fail "summary does not say inconclusive"
grep -q "consecutive errors" "$WORK/out.txt" || fail "summary does not say why"
grep -qw policy_inconclusive <<<"$(journal_kinds)" || fail "journal lacks policy_inconclusive"
pass "dead target, default policy: exit 4"

sed -i 's/^max_consecutive_errors = .*/max_consecutive_errors = 3\non_errors = "trip"/' "$WORK/deployguard.toml"
sed -i 's/^verify_for = .*/verify_for = "2s"/' "$WORK/deployguard.toml"
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 4s
[[ $RC -eq 1 || $RC -eq 3 ]] || fail "expected 1 or 3 with on_errors=trip, got $RC"
[[ $RC -eq 3 ]] || fail "nothing revives a dead target here; expected 3, got $RC"
journal_verifies
pass "dead target, on_errors=trip: exit $RC"
