#!/usr/bin/env bash
# Builds and runs the benchmarks (never part of scripts/test.sh). Results go
# to stdout; docs/benchmarks.md records them with the machine and command.
#   scripts/bench.sh [GOOGLE-BENCHMARK-FLAGS...]  agent overhead, then the parser comparison
#   scripts/bench.sh parser                       the parser comparison only
#   scripts/bench.sh browser                      the browser probe's cost only (also run after the others)
#   scripts/bench.sh logs                         log signatures only: grouping accuracy on the
#                                                 Loghub samples (../shared/loghub, in place; skipped
#                                                 when absent), throughput, peak RSS, detection
# The parser comparison runs, in one go on the same files: our parser in
# process (bench/exposition_bench), Prometheus' own parsers (the anchor at
# ../shared/anchors/go-parsers/run.sh next to the checkout, or $GO_ANCHOR), and
# `deployguard exposition check` as a whole process; then prints the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
dpkg-query -W -f='${Status}' libbenchmark-dev 2>/dev/null | grep -q "install ok installed" || {
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y -qq libbenchmark-dev >/dev/null
}
BUILD_DIR=build-bench BUILD_TYPE=Release scripts/build.sh -DDEPLOYGUARD_BUILD_TESTS=OFF -DDEPLOYGUARD_BUILD_BENCH=ON

# The browser probe with a warm browser against the demo wiki's editor page:
# runs per CPU-minute of the whole browser tree plus the agent, latency
# p50/p95, peak memory of the tree (targets: >= 60 runs/CPU-minute, < 400 MB).
browser_bench() {
  local state port pid
  state=$(mktemp -d)
  cp examples/wiki/flags.json examples/wiki/tenants.json "$state/"
  echo 1 >"$state/release"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  node examples/wiki/server.js --port "$port" --state "$state" >"$state/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q listening "$state/server.log" 2>/dev/null && break; sleep 0.05; done
  echo "== browser probe, warm browser, demo editor page ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  ./build-bench/browser_probe_bench "http://127.0.0.1:$port/edit?tenant=acme" "${BROWSER_RUNS:-200}" 2>&1 | grep -v '^\[' || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$state"
}
if [[ "${1:-}" == browser ]]; then browser_bench; exit 0; fi
log_signatures() {
  local loghub=${LOGHUB_DIR:-../shared/loghub}
  echo "== log signatures: grouping accuracy (bench/loghub_accuracy, samples in place at $loghub)"
  ./build-bench/loghub_accuracy "$loghub"
  echo "== log signatures: the same, (a) with our token classes on top of the published masks"
  ./build-bench/loghub_accuracy "$loghub" --ours | tail -1
  echo "== log signatures: throughput, one core (bench/log_throughput, 10 M lines)"
  ./build-bench/log_throughput "$loghub"
  echo "== log signatures: peak RSS, 1 M distinct lines under the cap"
  ./build-bench/log_throughput --rss
  echo "== log signatures: detection and A/A false trips (bench/log_detection)"
  ./build-bench/log_detection --runs 100 --aa 1000
}
if [[ "${1:-}" == logs ]]; then log_signatures; exit 0; fi
if [[ "${1:-}" != parser ]]; then ./build-bench/agent_overhead_bench "$@"; fi

anchor=${GO_ANCHOR:-../shared/anchors/go-parsers/run.sh}
inputs=$(mktemp -d)
trap 'rm -rf "$inputs"' EXIT
./build-bench/exposition_bench --write-inputs="$inputs" >/dev/null
files=("$inputs/exposition-1MiB.prom" "$inputs/exposition-10MiB.prom")

echo "== ours, in process (bench/exposition_bench)"
./build-bench/exposition_bench --benchmark_repetitions=5 --benchmark_min_time=1 \
  --benchmark_out="$inputs/ours.json" --benchmark_out_format=json | grep -E "median|^BM_|Run on|CPU" || true

echo "== deployguard exposition check, whole process, 10 MiB file"
python3 - "$inputs" ./build-bench/deployguard > "$inputs/process.txt" <<'EOF'
import os, resource, statistics, subprocess, sys, time
inputs, binary = sys.argv[1], sys.argv[2]
path = os.path.join(inputs, "exposition-10MiB.prom")
mib = os.path.getsize(path) / (1 << 20)
walls, cpus = [], []
for _ in range(40):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([binary, "exposition", "check", path], check=True, stdout=subprocess.DEVNULL)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    walls.append(t1 - t0)
    cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
print(f"process wall_MiB/s={mib / statistics.median(walls):.1f} cpu_MiB/s={mib / statistics.median(cpus):.1f}")
EOF
cat "$inputs/process.txt"

if [[ -x "$anchor" ]]; then
  echo "== Prometheus' parsers ($anchor)"
  "$anchor" "${files[@]}" | tee "$inputs/anchor.txt" | grep median
else
  echo "== no anchor at $anchor: ratios to Prometheus skipped"
  : > "$inputs/anchor.txt"
fi

echo "== ratios (same run, same files)"
python3 - "$inputs" <<'EOF'
import json, os, re, statistics, sys
inputs = sys.argv[1]
runs = json.load(open(os.path.join(inputs, "ours.json")))["benchmarks"]
size = {1: os.path.getsize(os.path.join(inputs, "exposition-1MiB.prom")),
        10: os.path.getsize(os.path.join(inputs, "exposition-10MiB.prom"))}
ours = {}
for mib in (1, 10):
    reps = [b for b in runs if b.get("run_type") == "iteration" and b["name"].split("/")[:2] == ["BM_ParseText", str(mib)]]
    scale = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[reps[0]["time_unit"]]
    wall = statistics.median(size[mib] / (b["real_time"] * scale) / (1 << 20) for b in reps)
    cpu = statistics.median(size[mib] / (b["cpu_time"] * scale) / (1 << 20) for b in reps)
    ours[mib] = (wall, cpu)
anchor = {}
for line in open(os.path.join(inputs, "anchor.txt")):
    m = re.match(r"textparse mode=series-only file=.*exposition-(\d+)MiB\.prom median MiB/s=([\d.]+).*median MiB/cpu-s=([\d.]+)", line)
    if m:
        anchor[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
for mib in (1, 10):
    w, c = ours[mib]
    line = f"{mib:>2} MiB: ours {w:.0f} MiB/s wall, {c:.0f} MiB/cpu-s"
    if mib in anchor:
        aw, ac = anchor[mib]
        line += f"; textparse series-only {aw:.0f} wall, {ac:.0f} cpu; ratio {w / aw:.2f}x wall, {c / ac:.2f}x cpu (target >= 2)"
    print(line)
proc = dict(kv.split("=") for kv in open(os.path.join(inputs, "process.txt")).read().split()[1:])
pw, pc = float(proc["wall_MiB/s"]), float(proc["cpu_MiB/s"])
w, c = ours[10]
print(f"10 MiB: deployguard exposition check {pw:.0f} MiB/s wall, {pc:.0f} MiB/cpu-s; "
      f"{100 * pw / w:.0f} % of in-process wall, {100 * pc / c:.0f} % of cpu (target >= 80 %)")
EOF

browser_bench
if [[ "${1:-}" != parser ]]; then log_signatures; fi
