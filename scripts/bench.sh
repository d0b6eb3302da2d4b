#!/usr/bin/env bash
# Builds and runs the benchmarks (never part of scripts/test.sh). Results go
# to stdout; docs/benchmarks.md records them with the machine and command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
dpkg-query -W -f='${Status}' libbenchmark-dev 2>/dev/null | grep -q "install ok installed" || {
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y -qq libbenchmark-dev >/dev/null
}
BUILD_DIR=build-bench BUILD_TYPE=Release scripts/build.sh -DDEPLOYGUARD_BUILD_TESTS=OFF -DDEPLOYGUARD_BUILD_BENCH=ON
./build-bench/agent_overhead_bench "$@"
