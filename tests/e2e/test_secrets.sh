#!/usr/bin/env bash
# A secret given as env:NAME reaches the webhook (it is used) but never appears
# in stdout, stderr, the journal, the incident file or the reports.
source "$(dirname "$0")/lib.sh"
export DG_E2E_HOOK_TOKEN="sekrit-$RANDOM-$RANDOM-token"
hook_port=$(free_port)
python3 - "$hook_port" "$WORK/hook.jsonl" <<'PY' &
import http.server, json, sys
port, out = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "a") as f:
            f.write(json.dumps({"auth": self.headers.get("Authorization"), "body": json.loads(body)}) + "\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
EXTRA_PIDS+=($!)
setup_demo
cat >>"$WORK/deployguard.toml" <<TOML

[incident_sinks.hook]
type = "webhook"
url = "http://127.0.0.1:$hook_port/incident"
headers = { Authorization = "env:DG_E2E_HOOK_TOKEN" }
TOML
# The probe also sends the token, so it could leak through probe evidence.
sed -i "0,/^timeout = \"2s\"/s//timeout = \"2s\"\nheaders = { \"X-Api-Key\" = \"env:DG_E2E_HOOK_TOKEN\" }/" "$WORK/deployguard.toml"
start_wiki
deploy 2
dg verify --config "$WORK/deployguard.toml" --release 2 --json "$WORK/report.json" --junit "$WORK/report.xml"
expect_rc 1
for _ in $(seq 1 50); do [[ $(wc -l <"$WORK/hook.jsonl" 2>/dev/null || echo 0) -ge 2 ]] && break; sleep 0.1; done
grep -q "\"auth\": \"$DG_E2E_HOOK_TOKEN\"" "$WORK/hook.jsonl" || fail "the webhook did not receive the token"
for f in "$WORK/out.txt" "$WORK/err.txt" "$STATE/journal.jsonl" "$STATE/incidents.jsonl" "$WORK/report.json" "$WORK/report.xml" "$STATE/flags.json"; do
  [[ -e "$f" ]] || continue
  grep -q "$DG_E2E_HOOK_TOKEN" "$f" && fail "secret leaked into $f"
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
