#!/usr/bin/env bash
# The browser probe on the watcher's loop deciding the trip (the policy
# judges it and the plugin tenant's http probe only): release 2 breaks the
# editor for zero-plugin tenants; the watcher mitigates, and the incident
# and the journal name the screenshot of the broken editor (a PNG, by its
# hash). SIGTERM exits 0 and leaves no browser behind.
DEMO_BROWSER=1
source "$(dirname "$0")/lib.sh"
setup_demo -e 's/^probes = \["editor_zero_plugins", /probes = [/'
add_watch_section
start_wiki
start_watch
api POST /api/v1/releases '{"release":"2","who":"ci"}' >/dev/null
[[ $HTTP_STATUS == 200 ]] || fail "release announce: $HTTP_STATUS"
deploy 2
wait_for 45 bash -c "grep -q '\"event\":\"resolved\"' '$STATE/incidents.jsonl' 2>/dev/null" ||
  fail "not mitigated and resolved: $(tail -20 "$WORK/watch.log")"
python3 - "$STATE/journal.jsonl" "$STATE/incidents.jsonl" <<'PY' || fail "screenshot evidence from watch"
import hashlib, json, sys
shots = [a for l in open(sys.argv[1]) for o in (json.loads(l).get("data", {}).get("evidence") or [])
         for a in o.get("artifacts", []) if a["kind"] == "screenshot"]
assert shots, "no screenshot in the journal"
png = open(shots[0]["path"], "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n" and hashlib.sha256(png).hexdigest() == shots[0]["sha256"]
assert any(shots[0]["sha256"] in json.loads(l)["experience"] for l in open(sys.argv[2])), "incident lacks it"
PY
pgid=$(pgrep -f -- "--user-data-dir=.*deployguard-chromium" -P "$WATCH_PID" | head -1 || true)
stop_watch
if [[ -n "$pgid" ]]; then
  sleep 0.5
  ! kill -0 "$pgid" 2>/dev/null || fail "the browser outlived the watcher"
fi
pass "browser probe under watch: screenshot in the journal and the incident; clean stop"
