#!/bin/sh
# Debian packages omnilive needs: Apertium (offline eng<->spa translation), HAProxy
# (many gateways on one box, `make serve-cluster`, and its test), and Chromium for
# the browser tests of the phone web client (tests only).
# Installs only what is missing; needs root or sudo the first time.
set -e
PACKAGES="apertium apertium-eng-spa haproxy chromium"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
