#!/usr/bin/env bash
# Installs the Debian 12 packages the benchmark harness (bench/, `make bench`)
# needs: the peers it measures correio against (Postfix, Dovecot), Postfix's
# load generator smtp-source (in the postfix package), gnuplot for the scale
# chart, python3 for the drivers.
#
# No system service is started or configured: the bench runs private
# instances (`postfix -c DIR`, `dovecot -c FILE`) on loopback ports. A
# temporary policy-rc.d forbids invoke-rc.d from starting the packaged
# services during the install, and Postfix is preseeded to "No configuration".
set -euo pipefail

PKGS=(postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd
      gnuplot-nox python3 openssl)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-bench-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  # Exit code 101 = "action forbidden" (invoke-rc.d(8)); removed again below.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=1
fi
cleanup() { [ "$made_policy" = 1 ] && $SUDO rm -f "$policy"; true; }
trap cleanup EXIT

echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
