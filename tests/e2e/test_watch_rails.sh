#!/usr/bin/env bash
# The safety rails on the watcher: a rollback with a veto window waits for a
# human (a flip never waits) and `deployguard veto` skips it; approved, it runs
# at once; with the budget spent (max_rollbacks = 0) it is blocked and
# journaled, and the ladder ends for a human.
source "$(dirname "$0")/lib.sh"

# The flip does not help (wrong segment), so the ladder escalates to its rollback.
setup_demo -e 's/^segment = .*/segment = "pluginCount > 100"/' -e 's/^verify_for = .*/verify_for = "2s"/' \
  -e 's/^rollback = "previous_release"/rollback = "previous_release"\nconfirm_within = "60s"/'
add_watch_section
start_wiki
start_watch
api POST /api/v1/releases '{"release":"2"}' >/dev/null
deploy 2
wait_for 20 grep -q '"kind":"action_delayed"' "$STATE/journal.jsonl" || fail "the rollback did not enter its veto window: $(tail -5 "$WORK/watch.log")"
grep -q '"action":"flag"' "$STATE/journal.jsonl" || fail "the flip ran before the window"
grep -q '"reason":"confirm"' "$STATE/journal.jsonl" || fail "delayed for the veto window"
[[ $(cat "$STATE/release") == 2 ]] || fail "the rollback ran inside its window"
[[ $(policy_state editor_initializes) == mitigating ]] || fail "waits as mitigating: $(policy_state editor_initializes)"
DG_ALARM_TOKEN=$DG_ALARM_TOKEN "$DEPLOYGUARD_BIN" veto --config "$WORK/deployguard.toml" --policy editor_initializes \
  --reason "we are fixing forward" >"$WORK/veto.out" 2>&1 || fail "veto: $(cat "$WORK/veto.out")"
wait_for 10 grep -q '"kind":"rollback_vetoed"' "$STATE/journal.jsonl" || fail "veto not journaled"
grep -q 'we are fixing forward' "$STATE/journal.jsonl" || fail "the veto's reason is journaled"
wait_for 10 bash -c "[[ \$(curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"state\":\"failed\"') -ge 1 ]]" ||
  fail "a vetoed last step leaves the policy to a human"
[[ $(cat "$STATE/release") == 2 ]] || fail "a vetoed rollback ran"
api POST /api/v1/policies/editor_initializes/approve '{}' >/dev/null
[[ $HTTP_STATUS == 409 ]] || fail "approve with nothing waiting: $HTTP_STATUS"
stop_watch
pass "veto window: flip at once, rollback held, vetoed"

# Approved: runs at once, well before its window ends.
rm -f "$STATE/journal.jsonl"* "$STATE/incidents.jsonl"
cp "$DG_SOURCE_DIR/examples/wiki/flags.json" "$STATE/flags.json"
start_watch
api POST /api/v1/releases '{"release":"2"}' >/dev/null
wait_for 20 grep -q '"kind":"action_delayed"' "$STATE/journal.jsonl" || fail "no veto window the second time"
api POST /api/v1/policies/editor_initializes/approve '{"who":"alice"}' >/dev/null
[[ $HTTP_STATUS == 200 ]] || fail "approve: $HTTP_STATUS $(cat "$WORK/api.body")"
wait_for 15 bash -c "[[ \$(cat '$STATE/release') == 1 ]]" || fail "the approved rollback did not run"
grep -q '"kind":"rollback_approved"' "$STATE/journal.jsonl" || fail "approval journaled"
stop_watch
pass "approved rollback runs at once"

# Budget spent: the rollback is blocked, journaled, and the ladder fails.
rm -f "$STATE/journal.jsonl"* "$STATE/incidents.jsonl"
cp "$DG_SOURCE_DIR/examples/wiki/flags.json" "$STATE/flags.json"
deploy 2
sed -i -e 's/^confirm_within = .*//' -e 's/^\[agent\]$/[agent]\nmax_rollbacks = 0/' "$WORK/deployguard.toml"
dg check --config "$WORK/deployguard.toml"
[[ $RC == 0 ]] || fail "config: $(cat "$WORK/out.txt" "$WORK/err.txt")"
start_watch
api POST /api/v1/releases '{"release":"2"}' >/dev/null
wait_for 20 grep -q '"kind":"action_blocked"' "$STATE/journal.jsonl" || fail "the rollback was not blocked: $(tail -5 "$WORK/watch.log")"
grep -q '"reason":"budget"' "$STATE/journal.jsonl" || fail "blocked by the budget"
[[ $(cat "$STATE/release") == 2 ]] || fail "a blocked rollback ran"
wait_for 10 grep -q '"status":"mitigation_failed"' "$STATE/incidents.jsonl" || fail "the incident says a human is needed"
grep -q 'rollback budget\|automated rollbacks are off' "$STATE/incidents.jsonl" || fail "the incident says why"
stop_watch
journal_verifies
pass "budget spent: blocked, journaled, left to a human"
