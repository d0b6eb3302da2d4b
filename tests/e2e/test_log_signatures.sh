#!/usr/bin/env bash
# The logs catch what no probe checks: with the probe rule out of reach (1,000 failures in a row), the
# wiki's module-list warning surging for zero-plugin tenants in release 2 trips
# the policy's log condition (the canary's sequential test, per second against
# the 8 s before the release); the summary names the signature with its counts
# before and after; the flip is verified and journaled. Also: `logs mine`
# prints an id and a template per line, and `logs top` the dashboard.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^consecutive_failures = 3/consecutive_failures = 1000/'
grep -q '^consecutive_failures = 1000' "$WORK/deployguard.toml" || fail "the scenario's probe rule is still on"
start_wiki
users() {
  while true; do
    for t in acme initech globex umbrella; do curl -s -o /dev/null "http://127.0.0.1:$PORT/edit?tenant=$t"; done
    sleep 0.1
  done
}
users &
EXTRA_PIDS+=($!)
sleep 9  # the baseline: 8 s of release 1
deploy 2
dg verify --config "$WORK/deployguard.toml" --release 2 --json "$WORK/report.json"
expect_rc 1
grep -q 'logs editor_initializes/module_list_warnings: 1 signature(s) surged: surge \[' "$WORK/out.txt" || fail "no surge in the summary: $(cat "$WORK/out.txt")"
grep -q "editor module list for tenant <\*> <\*> modules resolved, optional module '<\*>' not found\": [0-9]* of [0-9]* lines in the 8 s before, [0-9]* of [0-9]* in the" "$WORK/out.txt" \
  || fail "the signature and its counts before and after are not in the summary"
[[ $(framework_of acme) == False ]] || fail "connect-framework should be off for acme"
[[ $(framework_of globex) == True ]] || fail "connect-framework must stay on for globex"
journal_verifies
grep -q '"kind":"policy_tripped".*surge' "$STATE/journal.jsonl" || fail "the trip's record lacks the log evidence"

# The miner from the outside: one id and template per line.
cp "$STATE/wiki.log" "$WORK/wiki.log"  # the users still write to it
"$DEPLOYGUARD_BIN" logs mine --config "$WORK/deployguard.toml" --source wiki "$WORK/wiki.log" >"$WORK/mine.tsv"
[[ $(wc -l <"$WORK/mine.tsv") == $(wc -l <"$WORK/wiki.log") ]] || fail "logs mine: not one line out per line in"
[[ $(cut -f1 "$WORK/mine.tsv" | sort -u | wc -l) -le 3 ]] || fail "logs mine: the wiki's two messages became more than three signatures"
"$DEPLOYGUARD_BIN" logs mine --json "$WORK/wiki.log" | head -1 | python3 -c 'import json,sys; o=json.load(sys.stdin); assert set(o) >= {"line","id","template","level"}, o' \
  || fail "logs mine --json"
"$DEPLOYGUARD_BIN" logs top --config "$WORK/deployguard.toml" --source wiki --since 20s >"$WORK/top.txt" || fail "logs top failed"
grep -q "editor module list for tenant" "$WORK/top.txt" || fail "logs top does not show the warning: $(cat "$WORK/top.txt")"
pass "a surging log signature tripped the policy and the summary shows it with its counts"
