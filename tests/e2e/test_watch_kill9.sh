#!/usr/bin/env bash
# kill -9 of the watcher in the middle of a remediation, at each step — right
# after the flip's intent, right after the flip, during the rollback, during
# the incident's delivery — then a restart on the same journal: exactly one
# flip and one incident in the journal, and at the webhook every delivery
# carries the same dedup key (at-least-once, so a deduplicating sink shows one).
source "$(dirname "$0")/lib.sh"

HOOK_PORTFILE=$WORK/hook.port
python3 "$DG_SOURCE_DIR/tests/support/webhook_recorder.py" "$HOOK_PORTFILE" "$WORK/hook.jsonl" &
EXTRA_PIDS+=($!)
wait_for 5 test -s "$HOOK_PORTFILE" || fail "webhook did not start"
HOOK_PORT=$(cat "$HOOK_PORTFILE")

fresh() {  # fresh [sed expressions]: a new demo state, the watcher's config with a webhook sink
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; fi
  rm -rf "$STATE" "$WORK/hook.jsonl" "$WORK/watch.log"
  setup_demo "$@"
  add_watch_section
  cat >>"$WORK/deployguard.toml" <<TOML

[incident_sinks.hook]
type = "webhook"
url = "http://127.0.0.1:$HOOK_PORT/incidents"
timeout = "20s"
max_attempts = 2
backoff = "100ms"
TOML
}

# One flip intent, one trip, one incident key everywhere.
check_once() {
  python3 - "$STATE/journal.jsonl" "$WORK/hook.jsonl" "$1" <<'PY' || fail "$1: acted twice"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
what = sys.argv[3]
flips = [r for r in recs if r["kind"] == "action_intent" and r["data"]["action"] == "flag"]
assert len(flips) == 1, (what, "flag intents", len(flips))
trips = [r for r in recs if r["kind"] == "policy_tripped"]
keys = {t["data"]["incident"]["key"] for t in trips}
assert len(keys) == 1, (what, "incident keys in trips", keys)
hook = [json.loads(l) for l in open(sys.argv[2])]
assert hook, (what, "the webhook received nothing")
assert {h["dedup_key"] for h in hook} == keys, (what, {h["dedup_key"] for h in hook}, keys)
assert sum(1 for h in hook if h["event"] == "opened") >= 1, what
PY
}

# --- 1. killed right after the flip's intent (the flip may or may not have landed) ---
fresh -e 's/^verify_for = .*/verify_for = "6s"/'
start_wiki
start_watch
api POST /api/v1/releases '{"release":"2"}' >/dev/null
deploy 2
wait_for 15 grep -q '"kind":"action_outcome"' "$STATE/journal.jsonl" || fail "no flip"
kill9_watch
python3 - "$STATE/journal.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines(True)
cut = next(i for i, l in enumerate(lines) if json.loads(l)["kind"] == "action_intent")
open(sys.argv[1], "w").write("".join(lines[:cut + 1]))
PY
start_watch
wait_for 20 bash -c "[[ \$(curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"state\":\"mitigated\"') -ge 1 ]]" ||
  fail "after intent: not mitigated after the restart: $(curl -sS http://127.0.0.1:$WATCH_PORT/api/v1/status)"
wait_for 10 grep -q '"event":"resolved"' "$WORK/hook.jsonl" || fail "after intent: incident not resolved"
stop_watch
journal_verifies
check_once "after intent"
grep -q '"kind":"reconciled"' "$STATE/journal.jsonl" || fail "after intent: not reconciled"
echo "ok: after intent"

# --- 2. killed right after the flip (outcome journaled, verification in progress) ---
fresh -e 's/^verify_for = .*/verify_for = "6s"/' -e 's/^recovery_passes = .*/recovery_passes = 8/'
start_wiki
start_watch
api POST /api/v1/releases '{"release":"2"}' >/dev/null
deploy 2
wait_for 15 grep -q '"kind":"action_outcome"' "$STATE/journal.jsonl" || fail "no flip"
kill9_watch
start_watch
wait_for 20 bash -c "[[ \$(curl -fsS http://127.0.0.1:$WATCH_PORT/api/v1/status | grep -c '\"state\":\"mitigated\"') -ge 1 ]]" ||
  fail "after flip: not mitigated after the restart: $(tail -5 "$WORK/watch.log")"
wait_for 10 grep -q '"event":"resolved"' "$WORK/hook.jsonl" || fail "after flip: incident not resolved"
stop_watch
journal_verifies
check_once "after flip"
echo "ok: after flip"

# --- 3. killed during the rollback (the flip does not help; the rollback is slow) ---
fresh -e 's/^segment = .*/segment = "pluginCount > 100"/' -e 's/^verify_for = .*/verify_for = "3s"/' \
  -e 's|^argv = \["./rollback.sh".*|argv = ["sh", "-c", "sleep 2; exec ./rollback.sh .state 1"]|'
start_wiki
start_watch
api POST /api/v1/releases '{"release":"2"}' >/dev/null
deploy 2
wait_for 25 bash -c "grep -q '\"rollback\":\"previous_release\"' $STATE/journal.jsonl" || fail "no rollback started: $(tail -5 "$WORK/watch.log")"
kill9_watch
start_watch
sleep 4
stop_watch
journal_verifies
check_once "during rollback"
python3 - "$STATE/journal.jsonl" <<'PY' || fail "during rollback: not handed to a human"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
rec = [r for r in recs if r["kind"] == "reconciled"]
assert rec and rec[0]["data"]["human_needed"], rec
rollbacks = [r for r in recs if r["kind"] == "action_intent" and r["data"]["action"] == "rollback"]
assert len(rollbacks) == 1, "the rollback is not run again by itself: %d" % len(rollbacks)
PY
echo "ok: during rollback"

# --- 4. killed while the incident's delivery is in flight ---
fresh -e 's/^verify_for = .*/verify_for = "6s"/'
touch "$WORK/hook.jsonl.stall"
start_wiki
start_watch
api POST /api/v1/releases '{"release":"2"}' >/dev/null
deploy 2
wait_for 15 test -s "$WORK/hook.jsonl" || fail "no delivery started"
kill9_watch
rm -f "$WORK/hook.jsonl.stall"
start_watch
wait_for 20 grep -q '"event":"resolved"' "$WORK/hook.jsonl" || fail "during delivery: the resolution never arrived: $(tail -5 "$WORK/watch.log")"
stop_watch
journal_verifies
check_once "during delivery"
echo "ok: during delivery"
pass "kill -9 at each step of a remediation: one flip, one incident, the same dedup key at the sink"
