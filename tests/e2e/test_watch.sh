#!/usr/bin/env bash
# deployguard watch beside the demo: a release announced by CI breaks the
# editor for zero-plugin tenants; the watcher flips the flag for them within
# seconds, opens the incident and resolves it when they recover. A second
# release is judged on its own; a broken config reload keeps the old one; an
# unauthorized alarm is refused and journals nothing; the fix release lifts
# the mitigation and the flag is back as before; SIGTERM exits 0.
source "$(dirname "$0")/lib.sh"
setup_demo
add_watch_section
cp "$STATE/flags.json" "$WORK/flags.before.json"
start_wiki
start_watch

[[ $(policy_state editor_initializes) == watching ]] || fail "starts watching"
# CI announces release 2, then deploys it.
api POST /api/v1/releases '{"release":"2","who":"ci"}' >/dev/null
[[ $HTTP_STATUS == 200 ]] || fail "release announce: $HTTP_STATUS $(cat "$WORK/api.body")"
deploy 2
wait_for 15 bash -c "[[ \$(curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"state\":\"mitigated\"') -ge 1 ]]" ||
  fail "not mitigated: $(tail -20 "$WORK/watch.log")"
editor_ok acme || fail "the zero-plugin tenant recovered"
[[ $(framework_of globex) == True && $(framework_of acme) == False ]] || fail "only the segment was switched off"
grep -q '"event":"opened"' "$STATE/incidents.jsonl" || fail "incident opened"
grep -q '"event":"resolved"' "$STATE/incidents.jsonl" || fail "incident resolved"

# /metrics: our own strict parser and promtool both accept it.
curl -fsS "http://127.0.0.1:$WATCH_PORT/metrics" >"$WORK/metrics.txt"
"$DEPLOYGUARD_BIN" exposition check "$WORK/metrics.txt" >/dev/null || fail "exposition check: $("$DEPLOYGUARD_BIN" exposition check "$WORK/metrics.txt")"
if command -v promtool >/dev/null; then promtool check metrics <"$WORK/metrics.txt" || fail "promtool check metrics"; fi
grep -q '^deployguard_policy_state{policy="editor_initializes",state="mitigated"} 1' "$WORK/metrics.txt" || fail "state metric"
grep -q '^deployguard_time_to_mitigate_seconds_count 1' "$WORK/metrics.txt" || fail "TTM histogram"
grep -q '^deployguard_actions_total{kind="flag",outcome="applied"} 1' "$WORK/metrics.txt" || fail "actions metric: $(grep actions_total "$WORK/metrics.txt")"

# Unauthorized alarm: 401, nothing journaled.
before=$(wc -l <"$STATE/journal.jsonl")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"reason":"x"}' "http://127.0.0.1:$WATCH_PORT/api/v1/alarm")
[[ $code == 401 ]] || fail "unauthorized alarm got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer wrong' -d '{"reason":"x"}' "http://127.0.0.1:$WATCH_PORT/api/v1/alarm")
[[ $code == 401 ]] || fail "wrong-token alarm got $code"
[[ $(wc -l <"$STATE/journal.jsonl") == "$before" ]] || fail "an unauthorized alarm journaled something"
api POST /api/v1/alarm '{not json' >/dev/null
[[ $HTTP_STATUS == 400 ]] || fail "bad JSON got $HTTP_STATUS"

# The button, from the shell: an incident; a second press for the same scope updates it.
dg alarm --config "$WORK/deployguard.toml" --reason "search is slow" --scope "tenant acme" --who alice
expect_rc 0
key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["incident"])' "$WORK/out.txt")
dg alarm --config "$WORK/deployguard.toml" --reason "still slow" --scope "tenant acme"
expect_rc 0
grep -q "$key" "$WORK/out.txt" || fail "the second press updates the same incident"
[[ $(grep -c "\"dedup_key\":\"$key\"" "$STATE/incidents.jsonl") -ge 2 ]] || fail "two events for the alarm incident"

# A broken reload keeps the old config.
cp "$WORK/deployguard.toml" "$WORK/good.toml"
echo 'consecutive_failures = "three"' >>"$WORK/deployguard.toml"
kill -HUP "$WATCH_PID"
wait_for 5 grep -q "reload rejected" "$WORK/watch.log" || fail "the bad reload is reported"
[[ $(policy_state editor_initializes) == mitigated ]] || fail "state kept after a rejected reload"
# (read whole first: grep -q would stop reading, and pipefail would fail the curl)
curl -fsS "http://127.0.0.1:$WATCH_PORT/metrics" >"$WORK/metrics2.txt"
grep -qE '^deployguard_config_reloads_total\{result="failure"\} [1-9]' "$WORK/metrics2.txt" || fail "reload failure metric: $(grep reloads "$WORK/metrics2.txt")"
cp "$WORK/good.toml" "$WORK/deployguard.toml"

# The fix ships (release 3 serves the editor again) and is announced as fixing the policy:
# the flag is restored, watched for verify_for, and the incident closed.
deploy 1
api POST /api/v1/releases '{"release":"3","fixes":["editor_initializes"],"who":"ci"}' >/dev/null
[[ $HTTP_STATUS == 200 ]] || fail "fix release: $HTTP_STATUS $(cat "$WORK/api.body")"
wait_for 20 grep -q '"kind":"mitigation_lifted"' "$STATE/journal.jsonl" || fail "mitigation not lifted: $(tail -5 "$WORK/watch.log")"
cmp -s "$STATE/flags.json" "$WORK/flags.before.json" || fail "the flag file is back as before"
[[ $(policy_state editor_initializes) == watching ]] || fail "watching again"
grep -q '"status":"fixed"' "$STATE/incidents.jsonl" || fail "incident closed as fixed"

# A release announced with a bake gets its verdict when the bake ends.
api POST /api/v1/releases '{"release":"3.1","bake":"3s"}' >/dev/null
[[ $HTTP_STATUS == 200 ]] || fail "bake release: $HTTP_STATUS $(cat "$WORK/api.body")"
wait_for 10 grep -q '"kind":"release_baked"' "$STATE/journal.jsonl" || fail "no release_baked"
grep '"kind":"release_baked"' "$STATE/journal.jsonl" | grep -q '"release":"3.1","verdict":"healthy"' || fail "release 3.1 baked healthy: $(grep release_baked "$STATE/journal.jsonl")"
api POST /api/v1/releases '{"release":"x","bake":"soon"}' >/dev/null
[[ $HTTP_STATUS == 400 ]] || fail "a bad bake is refused: $HTTP_STATUS"

# A later bad release is judged on its own: a new incident.
api POST /api/v1/releases '{"release":"4"}' >/dev/null
deploy 2
wait_for 15 bash -c "[[ \$(grep -c '\"kind\":\"policy_tripped\"' $STATE/journal.jsonl) -ge 2 ]]" || fail "release 4 trips"
python3 - "$STATE/journal.jsonl" <<'PY' || fail "release 4 judged on its own"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
trips = [r for r in recs if r["kind"] == "policy_tripped"]
assert [t["data"]["release"] for t in trips] == ["2", "4"], [t["data"]["release"] for t in trips]
assert trips[0]["data"]["incident"]["key"] != trips[1]["data"]["incident"]["key"]
PY
wait_for 15 bash -c "[[ \$(curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"state\":\"mitigated\"') -ge 1 ]]" || fail "release 4 mitigated"

stop_watch
journal_verifies
[[ $(tail -1 "$STATE/journal.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kind"])') == watch_stopped ]] || fail "watch_stopped last"
pass "watch: flip within seconds, incident opened and resolved, 401 journals nothing, bad reload kept, fix lifted, next release judged on its own"
