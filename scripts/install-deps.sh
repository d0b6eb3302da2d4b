#!/usr/bin/env bash
# Installs what the build, the tests and the demo need, and only what is
# missing: Debian packages through apt-get, npm packages into examples/wiki.
# Idempotent: a second run changes nothing and takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ make ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcurl4-openssl-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libssl-dev
  prometheus-cpp-dev libsystemd-dev
  curl ca-certificates python3
  prometheus
  chromium chromium-driver python3-selenium tidy  # status page (headless browser e2e) and review HTML check
  postgresql  # unleash flag provider tests (scripts/unleash.sh)
  prometheus-alertmanager  # alertmanager incident sink tests
  fonts-dejavu-core libldns-dev dnsmasq-base python3-grpcio  # probes: browser, dns (+ its test server), grpc test server
  systemd-journal-remote  # log signatures: journald source tests write journal files
)

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: any installed node >= 18 will do (the image may carry a newer one
# than Debian's); only when there is none do we take Debian's.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a system Prometheus on :9090; our tests start their
# own on free loopback ports and need nothing from it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus >/dev/null 2>&1 || true
fi

# npm packages for the demo service and the flagd evaluator used by the tests.
wiki=examples/wiki
stamp="$wiki/node_modules/.deployguard-lock"
if [[ ! -f "$stamp" ]] || ! cmp -s "$wiki/package-lock.json" "$stamp"; then
  echo "install-deps: installing npm packages in $wiki"
  (cd "$wiki" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$wiki/package-lock.json" "$stamp"
fi
echo "install-deps: all dependencies present"
