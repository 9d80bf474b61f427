#!/usr/bin/env bash
# Installs what the libFuzzer build needs on Debian 12 (`make fuzz` calls
# it): clang 16 and its compiler-rt (libFuzzer, ASan, UBSan runtimes).
# Debian 12's default clang 14 cannot compile correio: libstdc++ 12's
# <expected> needs a newer concepts level (see tests/fuzz/clang-fuzz.cmake).
# The rest of the build dependencies come from scripts/install-deps.sh.
set -euo pipefail

PKGS=(clang-16 libclang-rt-16-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-fuzz-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
