#!/usr/bin/env bash
# Every incident sink's failure path, with a server that echoes each request
# (headers and body, credentials included) in its error: the credentials,
# given as env: and file: references, appear in no output — stdout, stderr,
# the journal, the incident file, the reports.
source "$(dirname "$0")/lib.sh"
PD_KEY="pdR0uting$RANDOM${RANDOM}Key0000000000"
GENIE="genie-$RANDOM-$RANDOM-key"
JIRA="jiraTok$RANDOM$RANDOM"
SP="spOAuth$RANDOM$RANDOM"
SLACK="xoxSlackTok$RANDOM${RANDOM}zz"
AMPASS="amPass$RANDOM$RANDOM"
HMAC="whsec$RANDOM$RANDOM"
export DG_E2E_GENIE=$GENIE DG_E2E_JIRA=$JIRA
port=$(free_port)
python3 - "$port" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        # An unhelpful proxy: everything it got, in its error.
        msg = (f"rejected {self.command} {self.path}\n{self.headers}\n".encode() + body)
        self.send_response(400); self.send_header("Content-Length", str(len(msg))); self.end_headers()
        self.wfile.write(msg)
    do_POST = do_GET = do_PATCH = answer
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
EXTRA_PIDS+=($!)
setup_demo
mkdir -p "$WORK/secrets"
echo "$PD_KEY" >"$WORK/secrets/pd"
echo "$SP" >"$WORK/secrets/sp"
echo "$HMAC" >"$WORK/secrets/hmac"
export DG_E2E_SLACK="http://127.0.0.1:$port/services/T0AB12CD3/B0XY98ZW7/$SLACK"
export DG_E2E_AM="http://guard:$AMPASS@127.0.0.1:$port"
base="http://127.0.0.1:$port"
cat >>"$WORK/deployguard.toml" <<TOML

[incident_sinks.pd]
type = "pagerduty"
routing_key = "file:secrets/pd"
url = "$base/v2/enqueue"

[incident_sinks.og]
type = "opsgenie"
api_key = "env:DG_E2E_GENIE"
base_url = "$base"

[incident_sinks.jira]
type = "jira"
base_url = "$base"
email = "guard@example.com"
api_token = "env:DG_E2E_JIRA"
project = "OPS"

[incident_sinks.status]
type = "statuspage"
api_key = "file:secrets/sp"
page_id = "pg1"
base_url = "$base/v1"

[incident_sinks.slack]
type = "slack"
webhook_url = "env:DG_E2E_SLACK"

[incident_sinks.am]
type = "alertmanager"
url = "env:DG_E2E_AM"

[incident_sinks.hook]
type = "webhook"
url = "$base/hook"
signing_secret = "file:secrets/hmac"
TOML
start_wiki
deploy 2
dg verify --config "$WORK/deployguard.toml" --release 2 --json "$WORK/report.json" --junit "$WORK/report.xml"
expect_rc 1
for s in pd og jira status slack am hook; do
  grep -Eq "$s: 0 delivered, [0-9]+ FAILED" "$WORK/out.txt" "$WORK/err.txt" || fail "sink $s did not fail as arranged: $(cat "$WORK/out.txt")"
done
grep -q "rejected POST" "$STATE/journal.jsonl" || fail "the echoed requests never reached the journal, so the check below means nothing"
grep -q "\[REDACTED\]" "$STATE/journal.jsonl" || fail "nothing was redacted"
for f in "$WORK/out.txt" "$WORK/err.txt" "$STATE/journal.jsonl" "$STATE/incidents.jsonl" "$WORK/report.json" "$WORK/report.xml"; do
  [[ -e "$f" ]] || continue
  for s in "$PD_KEY" "$GENIE" "$JIRA" "$SP" "$SLACK" "$AMPASS" "$HMAC" "B0XY98ZW7"; do
    grep -q "$s" "$f" && fail "secret $s leaked into $f"
  done
done
pass "no sink's failure path shows a credential"
