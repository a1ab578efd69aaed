#!/usr/bin/env bash
# Installs the Debian packages the tests use, once: real servers for integration tests
# (exim4, dovecot and its ManageSieve server, nsd), nmap (benchmark baseline, nmap-xml
# fixtures) and chromium (HTML report); and Debian's Postfix unpacked (not installed: it
# conflicts with exim4-daemon-light) into $POSTFIX_ROOT, whose master(8) the tests run from
# there with a private configuration.
# The packages' own daemons are not started: tests start private instances on loopback.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
POSTFIX_ROOT=${POSTFIX_ROOT:-/opt/mxcensus-postfix}
if [ ! -x "$POSTFIX_ROOT/usr/lib/postfix/sbin/master" ]; then
  work=$(mktemp -d)
  # apt-get download fetches the .deb from the Debian archive; dpkg -x unpacks it without
  # running any maintainer script
  (cd "$work" && apt-get download -q postfix >/dev/null 2>&1) \
    || { $SUDO apt-get update -qq && (cd "$work" && apt-get download -q postfix >/dev/null); }
  $SUDO mkdir -p "$POSTFIX_ROOT"
  $SUDO dpkg -x "$work"/postfix_*.deb "$POSTFIX_ROOT"
  rm -rf "$work"
fi
need=()
command -v exim4 >/dev/null || need+=(exim4-daemon-light)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd dovecot-pop3d)
[ -f /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -f /usr/lib/dovecot/managesieve-login ] || need+=(dovecot-managesieved)
command -v nmap >/dev/null || need+=(nmap)
[ -x /usr/sbin/nsd ] || need+=(nsd)  # the authoritative DNS server of the watch tests
command -v chromium >/dev/null || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)
[ -f /usr/share/iso-codes/json/iso_3166-1.json ] || need+=(iso-codes)  # country table test
[ ${#need[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
# no service may start during install: tests run their own instances
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
$SUDO rm -f /usr/sbin/policy-rc.d
