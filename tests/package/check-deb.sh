#!/usr/bin/env bash
# Installs the package scripts/build-deb made into a clean Debian chroot (debootstrap
# minbase of this machine's release, cached as a tarball, unpacked afresh for each run)
# and checks what an operator would: it installs (apt fetches what minbase lacks), the
# binaries run (pulse --version, --check-config of the shipped example), the init script
# runs under Debian's sh without Red Hat's functions, the units, pages and /etc files are
# in place, and removal keeps the administrator's files until purge.
# Ends with `package: N passed, N failed` (scripts/test-all adds it to its totals).
#
# Usage: tests/package/check-deb.sh [PACKAGE.deb]   (default: the newest in target/debian)
set -uo pipefail
cd "$(dirname "$0")/../.."
deb=${1:-$(ls -t target/debian/*.deb 2>/dev/null | head -1)}
[ -f "$deb" ] || { echo "no package: run scripts/build-deb" >&2; exit 1; }
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
cache=${PIRANHA_CHROOT_CACHE:-/var/cache/piranha-rs-chroot}
tarball=$cache/$codename-minbase.tar.gz
if [ ! -f "$tarball" ]; then
    scripts/apt-install debootstrap
    mkdir -p "$cache"
    tmp=$(mktemp -d)
    echo "debootstrap $codename (minbase), once" >&2
    timeout 900 debootstrap --variant=minbase "$codename" "$tmp" http://deb.debian.org/debian \
        >"$cache/debootstrap.log" 2>&1 || { tail "$cache/debootstrap.log" >&2; exit 1; }
    tar -C "$tmp" -czf "$tarball.new" . && mv "$tarball.new" "$tarball"
    rm -rf "$tmp"
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xzf "$tarball"
cp "$deb" "$root/tmp/piranha-rs.deb"

passed=0
failed=0
# check NAME COMMAND...: runs COMMAND inside the chroot (sh -c), with a time limit.
check() {
    local name=$1 out
    shift
    if out=$(timeout 300 unshare --mount --fork sh -c \
        "mount -t proc proc '$root/proc' && exec chroot '$root' /bin/sh -c \"\$0\"" "$*" 2>&1); then
        echo "ok      $name"
        passed=$((passed + 1))
    else
        echo "FAILED  $name"
        printf '%s\n' "$out" | tail -5 | sed 's/^/    /'
        failed=$((failed + 1))
    fi
}
# apt resolves the dependencies minbase lacks (netbase), as on an operator's machine.
cp /etc/resolv.conf "$root/etc/resolv.conf"
check "installs into a clean $codename (apt-get install ./piranha-rs.deb)" \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/piranha-rs.deb >/dev/null'
check "pulse --version" 'pulse --version | grep -q "pulse"'
check "lvsd --check-config of the shipped example" \
    'lvsd --check-config -c /etc/sysconfig/ha/lvs.cf.example'
check "pulse --check-config of the shipped example" \
    'pulse --check-config -c /etc/sysconfig/ha/lvs.cf.example'
check "nanny, fos, send_arp and lvsctl run" \
    'nanny --version && fos --version | grep -q "fos 1.13" && lvsctl --version && { send_arp 2>&1 | grep -q usage; }'
check "binaries at the legacy paths" \
    'for b in pulse lvsd nanny fos send_arp lvsctl; do [ -x /usr/sbin/$b ] || exit 1; done'
check "the init script runs on Debian's sh (no lvs.cf yet: exit 6)" \
    '/etc/init.d/pulse status; [ $? -eq 6 ]'
check "systemd units, manual pages, /etc/sysconfig/pulse" \
    '[ -f /lib/systemd/system/pulse.service ] && [ -f /lib/systemd/system/lvsd.service ] &&
     for p in pulse lvsd nanny fos send_arp lvsctl; do [ -f /usr/share/man/man8/$p.8.gz ] || exit 1; done &&
     [ -f /usr/share/man/man5/lvs.cf.5.gz ] && grep -q "^OPTIONS=" /etc/sysconfig/pulse'
check "removal keeps the configuration files" \
    'echo "OPTIONS=\"-v\"" > /etc/sysconfig/pulse && dpkg -r piranha-rs >/dev/null &&
     [ ! -e /usr/sbin/pulse ] && grep -q -- "-v" /etc/sysconfig/pulse'
check "purge removes them" \
    'dpkg -P piranha-rs >/dev/null && [ ! -e /etc/sysconfig/pulse ] && [ ! -e /etc/init.d/pulse ]'
echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
