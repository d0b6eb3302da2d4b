#!/usr/bin/env bash
# `check` knows every probe type's keys (browser, tls, dns, icmp, websocket):
# a good config of each is OK, and mistakes in each come back as
# file:line:column diagnostics, all in one run.
source "$(dirname "$0")/lib.sh"
cat >"$WORK/good.toml" <<'TOML'
[agent]
service = "wiki"
journal = "state/journal.jsonl"
[probes.page]
type = "browser"
url = "http://127.0.0.1:1/edit?tenant=acme"
headers = { X-Tenant = "acme" }
cookies = { session = "abc" }
max_browser_memory_mib = 800
[[probes.page.steps]]
action = "type"
selector = ".editor-surface"
text = "hello"
[[probes.page.steps]]
action = "click"
selector = "#save"
[[probes.page.steps]]
action = "wait"
duration = "100ms"
[probes.page.expect]
selector_visible = ["#editor"]
selector_present = ["#save"]
js_true = ["window.editor && window.editor.initialized"]
no_console_error_matching = "TypeError"
max_load = "1s"
[probes.cert]
type = "tls"
host = "127.0.0.1"
port = 8443
server_name = "localhost"
alpn = ["h2"]
[probes.cert.expect]
min_days_left = 14
min_version = "TLSv1.2"
alpn = "h2"
[probes.name]
type = "dns"
name = "app.example.test"
record_type = "MX"
server = "127.0.0.1"
port = 5353
[probes.name.expect]
rcode = "NOERROR"
answers_contain = ["10 mail.example.test"]
answers_match = "example"
max_latency = "200ms"
[probes.ping]
type = "icmp"
host = "127.0.0.1"
count = 3
[probes.ping.expect]
max_loss_percent = 34
max_rtt = "50ms"
[probes.socket]
type = "websocket"
url = "ws://127.0.0.1:9000/echo"
send = "ping"
[probes.socket.expect]
reply_matches = "^ping$"
[policies.p]
probes = ["page", "cert", "name", "ping", "socket"]
consecutive_failures = 2
[[policies.p.actions]]
type = "rollback"
rollback = "r"
[rollbacks.r]
type = "command"
argv = ["true"]
TOML
dg check --config "$WORK/good.toml"
expect_rc 0

sed -e 's/^selector_visible/selctor_visible/' -e 's/^min_days_left = 14/min_days_left = "14"/' \
    -e 's/^record_type = "MX"/record_type = "PTR"/' -e 's/^max_loss_percent = 34/max_loss_percent = 340/' \
    -e 's#^url = "ws://127.0.0.1:9000/echo"#url = "http://127.0.0.1:9000/echo"#' -e 's/^action = "click"/action = "clik"/' \
    "$WORK/good.toml" >"$WORK/bad.toml"
dg check --config "$WORK/bad.toml"
expect_rc 2
for want in \
  "bad.toml:[0-9]*:[0-9]*: probes.page.expect.selctor_visible: unknown key 'selctor_visible' (did you mean 'selector_visible'?)" \
  "bad.toml:[0-9]*:[0-9]*: probes.page.steps\[1\].action: " \
  "bad.toml:[0-9]*:[0-9]*: probes.cert.expect.min_days_left: " \
  "bad.toml:[0-9]*:[0-9]*: probes.name.record_type: " \
  "bad.toml:[0-9]*:[0-9]*: probes.ping.expect.max_loss_percent: must be between 0 and 100" \
  "bad.toml:[0-9]*:[0-9]*: probes.socket.url: expected a ws:// URL"; do
  grep -q "$want" "$WORK/err.txt" || fail "missing diagnostic /$want/ in: $(cat "$WORK/err.txt")"
done
pass "check knows the browser, tls, dns, icmp and websocket keys"
