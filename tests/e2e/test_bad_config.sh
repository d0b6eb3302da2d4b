#!/usr/bin/env bash
# A bad config exits 2 with file:line:column diagnostics, for check and verify,
# and changes nothing.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^timeout = "2s"/timout = "2s"/' -e 's/^provider = "flags"/provider = "flag"/'
dg check --config "$WORK/deployguard.toml"
expect_rc 2
grep -q "deployguard.toml:[0-9]*:[0-9]*: probes.editor_zero_plugins.timout: unknown key 'timout' (did you mean 'timeout'?)" "$WORK/err.txt" \
  || fail "missing unknown-key diagnostic: $(cat "$WORK/err.txt")"
grep -q "unknown flag provider 'flag' (did you mean 'flags'?)" "$WORK/err.txt" || fail "missing reference diagnostic"
dg verify --config "$WORK/deployguard.toml" --release 2
expect_rc 2
[[ ! -e "$STATE/journal.jsonl" ]] || fail "a rejected config must not start a journal"
dg verify --config "$WORK/deployguard.toml"
expect_rc 2
dg check --config "$DG_SOURCE_DIR/examples/wiki/deployguard.toml"
expect_rc 0
grep -qx OK "$WORK/out.txt" || fail "check does not print OK"
dg frobnicate
expect_rc 2
pass "bad config and usage errors exit 2"
