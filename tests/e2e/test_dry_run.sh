#!/usr/bin/env bash
# --dry-run changes nothing (flags, release, incidents) and journals "would have".
source "$(dirname "$0")/lib.sh"
setup_demo
start_wiki
deploy 2
flags_before=$(sha256sum "$STATE/flags.json")
dg verify --config "$WORK/deployguard.toml" --release 2 --dry-run
[[ $RC -ne 0 ]] || fail "a tripped dry run must not exit 0"
expect_rc 3
[[ $(sha256sum "$STATE/flags.json") == "$flags_before" ]] || fail "dry run changed the flags"
[[ $(cat "$STATE/release") == 2 ]] || fail "dry run rolled back"
[[ ! -e "$STATE/incidents.jsonl" ]] || fail "dry run opened an incident"
editor_ok acme && fail "nothing should have fixed acme"
kinds=$(journal_kinds)
grep -qw would_have <<<"$kinds" || fail "journal lacks would_have"
grep -qw action_intent <<<"$kinds" && fail "dry run journaled an action intent"
grep -q "dry run" "$WORK/err.txt" || fail "progress does not say dry run"
python3 - "$STATE/journal.jsonl" <<'PY' || fail "the would_have flag record lacks the state it would write"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
flag = [r for r in recs if r["kind"] == "would_have" and r["data"].get("action") == "flag"]
assert flag and "targeting" in json.dumps(flag[0]["data"]["would_write"]), flag
assert "targeting" not in json.dumps(flag[0]["data"]["current_state"]), flag
PY
journal_verifies
pass "dry run changes nothing"
