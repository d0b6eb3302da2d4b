#!/usr/bin/env bash
# libFuzzer (clang) on the parsers that read untrusted bytes: the exposition
# parser (0.0.4 and OpenMetrics) and the Prometheus answer decoder, under
# ASan+UBSan, for a bounded time.
#   scripts/fuzz.sh [SECONDS=120]
# New inputs go to a temporary corpus; the seeds (tests/data and, when present,
# ../shared/conformance) are only read. Called by scripts/test.sh --extended.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-120}}
need=()
command -v clang++-14 >/dev/null || need+=(clang-14)
dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok installed" || need+=(libclang-rt-14-dev)
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p build-fuzz
# clang 14 cannot compile libstdc++ 12's std::expected: the shim supplies the
# subset the parsers use, for this build only.
clang++-14 -std=c++2b -O1 -g -DDG_LIBFUZZER -include tests/fuzz/expected_shim.h -I. \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  tests/fuzz/parsers_fuzz.cpp probes/metrics/exposition.cpp probes/metrics/prometheus_response.cpp \
  agent/core/json_text.cpp agent/core/text.cpp agent/core/metric_reading.cpp agent/core/regex.cpp \
  -lboost_json -lfmt -o build-fuzz/parsers_libfuzzer
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
seeds=(tests/data)
if [[ -d ../shared/conformance ]]; then
  for d in ../shared/conformance/text004 ../shared/conformance/openmetrics/*/; do seeds+=("$d"); done
fi
build-fuzz/parsers_libfuzzer -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  "$corpus" "${seeds[@]}" 2>&1 | tail -8
