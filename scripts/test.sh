#!/usr/bin/env bash
# Installs what is missing, builds once, and runs every test (ctest): unit,
# integration (real sockets, real processes, the real flagd evaluator) and end
# to end (the built binary against the demo service).
#   scripts/test.sh             the full default suite
#   scripts/test.sh --extended  also an ASan+UBSan build running the same suite,
#                               the conformance corpora and FUZZ_SECONDS (120) of
#                               libFuzzer on the parsers (scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
extended=0
for arg in "$@"; do
  case "$arg" in
    --extended) extended=1 ;;
    *) echo "usage: scripts/test.sh [--extended]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
scripts/build.sh -DDEPLOYGUARD_BUILD_TESTS=ON
(cd build && ctest --output-on-failure --timeout 300 -j2)
# The public exposition-format corpora live beside the checkout, not in it.
scripts/conformance.sh ../shared/conformance --quiet

if ((extended)); then
  BUILD_DIR=build-asan scripts/build.sh -DDEPLOYGUARD_BUILD_TESTS=ON -DDEPLOYGUARD_SANITIZE=ON
  (cd build-asan && DG_SANITIZED=1 DEPLOYGUARD_BIN="$PWD/deployguard" ctest --output-on-failure --timeout 600 -j2)
  DEPLOYGUARD_BIN=build-asan/deployguard scripts/conformance.sh ../shared/conformance --quiet
  # Coverage-guided fuzzing of the parsers (libFuzzer, clang, ASan+UBSan).
  scripts/fuzz.sh "${FUZZ_SECONDS:-120}"
fi
