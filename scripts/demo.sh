#!/usr/bin/env bash
# The main job on the built-in demo: the wiki service runs release 1, release 2
# is deployed (it breaks the editor for tenants with zero plugins), and
# `deployguard verify` catches it, switches the plugin framework off for those
# tenants only, confirms they recovered, opens an incident and journals it all.
# Installs what is missing and builds first. Cleans up its processes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
wiki=examples/wiki
state=$wiki/.state
port=18080   # must match the URLs in examples/wiki/deployguard.toml

scripts/install-deps.sh >/dev/null
echo "== building deployguard (log: build/demo-build.log)"
mkdir -p build
scripts/build.sh -DDEPLOYGUARD_BUILD_TESTS=OFF >build/demo-build.log 2>&1 || { tail -40 build/demo-build.log >&2; exit 1; }

if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
  echo "demo: port $port is in use; stop whatever listens there and run again" >&2
  exit 2
fi

rm -rf "$state"
mkdir -p "$state"
cp "$wiki/flags.json" "$wiki/tenants.json" "$state/"
echo 1 >"$state/release"

server_pid=""
users_pid=""
cleanup() {
  if [[ -n "$users_pid" ]]; then kill "$users_pid" 2>/dev/null || true; wait "$users_pid" 2>/dev/null || true; fi
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

node "$wiki/server.js" --port "$port" --state "$state" >"$state/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  grep -q "listening" "$state/server.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening" "$state/server.log" || { echo "demo: the wiki did not start:" >&2; cat "$state/server.log" >&2; exit 1; }

editor() {  # tenant -> one line saying whether its editor works
  local page
  page=$(curl -fsS "http://127.0.0.1:$port/edit?tenant=$1")
  local framework
  framework=$(grep -o 'data-framework="[a-z]*"' <<<"$page" | cut -d'"' -f2)
  if grep -q "editor-bootstrap.js" <<<"$page"; then
    echo "  $1: editor works   (plugin framework $framework)"
  else
    echo "  $1: EDITOR BROKEN  (plugin framework $framework, editor-bootstrap.js missing)"
  fi
}
tenants() { for t in acme initech globex umbrella; do editor "$t"; done; }

# Users editing pages in every tenant, all along: their requests fill the
# wiki's log (the log conditions' baseline is the 8 s before the release).
users() {
  while :; do
    for t in acme initech globex umbrella; do curl -fsS -o /dev/null "http://127.0.0.1:$port/edit?tenant=$t" || true; done
    sleep 0.1
  done
}
users &
users_pid=$!

echo "== release 1 is running (acme and initech have zero plugins); users editing for 8 s"
tenants
sleep 8
echo "== deploying release 2"
"$wiki/deploy.sh" "$state" 2 >/dev/null
tenants
echo "== deployguard verify --release 2"
set +e
./build/deployguard verify --config "$wiki/deployguard.toml" --release 2 \
  --json "$state/report.json" --junit "$state/report.xml"
rc=$?
set -e
echo "== after deployguard (exit code $rc)"
tenants
echo "== the wiki's log signatures now (deployguard logs top --source wiki --since 10s)"
./build/deployguard logs top --config "$wiki/deployguard.toml" --source wiki --since 10s --limit 5 || true
echo "== the incident it opened ($state/incidents.jsonl)"
python3 - "$state/incidents.jsonl" <<'PY'
import json, sys
seen = ""
for line in open(sys.argv[1]):
    i = json.loads(line)
    print(f"  {i['event']:9} {i['dedup_key']}  status={i['status']}")
    if i['event'] == 'opened':
        print(f"            affected: {i['affected']}")
        print(f"            sees:     {i['experience'][:160]}")
        print(f"            since:    {i['since']}")
    elif "screenshot" in i['experience'] and "screenshot" not in seen:
        print(f"            sees:     {i['experience'].split(' | what they see ')[-1][:240]}")
    seen = i['experience']
    for a in i['actions']:
        print(f"            did:      {a}")
PY
python3 - "$state/report.json" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["policies"]:
    for a in p.get("artifacts", []):
        if a["kind"] == "screenshot":
            print(f"== what the zero-plugin tenants saw (screenshot of the broken editor): {a['path']}")
            print(f"   sha256 {a['sha256']}, {a['bytes']} bytes; also named in the incident and the journal")
PY
echo "== journal"
./build/deployguard journal verify "$state/journal.jsonl"
echo "   records: $(python3 -c "import json,sys; print(', '.join(json.loads(l)['kind'] for l in open(sys.argv[1])))" "$state/journal.jsonl")"
echo "== reports: $state/report.json, $state/report.xml"
if [[ $rc -ne 1 ]]; then
  echo "demo: expected exit code 1 (tripped and mitigated), got $rc" >&2
  exit 1
fi
echo "== demo finished: the zero-plugin tenants recovered, the others kept the framework on"
