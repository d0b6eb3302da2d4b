#!/usr/bin/env bash
# The watcher's status page, for people: served at / with a strict CSP,
# readable without JavaScript; in a real headless Chromium
# (tests/support/status_page_browser.py) it loads without console errors,
# shows the demo's policy state, follows a fault injected into the wiki, the
# big button raises an alarm with the token (incident at the sink, journaled
# with reason and who) and without it says why and journals nothing, and
# pause/resume go through a confirmation. Then the sign-in proxy's header
# (trusted_user_header): who is its value, a form post or another site's
# Origin is refused. Finally `review` of this journal (a mitigated trip and
# alarms raised by hand) is checked against its facts.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3  # Debian's python3, where python3-selenium lives
for tool in chromium chromedriver tidy; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/install-deps.sh installs it)"
done
"$PY" -c 'import selenium' 2>/dev/null || fail "python3-selenium is not installed (scripts/install-deps.sh installs it)"
SHOTS=$(dirname "$DEPLOYGUARD_BIN")/test-output/status-page
export DG_READ_TOKEN="e2e-read-$RANDOM$RANDOM"
setup_demo
add_watch_section
start_wiki
start_watch
base="http://127.0.0.1:$WATCH_PORT"

# Server-rendered, with its policy, and nothing inline for the CSP to allow.
curl -fsS -D "$WORK/page.headers" -o "$WORK/page.html" "$base/"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'; style-src 'self';" "$WORK/page.headers" ||
  fail "CSP header: $(cat "$WORK/page.headers")"
grep -qi "^x-content-type-options: nosniff" "$WORK/page.headers" || fail "nosniff"
grep -q 'data-policy="editor_initializes"' "$WORK/page.html" && grep -q '>watching</span>' "$WORK/page.html" ||
  fail "the page without JavaScript shows the policy and its state"
grep -q 'class="release"' "$WORK/page.html" || fail "current releases"
grep -qE '<script>|<style|onclick=|onsubmit=| style=' "$WORK/page.html" && fail "inline script, style or handler in the page"
tidy -errors -quiet "$WORK/page.html" || fail "tidy: the page"
curl -fsS -o /dev/null "$base/static/app.js" && curl -fsS -o /dev/null "$base/static/app.css" || fail "static assets"

api POST /api/v1/releases '{"release":"2","who":"ci"}' >/dev/null
[[ $HTTP_STATUS == 200 ]] || fail "release announce: $HTTP_STATUS"
"$PY" "$DG_SOURCE_DIR/tests/support/status_page_browser.py" "$base" "$STATE" "$WORK/deploy.sh" "$DG_ALARM_TOKEN" "$SHOTS" \
  >"$WORK/browser.txt" 2>&1 || fail "browser: $(cat "$WORK/browser.txt")"
cat "$WORK/browser.txt"
key=$(sed -n 's/^KEY=//p' "$WORK/browser.txt")
curl -fsS "$base/metrics" >"$WORK/metrics.txt"
grep -q '^deployguard_time_to_detect_seconds_count 1' "$WORK/metrics.txt" || fail "TTD observed once: $(grep time_to_detect_seconds_count "$WORK/metrics.txt")"
grep -q '^deployguard_time_to_mitigate_seconds_count 1' "$WORK/metrics.txt" || fail "TTM observed once"
curl -fsS "$base/incidents/$key" -o "$WORK/incident.html" || fail "/incidents/$key"
tidy -errors -quiet "$WORK/incident.html" || fail "tidy: /incidents/$key"
[[ $(curl -s -o /dev/null -w '%{http_code}' "$base/incidents/dg-nonesuch") == 404 ]] || fail "unknown incident: 404"

# The sign-in proxy's header, turned on by a reload.
echo 'trusted_user_header = "X-Forwarded-User"' >>"$WORK/deployguard.toml"
wait_for 10 grep -q '"kind":"config_reloaded"' "$STATE/journal.jsonl" || fail "reload with trusted_user_header: $(tail -3 "$WORK/watch.log")"
post() {  # post EXPECTED_STATUS [curl args...]: an alarm with no token
  local want=$1
  shift
  local code
  code=$(curl -s -o "$WORK/post.body" -w '%{http_code}' -X POST "$@" "$base/api/v1/alarm")
  [[ $code == "$want" ]] || fail "expected $want, got $code: $(cat "$WORK/post.body") (curl $*)"
}
before=$(wc -l <"$STATE/journal.jsonl")
post 415 -H 'X-Forwarded-User: dana@example.com' -d 'reason=form+post'
post 403 -H 'X-Forwarded-User: dana@example.com' -H 'Origin: http://evil.example' -H 'Content-Type: application/json' -d '{"reason":"x"}'
post 403 -H "Authorization: Bearer $DG_ALARM_TOKEN" -H 'Origin: http://evil.example' -H 'Content-Type: application/json' -d '{"reason":"x"}'
post 401 -H 'Content-Type: application/json' -d '{"reason":"no identity"}'
[[ $(wc -l <"$STATE/journal.jsonl") == "$before" ]] || fail "a refused mutation journaled something"
post 200 -H 'X-Forwarded-User: dana@example.com' -H "Origin: $base" -H 'Content-Type: application/json' \
  -d '{"reason":"checkout fails for EU tenants","scope":"region eu","who":"someone else"}'
python3 - "$STATE/journal.jsonl" <<'PY' || fail "the proxy's identity is who"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"alarm_raised"' in l][-1]["data"]
assert a["who"] == "dana@example.com" and a["reason"] == "checkout fails for EU tenants", a
PY
curl -fsS -H 'X-Forwarded-User: dana@example.com' -o "$WORK/proxied.html" "$base/"
grep -q 'You are <strong>dana@example.com</strong>' "$WORK/proxied.html" || fail "the page names the proxy's user"
grep -q 'class="incident state-investigating"' "$WORK/proxied.html" || fail "open incidents on the page"
tidy -errors -quiet "$WORK/proxied.html" || fail "tidy: the page with incidents and KPIs"

# Mutations from the page share the listener's mutation limit: a burst is cut with 429.
codes=$(for _ in $(seq 1 15); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $DG_ALARM_TOKEN" -d '{bad' "$base/api/v1/alarm"
done | sort | uniq -c | tr '\n' ' ')
[[ $codes == *429* ]] || fail "15 mutations at once are rate limited: $codes"

# With a read token the page follows the listener's read rules; its static files hold no data.
echo 'read_token = "env:DG_READ_TOKEN"' >>"$WORK/deployguard.toml"
wait_for 10 bash -c "[[ \$(grep -c '\"kind\":\"config_reloaded\"' $STATE/journal.jsonl) -ge 2 ]]" || fail "reload with read_token"
code() { curl -s -o "$WORK/get.body" -w '%{http_code}' "$@"; }
[[ $(code "$base/") == 401 ]] || fail "/ without the read token"
grep -q 'id="read-form"' "$WORK/get.body" || fail "the locked page offers the read token form"
grep -q 'editor_initializes' "$WORK/get.body" && fail "the locked page shows no data"
[[ $(code "$base/?part=live") == 401 && $(code "$base/incidents/$key") == 401 && $(code "$base/api/v1/kpi") == 401 ]] ||
  fail "the page's data needs the read token"
[[ $(code "$base/static/app.js") == 200 ]] || fail "the script is served to the locked page"
[[ $(code -H "Authorization: Bearer $DG_READ_TOKEN" "$base/") == 200 ]] || fail "/ with the read token"
[[ $(code -H 'X-Forwarded-User: dana@example.com' "$base/?part=live") == 200 ]] || fail "the proxy's user reads"
"$PY" "$DG_SOURCE_DIR/tests/support/status_page_browser.py" --locked "$base" "$DG_READ_TOKEN" "$SHOTS" >"$WORK/browser2.txt" 2>&1 ||
  fail "browser, read token: $(cat "$WORK/browser2.txt")"
cat "$WORK/browser2.txt"

stop_watch
journal_verifies
"$PY" "$DG_SOURCE_DIR/tests/support/review_check.py" "$DEPLOYGUARD_BIN" "$STATE/journal.jsonl" "$WORK/reviews" \
  --secret "$DG_ALARM_TOKEN" --secret "$DG_READ_TOKEN" --expect-state "mitigated" --expect-state "open" --expect-state "open" || fail "review of the watch journal"
pass "status page: CSP, no console errors, live states, the button with and without the token, pause/resume, the proxy's identity; review of a hand-raised alarm"
