#!/usr/bin/env bash
# The dead-man's switch: a webhook sink with `heartbeat` gets a signed
# heartbeat from `watch` every period while it lives, and none after it stops.
source "$(dirname "$0")/lib.sh"
HOOK_PORTFILE=$WORK/hook.port
python3 "$DG_SOURCE_DIR/tests/support/webhook_recorder.py" "$HOOK_PORTFILE" "$WORK/hook.jsonl" &
EXTRA_PIDS+=($!)
wait_for 5 test -s "$HOOK_PORTFILE" || fail "webhook did not start"
HOOK_PORT=$(cat "$HOOK_PORTFILE")
setup_demo
add_watch_section
echo "whsec-e2e-heartbeat" >"$WORK/hook.secret"
cat >>"$WORK/deployguard.toml" <<TOML

[incident_sinks.deadman]
type = "webhook"
url = "http://127.0.0.1:$HOOK_PORT/heartbeat"
signing_secret = "file:hook.secret"
heartbeat = "500ms"
TOML
start_wiki
start_watch
wait_for 10 bash -c "[[ \$(grep -c '\"event\":\"heartbeat\"' '$WORK/hook.jsonl' 2>/dev/null) -ge 3 ]]" ||
  fail "fewer than 3 heartbeats: $(cat "$WORK/hook.jsonl" 2>/dev/null) $(tail -5 "$WORK/watch.log")"
stop_watch
after=$(grep -c '"event":"heartbeat"' "$WORK/hook.jsonl")
sleep 1.5
[[ $(grep -c '"event":"heartbeat"' "$WORK/hook.jsonl") == "$after" ]] || fail "heartbeats went on after the guard stopped"
grep -q "whsec-e2e-heartbeat" "$WORK/watch.log" "$STATE/journal.jsonl" && fail "the signing secret leaked"
pass "heartbeat every period while watch lives, none after"
