#!/usr/bin/env bash
# Roll the wiki back to a known-good release (default 1) by rewriting
# STATE_DIR/release, which the demo server re-reads on every request.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  echo "usage: $0 STATE_DIR [RELEASE]" >&2
  exit 2
fi
state_dir=$1
release=${2:-1}

# Temp file in the same dir + mv: the rename is atomic, so the server never
# reads a half-written release.
tmp=$(mktemp "$state_dir/.release.XXXXXX")
trap 'rm -f "$tmp"' EXIT
printf '%s\n' "$release" >"$tmp"
mv -f "$tmp" "$state_dir/release"
trap - EXIT

echo "rolled back wiki to release $release"
