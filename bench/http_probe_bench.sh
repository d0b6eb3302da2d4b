#!/usr/bin/env bash
# HTTP probes per CPU-second and peak RSS of deployguard's asynchronous HTTP
# probe (bench/http_probe_bench), against the same target as the
# blackbox_exporter anchor (../shared/anchors/blackbox/bench-blackbox.sh):
# one local nginx (one worker, keep-alive on), GET /edit -> 200 with a
# 1024-byte body holding "editor-bootstrap.js", /plain -> the negative control.
#
# Usage: bench/http_probe_bench.sh [BENCH_BINARY] [DURATION_S] [INFLIGHT ...]
#        defaults: build-bench/http_probe_bench 20 16 64 256; KEEPALIVE="0 1"
# One fresh process per row (its peak RSS is the row's own); a row line is
#   deployguard c=64 keepalive=0 probes/s=... cpu_s=... probes_per_cpu_s=... rss_mb=... ... tgt_conns_per_probe=...
# (tgt_conns_per_probe: connections nginx accepted per probe over the measured
# window, from stub_status).
# Needs nginx (Debian nginx-light) and curl. Stops only the nginx it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build-bench/http_probe_bench}
DUR=${2:-20}
shift 2 2>/dev/null || shift $# || true
INFLIGHT=("$@")
[ ${#INFLIGHT[@]} -gt 0 ] || INFLIGHT=(16 64 256)
KEEPALIVE=${KEEPALIVE:-"0 1"}
WARMUP_S=${WARMUP_S:-2}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
for t in "$BIN" "$NGINX"; do
  [ -x "$t" ] || { echo "missing: $t (build with -DDEPLOYGUARD_BUILD_BENCH=ON; apt-get install nginx-light)" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "missing: curl" >&2; exit 2; }

TMP=$(mktemp -d -t dg-http-bench.XXXXXX)
NGX_PID=""
cleanup() {
  if [ -n "$NGX_PID" ] && kill -0 "$NGX_PID" 2>/dev/null; then
    kill "$NGX_PID" 2>/dev/null || true
    wait "$NGX_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 500); do
    p=$((20000 + RANDOM % 12000))  # below the ephemeral range, as the anchor does
    if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
  done
  echo "no free port" >&2; return 1
}

# The anchor's target, byte for byte.
mkdir -p "$TMP/www" "$TMP/ngx"
HEAD='<!doctype html>
<html><head><meta charset="utf-8"><title>editor</title>
<link rel="stylesheet" href="/static/editor.css">
<script defer src="/static/editor-bootstrap.js"></script>
</head>
<body><div id="app">'
TAIL='</div></body></html>'
pad=$((1024 - ${#HEAD} - ${#TAIL} - 1))
{ printf '%s' "$HEAD"; head -c "$pad" /dev/zero | tr '\0' 'x'; printf '%s\n' "$TAIL"; } >"$TMP/www/edit"
sed 's/editor-bootstrap\.js/editor-bootstrap-js/' "$TMP/www/edit" >"$TMP/www/plain"
TPORT=$(free_port)
cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $TMP/ngx/body;
  proxy_temp_path $TMP/ngx/proxy;
  fastcgi_temp_path $TMP/ngx/fastcgi;
  uwsgi_temp_path $TMP/ngx/uwsgi;
  scgi_temp_path $TMP/ngx/scgi;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  server_tokens off;
  server {
    listen 127.0.0.1:$TPORT backlog=4096;
    root $TMP/www;
    location = /edit  { default_type text/html; }
    location = /plain { default_type text/html; }
    location = /nginx_status { stub_status; }
  }
}
EOF
"$NGINX" -p "$TMP/ngx" -c "$TMP/nginx.conf" -e "$TMP/ngx/error.log" >"$TMP/ngx/stdout" 2>&1 &
NGX_PID=$!
for _ in $(seq 100); do
  curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$TPORT/edit" 2>/dev/null && break
  sleep 0.1
done
echo "# $(date -u +%FT%TZ) nproc=$(nproc) kernel=$(uname -r) cpu=\"$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)\""
echo "# $($NGINX -v 2>&1 | sed 's/.*: //') | dur=${DUR}s warmup=${WARMUP_S}s | probe: status 200 + body regex editor-bootstrap\\.js, timeout 2s"
rc=0
for k in $KEEPALIVE; do
  for c in "${INFLIGHT[@]}"; do
    "$BIN" --url "http://127.0.0.1:$TPORT/edit" --negative "http://127.0.0.1:$TPORT/plain" \
      --stub "http://127.0.0.1:$TPORT/nginx_status" \
      --seconds "$DUR" --warmup "$WARMUP_S" --inflight "$c" --keepalive "$k" || rc=1
  done
done
exit $rc
