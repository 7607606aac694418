#!/bin/sh
# Makes sure the Debian packages the tests drive are installed: chromium (browser sign-in),
# gnome-keyring + dbus + dbus-x11 (a real keychain), and with --system (the system tier of the tests)
# postgresql + redis-server (the shared store of fleets) and iproute2 (network namespaces as machines).
# Quiet and apt-free when all are present.
set -eu

missing=''

need() { # need PACKAGE PATH-OR-COMMAND...
  package=$1
  shift
  for program in "$@"; do
    case $program in
      /*) [ -x "$program" ] && continue ;;
      *) command -v "$program" >/dev/null 2>&1 && continue ;;
    esac
    missing="$missing $package"
    return 0
  done
}

need chromium /usr/bin/chromium
need gnome-keyring gnome-keyring-daemon
need dbus dbus-daemon dbus-run-session
need dbus-x11 dbus-launch
if [ "${1:-}" = --system ]; then
  # initdb and pg_ctl live under a versioned folder, outside PATH.
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -n 1)
  need postgresql "${initdb:-/usr/lib/postgresql/missing/bin/initdb}"
  need redis-server redis-server
  need iproute2 ip
fi

[ -z "$missing" ] && exit 0

# Headless chromium cannot lay out (so cannot click) without any font; recommends are skipped, so name one.
case $missing in
  *chromium*) missing="$missing fonts-dejavu-core" ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-system-deps: missing Debian packages; as root run: apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi

apt-get update -qq >/dev/null
# shellcheck disable=SC2086 # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
