#!/usr/bin/env bash
# Deploy a wiki release: the demo server re-reads STATE_DIR/release on every
# request, so rewriting that file is the whole "deploy".
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 STATE_DIR RELEASE" >&2
  exit 2
fi
state_dir=$1
release=$2

# Temp file in the same dir + mv: the rename is atomic, so the server never
# reads a half-written release.
tmp=$(mktemp "$state_dir/.release.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s\n' "$release" >"$tmp"
mv -f "$tmp" "$state_dir/release"
trap - EXIT

echo "deployed wiki release $release"
