#!/usr/bin/env bash
# Installs every Debian 12 package correio needs to build, run and test.
# The one place dependencies are listed; `make run`, `make test` and CI call it.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libssl-dev libsqlite3-dev libpq-dev
  libgmime-3.0-dev libc-ares-dev libsodium-dev libcrypt-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
)
TEST_PKGS=(
  python3 openssl curl swaks msmtp isync fetchmail getmail6
  # MUAs driven by tests/e2e/test_mua_clients.py
  mutt neomutt s-nail
  # swaks' STARTTLS (--no-install-recommends leaves it out)
  libnet-ssleay-perl
)

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
