#!/usr/bin/env bash
# Starts and stops a private Alertmanager (Debian's prometheus-alertmanager)
# on loopback for the tests: one null receiver, no cluster mesh.
#   scripts/alertmanager.sh start DIR PORT
#   scripts/alertmanager.sh stop DIR
# The pid is kept in DIR/alertmanager.pid; start waits until /-/ready answers.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
case "$cmd" in
  start)
    port=$3
    mkdir -p "$dir/data"
    cat >"$dir/alertmanager.yml" <<YML
route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: "null"
YML
    bin=$(command -v prometheus-alertmanager || command -v alertmanager || echo /usr/bin/prometheus-alertmanager)
    "$bin" --config.file="$dir/alertmanager.yml" --storage.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --cluster.listen-address= --log.level=warn \
      >"$dir/alertmanager.log" 2>&1 &
    echo $! >"$dir/alertmanager.pid"
    for _ in $(seq 1 200); do
      if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then exit 0; fi
      if ! kill -0 "$(cat "$dir/alertmanager.pid")" 2>/dev/null; then
        echo "alertmanager exited:" >&2; cat "$dir/alertmanager.log" >&2; exit 1
      fi
      sleep 0.1
    done
    echo "alertmanager did not become ready on port $port" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$dir/alertmanager.pid" ]]; then
      pid=$(cat "$dir/alertmanager.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/alertmanager.pid"
    fi
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
