#!/usr/bin/env bash
# A flip that does not help (wrong segment) escalates to the rollback: exit 1
# when the rollback restores users, exit 3 when the rollback itself fails.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^segment = .*/segment = "pluginCount > 100"/' -e 's/^verify_for = .*/verify_for = "4s"/'
start_wiki
deploy 2
dg verify --config "$WORK/deployguard.toml" --release 2
expect_rc 1
[[ $(cat "$STATE/release") == 1 ]] || fail "the rollback did not run"
editor_ok acme || fail "acme did not recover after the rollback"
kinds=$(journal_kinds)
grep -qw escalated <<<"$kinds" || fail "journal lacks escalated: $kinds"
grep -q "rolled back wiki to release 1" "$STATE/journal.jsonl" || fail "rollback output not journaled"
journal_verifies
pass "escalation to a working rollback exits 1"

# Same, but the rollback command fails.
sed -i 's|^argv = \["./rollback.sh".*|argv = ["sh", "-c", "echo rollback broke >\&2; exit 7"]|' "$WORK/deployguard.toml"
deploy 2
cp "$DG_SOURCE_DIR/examples/wiki/flags.json" "$STATE/flags.json"
dg verify --config "$WORK/deployguard.toml" --release 2
expect_rc 3
grep -q "rollback broke" "$STATE/journal.jsonl" || fail "rollback stderr not journaled"
grep -qw mitigation_failed <<<"$(journal_kinds)" || fail "journal lacks mitigation_failed"
grep -q "NOT MITIGATED" "$WORK/out.txt" || fail "summary does not call for a human"
journal_verifies
pass "failed rollback exits 3"
