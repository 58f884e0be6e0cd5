#!/bin/bash
# Installs deploy/gametap.service for a checkout, as root: `make install-service` runs it (after
# `make setup`), and so does the systemd test (tests/integration/test_systemd_unit.py) inside its
# container. It refuses, with the reason, a checkout or an interpreter the service's user cannot
# reach; writes the unit with @ROOT@ replaced by the checkout's path; installs the example
# settings file unless one exists; and, where systemd runs the machine, enables and (re)starts it.
#
#   deploy/install-service.sh [--check] [CHECKOUT]   (CHECKOUT: this script's checkout by default)
#   --check: only say whether the service could run this checkout (exit 1 with the reasons if not)
#   deploy/install-service.sh --uninstall: stop and disable it, remove the unit and its drop-ins
#   (the settings and the matches stay)
set -euo pipefail

UNIT=/etc/systemd/system/gametap.service
SETTINGS=/etc/gametap/gametap.toml

say() { echo "install-service: $*" >&2; }

# Where the unit's sandbox hides a path from the service: PrivateTmp=yes gives it its own /tmp
# and /var/tmp, ProtectHome=yes an empty /home, /root and /run/user.
hidden() {
	case "$1/" in
	/tmp/* | /var/tmp/*) echo "its private /tmp and /var/tmp (PrivateTmp=yes) hide it: the start fails with 203/EXEC" ;;
	/home/* | /root/* | /run/user/*) echo "ProtectHome=yes hides /home, /root and /run/user from it" ;;
	esac
}

# The service's user is nobody in particular (DynamicUser=yes): it reaches only what others may.
# $1 a path, $2 the permission others need on it (r, x or rx); every directory above it needs x.
unreadable() {
	local path=$1 need=$2 dir
	dir=$(dirname "$path")
	while :; do
		others_may "$dir" x || { echo "$dir is not searchable by others (chmod o+x)"; return; }
		[ "$dir" = / ] && break
		dir=$(dirname "$dir")
	done
	others_may "$path" "$need" || echo "$path is not $( [ "$need" = x ] && echo searchable || echo readable) by others (chmod o+$need)"
}

others_may() {  # $1 path, $2 r, x or rx: does the "others" class of its mode allow that?
	local bits=$(( 0$(stat -c %a "$1") & 7 ))
	case $2 in
	r) (( bits & 4 )) ;;
	x) (( bits & 1 )) ;;
	rx) (( (bits & 5) == 5 )) ;;
	esac
}

# Prints one line per reason the service could not run checkout $1 (nothing: it can).
problems() {
	local root=$1 python real why
	why=$(hidden "$root")
	if [ -n "$why" ]; then
		echo "the checkout $root: $why; use a checkout elsewhere, e.g. /opt/gametap"
	else
		why=$(unreadable "$root" rx)
		[ -n "$why" ] && echo "the checkout $root: the service's own user cannot read it: $why"
	fi
	python=$root/.venv/bin/python
	if ! real=$(readlink -e "$python"); then
		echo "no interpreter at $python: run make setup first"
		return
	fi
	why=$(hidden "$real")
	if [ -n "$why" ]; then
		echo "the venv's interpreter $python is $real: $why; make the venv from a Python elsewhere (rm -r .venv; make setup PYTHON=/usr/bin/python3)"
	else
		why=$(unreadable "$real" rx)
		[ -n "$why" ] && echo "the venv's interpreter $python is $real: the service's own user cannot run it: $why"
	fi
	return 0
}

uninstall() {
	if [ -d /run/systemd/system ]; then systemctl disable --now gametap || true; fi
	rm -rf "$UNIT" "$UNIT.d"
	if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	say "removed $UNIT; left: the settings ($(dirname "$SETTINGS")) and the matches (/var/lib/private/gametap)"
}

check=
case "${1:-}" in
--check) check=1; shift ;;
--uninstall) uninstall; exit 0 ;;
esac
root=$(readlink -e "${1:-$(dirname "$0")/..}") || { say "no checkout at ${1:-}"; exit 1; }
found=$(problems "$root")
if [ -n "$found" ]; then
	while IFS= read -r line; do say "cannot run as a service: $line"; done <<<"$found"
	exit 1
fi
[ -n "$check" ] && exit 0

sed "s|@ROOT@|$root|g" "$root/deploy/gametap.service" >"$UNIT"
systemd-analyze verify "$UNIT"
if [ -e "$SETTINGS" ]; then
	say "$SETTINGS kept"
else
	install -d -m 0755 "$(dirname "$SETTINGS")"
	install -m 0600 -o root -g root "$root/deploy/gametap.toml.example" "$SETTINGS"
	say "$SETTINGS written from deploy/gametap.toml.example (the defaults; root only)"
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable gametap
	systemctl restart gametap  # an upgrade: the new unit and code (running matches end)
	systemctl status --no-pager gametap || true
else
	say "$UNIT written; systemd does not run this machine, so it was not started"
fi
