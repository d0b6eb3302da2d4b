#!/usr/bin/env bash
# Starts and stops a private Prometheus (Debian's package) on loopback for the
# tests: a generated config scraping the given targets every second.
#   scripts/prometheus.sh start DIR PORT TARGET [TARGET...]   (TARGET = host:port)
#   scripts/prometheus.sh stop DIR
# The pid is kept in DIR/prometheus.pid; start waits until /-/ready answers.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start DIR PORT TARGET... | stop DIR" >&2; exit 2; }
case "$cmd" in
  start)
    port=$3
    shift 3
    mkdir -p "$dir/data"
    targets=$(printf '"%s",' "$@")
    cat >"$dir/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: wiki
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs:
      - targets: [${targets%,}]
YML
    bin=$(command -v prometheus || echo /usr/bin/prometheus)
    "$bin" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --log.level=warn >"$dir/prometheus.log" 2>&1 &
    echo $! >"$dir/prometheus.pid"
    for _ in $(seq 1 200); do
      if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then exit 0; fi
      if ! kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null; then
        echo "prometheus exited:" >&2; cat "$dir/prometheus.log" >&2; exit 1
      fi
      sleep 0.1
    done
    echo "prometheus did not become ready on port $port" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$dir/prometheus.pid" ]]; then
      pid=$(cat "$dir/prometheus.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/prometheus.pid"
    fi
    ;;
  *) echo "usage: $0 start DIR PORT TARGET... | stop DIR" >&2; exit 2 ;;
esac
