#!/bin/sh
# Debian packages omnilive needs: Apertium (offline eng<->spa translation), HAProxy
# (many gateways on one box, `make serve-cluster`, and its test), Chromium for
# the browser tests of the phone web client, and for the network lab's tests
# (tests/netlab: namespaces, a NAT, a TURN relay) iproute2, ethtool, iptables and
# coturn (tests only; coturn's own service is not enabled by the lab).
# Installs only what is missing; needs root or sudo the first time.
set -e
PACKAGES="apertium apertium-eng-spa haproxy chromium iproute2 ethtool iptables coturn"
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
