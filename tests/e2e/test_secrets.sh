#!/usr/bin/env bash
# A secret given as env:NAME reaches the webhook (it is used) but never appears
# in stdout, stderr, the journal, the incident file or the reports. Webhook
# URLs from env: with the token in the path (Slack style) or the query stay
# secret too, even when an error echoes the path.
source "$(dirname "$0")/lib.sh"
export DG_E2E_HOOK_TOKEN="sekrit-$RANDOM-$RANDOM-token"
SLACK_TOKEN="xoxbPathTok$RANDOM${RANDOM}zz"
QUERY_TOKEN="qk$RANDOM$RANDOM"
hook_port=$(free_port)
python3 - "$hook_port" "$WORK/hook.jsonl" <<'PY' &
import http.server, json, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path.startswith("/services/"):
            # A hook that does not exist, answered the way many do: echoing the path.
            msg = ("no such hook: POST " + self.path).encode()
            self.send_response(404); self.send_header("Content-Length", str(len(msg))); self.end_headers()
            self.wfile.write(msg); return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"auth": self.headers.get("Authorization"), "body": json.loads(body)}) + "\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
EXTRA_PIDS+=($!)
export DG_E2E_SLACK_URL="http://127.0.0.1:$hook_port/services/T0AB12CD3/B0XY98ZW7/$SLACK_TOKEN"
export DG_E2E_DEAD_URL="http://127.0.0.1:$(free_port)/services/T0AB12CD3/B0XY98ZW7/$SLACK_TOKEN?api_key=$QUERY_TOKEN"
setup_demo
cat >>"$WORK/deployguard.toml" <<TOML

[incident_sinks.hook]
type = "webhook"
url = "http://127.0.0.1:$hook_port/incident"
headers = { Authorization = "env:DG_E2E_HOOK_TOKEN" }

[incident_sinks.slack]
type = "webhook"
url = "env:DG_E2E_SLACK_URL"

[incident_sinks.dead]
type = "webhook"
url = "env:DG_E2E_DEAD_URL"
max_attempts = 1
TOML
# The probe also sends the token, so it could leak through probe evidence.
sed -i "0,/^timeout = \"2s\"/s//timeout = \"2s\"\nheaders = { \"X-Api-Key\" = \"env:DG_E2E_HOOK_TOKEN\" }/" "$WORK/deployguard.toml"
start_wiki
deploy 2
dg verify --config "$WORK/deployguard.toml" --release 2 --json "$WORK/report.json" --junit "$WORK/report.xml"
expect_rc 1
for _ in $(seq 1 50); do [[ $(wc -l <"$WORK/hook.jsonl" 2>/dev/null || echo 0) -ge 2 ]] && break; sleep 0.1; done
grep -q "\"auth\": \"$DG_E2E_HOOK_TOKEN\"" "$WORK/hook.jsonl" || fail "the webhook did not receive the token"
# The path-echoing 404 really reached an output (redacted), so the check below means something.
grep -q "no such hook: POST \[REDACTED\]" "$STATE/journal.jsonl" || fail "the echoed hook path is not in the journal"
grep -Eq "slack: 0 delivered, [0-9]+ FAILED" "$WORK/out.txt" || fail "the slack sink did not fail as arranged"
grep -Eq "dead: 0 delivered, [0-9]+ FAILED" "$WORK/out.txt" || fail "the dead sink did not fail as arranged"
for f in "$WORK/out.txt" "$WORK/err.txt" "$STATE/journal.jsonl" "$STATE/incidents.jsonl" "$WORK/report.json" "$WORK/report.xml" "$STATE/flags.json"; do
  [[ -e "$f" ]] || continue
  for s in "$DG_E2E_HOOK_TOKEN" "$SLACK_TOKEN" "$QUERY_TOKEN" "B0XY98ZW7"; do
    grep -q "$s" "$f" && fail "secret $s leaked into $f"
  done
done
# The incident body sent to the hook must not echo the secret either.
python3 -c 'import json,sys; tok=sys.argv[2]; assert all(tok not in json.dumps(json.loads(l)["body"]) for l in open(sys.argv[1]))' \
  "$WORK/hook.jsonl" "$DG_E2E_HOOK_TOKEN" || fail "secret in a webhook body"
# A missing variable is named, never valued.
unset DG_E2E_HOOK_TOKEN
dg check --config "$WORK/deployguard.toml"
expect_rc 2
grep -q "environment variable DG_E2E_HOOK_TOKEN is not set" "$WORK/err.txt" || fail "missing variable not named"
pass "secrets stay secret"
