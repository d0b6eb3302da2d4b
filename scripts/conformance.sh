#!/usr/bin/env bash
# Runs the exposition parser over the public conformance corpora (kept outside
# the repository) and prints pass/fail per case and a summary.
#   scripts/conformance.sh [CORPUS_DIR] [--quiet]
# CORPUS_DIR defaults to ../shared/conformance next to the checkout. Exits 1
# when a case disagrees with its expectation, 0 when all agree, and 0 with a
# message when the corpus is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-../shared/conformance}
quiet=${2:-}
bin=${DEPLOYGUARD_BIN:-build/deployguard}
if [[ ! -d "$dir" ]]; then
  echo "conformance: no corpus at $dir; skipped"
  exit 0
fi
pass=0 fail=0 skip=0
check() {  # name expected file format
  local name=$1 expected=$2 file=$3 format=$4 got out
  if out=$(timeout 10 "$bin" exposition check --format "$format" "$file" 2>&1); then got=valid; else
    rc=$?
    if [[ $rc -eq 1 ]]; then got=invalid; else got="crash(rc=$rc)"; fi
  fi
  if [[ "$got" == "$expected" ]]; then
    pass=$((pass + 1)); [[ -n "$quiet" ]] || echo "pass  $format  $name  ($got)"
  else
    fail=$((fail + 1)); echo "FAIL  $format  $name  expected $expected, got $got: $out"
  fi
}
if [[ -f "$dir/text004/MANIFEST.tsv" ]]; then
  while IFS=$'\t' read -r name expected _; do
    [[ "$name" == name ]] && continue
    if [[ "$expected" == skip ]]; then skip=$((skip + 1)); continue; fi
    check "$name" "$expected" "$dir/text004/$name.txt" text
  done <"$dir/text004/MANIFEST.tsv"
  for f in "$dir"/text004/large/*.txt; do
    [[ "$f" == *nometa* ]] && continue
    check "large/$(basename "$f")" valid "$f" text
  done
fi
if [[ -f "$dir/openmetrics/MANIFEST.tsv" ]]; then
  while IFS=$'\t' read -r name expected _; do
    [[ "$name" == case ]] && continue
    check "$name" "$expected" "$dir/openmetrics/$name/metrics" openmetrics
  done <"$dir/openmetrics/MANIFEST.tsv"
fi
echo "conformance: $pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]]
