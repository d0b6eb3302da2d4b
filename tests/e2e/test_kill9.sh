#!/usr/bin/env bash
# kill -9 in the middle of an action leaves a journal that verifies, with the
# intent recorded and no outcome; the next run continues the chain.
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^segment = .*/segment = "pluginCount > 100"/' -e 's/^verify_for = .*/verify_for = "3s"/'
cat >"$WORK/slow-rollback.sh" <<'SH'
#!/usr/bin/env bash
touch "$1/rollback-started"
sleep 30
SH
chmod +x "$WORK/slow-rollback.sh"
sed -i 's|^argv = \["./rollback.sh".*|argv = ["./slow-rollback.sh", ".state"]|' "$WORK/deployguard.toml"
start_wiki
deploy 2
"$DEPLOYGUARD_BIN" verify --config "$WORK/deployguard.toml" --release 2 >"$WORK/out.txt" 2>"$WORK/err.txt" &
pid=$!
for _ in $(seq 1 400); do [[ -e "$STATE/rollback-started" ]] && break; sleep 0.05; done
[[ -e "$STATE/rollback-started" ]] || fail "the rollback never started"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pkill -f "slow-rollback.sh" 2>/dev/null || true
journal_verifies
python3 - "$STATE/journal.jsonl" <<'PY' || fail "journal content after kill -9"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
kinds = [(r["kind"], r.get("data", {}).get("action")) for r in recs]
assert ("action_intent", "rollback") in kinds, kinds
assert ("action_outcome", "rollback") not in kinds, "the rollback never finished, so no outcome"
flag_outcomes = [r for r in recs if r["kind"] == "action_outcome" and r["data"]["action"] == "flag"]
assert len(flag_outcomes) == 1 and flag_outcomes[0]["data"]["ok"], flag_outcomes
PY
# The next run appends to the same chain.
sed -i 's|^argv = \["./slow-rollback.sh".*|argv = ["./rollback.sh", ".state", "1"]|' "$WORK/deployguard.toml"
dg verify --config "$WORK/deployguard.toml" --release 2 --bake 3s
journal_verifies
pass "kill -9 mid-action leaves a verifiable journal"
