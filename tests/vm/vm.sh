#!/usr/bin/env bash
# The real-kernel test bed: this host's kernel has no IPVS, so IPVS tests run in a
# throwaway QEMU VM (TCG; nested KVM does not work here) booting Debian's kernel, with the
# host filesystem shared read-only over 9p under a tmpfs overlay. A command runs inside
# as root, in the same working directory, and its output and exit status come back.
#
#   tests/vm/vm.sh prepare            install packages, unpack the kernel, build the
#                                     initramfs (cached; idempotent)
#   tests/vm/vm.sh run CMD [ARG...]   boot, run CMD, print its output, exit with its status
#   tests/vm/vm.sh shell              boot and run an interactive shell (manual use)
#
# Inside the VM: PIRANHA_VM=1; /run is an empty tmpfs; /tmp shows the host's (writes stay
# in the VM); /lib/modules holds the VM kernel's modules and the kernel autoloads them
# (ip_vs on the first IPVS request, its schedulers, veth); the host's tools (ip,
# ipvsadm, python3, curl, the project's binaries) are available. Everything written
# goes to the overlay and is lost at power-off.
#
# Environment: PIRANHA_VM_CACHE (default /var/cache/piranha-rs-vm), PIRANHA_VM_MEM (MiB,
# default 2048), PIRANHA_VM_CPUS (default 2), PIRANHA_VM_TIMEOUT (seconds, default 1800).
set -euo pipefail

CACHE=${PIRANHA_VM_CACHE:-/var/cache/piranha-rs-vm}
MEM=${PIRANHA_VM_MEM:-2048}
CPUS=${PIRANHA_VM_CPUS:-$(nproc)}
TIMEOUT=${PIRANHA_VM_TIMEOUT:-1800}
HERE=$(cd "$(dirname "$0")" && pwd)

# Modules the initramfs loads to reach the host filesystem (in dependency order, computed
# by depmod/modprobe on the unpacked kernel).
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"

log() { echo "vm: $*" >&2; }

prepare() {
    "$HERE/../../scripts/apt-install" qemu-system-x86 busybox-static cpio kmod ipvsadm iproute2 python3 curl nftables
    # BIRD 2 for the fleet test bed (tests/fleet/): the router's and each director's BGP
    # daemon, started by the tests in their namespaces; the package's own service is not.
    "$HERE/../../scripts/apt-install-quiet-services" bird2
    mkdir -p "$CACHE"
    # The kernel package linux-image-amd64 points at, unpacked (not installed: the host
    # keeps its own kernel and boot loader untouched).
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$pkg" ]; then
        apt-get update -qq
        pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    local kver=${pkg#linux-image-}
    if [ ! -f "$CACHE/kernel/boot/vmlinuz-$kver" ]; then
        log "fetching $pkg"
        local tmp
        tmp=$(mktemp -d)
        (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1)
        rm -rf "$CACHE/kernel"
        dpkg-deb -x "$tmp"/*.deb "$CACHE/kernel"
        rm -rf "$tmp"
        depmod -b "$CACHE/kernel" "$kver"
    fi
    echo "$kver" >"$CACHE/kernel-version"
    local initrd="$CACHE/initramfs-$kver.cpio.gz"
    if [ ! -f "$initrd" ] || [ "$HERE/vm-init.sh" -nt "$initrd" ] || [ "$0" -nt "$initrd" ]; then
        log "building the initramfs for $kver"
        build_initramfs "$kver" "$initrd"
    fi
}

build_initramfs() { # kver output
    local kver=$1 out=$2 root
    root=$(mktemp -d)
    mkdir -p "$root"/{bin,dev,proc,sys,modules,host,rw,newroot}
    cp /bin/busybox "$root/bin/busybox"
    local order=()
    for m in $BOOT_MODULES; do
        while read -r _ path _; do
            local base
            base=$(basename "$path")
            [ -f "$root/modules/$base" ] && continue
            cp "$path" "$root/modules/$base"
            order+=("$base")
        done < <(modprobe -d "$CACHE/kernel" -S "$kver" --show-depends "$m" | grep '^insmod')
    done
    printf '%s\n' "${order[@]}" >"$root/modules/order"
    sed -e "s|@KVER@|$kver|g" -e "s|@CACHE@|$CACHE|g" \
        "$HERE/vm-init.sh" >"$root/init"
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$root"
}

boot() { # job-dir interactive
    local job=$1 interactive=$2 kver
    kver=$(cat "$CACHE/kernel-version")
    local console=(-nographic -serial mon:stdio)
    [ "$interactive" = 1 ] || console=(-display none -serial stdio -monitor none)
    timeout --foreground "$TIMEOUT" qemu-system-x86_64 \
        -accel tcg,thread=multi -cpu max -smp "$CPUS" -m "$MEM" \
        -kernel "$CACHE/kernel/boot/vmlinuz-$kver" \
        -initrd "$CACHE/initramfs-$kver.cpio.gz" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 piranha.interactive=$interactive" \
        -no-reboot -nic none "${console[@]}" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs local,path="$job",mount_tag=job,security_model=none,multidevs=remap
}

run() { # cmd...
    prepare
    local job
    job=$(mktemp -d /tmp/piranha-vm-job.XXXXXX)
    trap 'rm -rf "$job"' RETURN
    {
        echo "cd $(printf '%q' "$PWD") || exit 125"
        printf 'exec'
        printf ' %q' "$@"
        echo
    } >"$job/cmd"
    # Drop the kernel's own lines (a command's output may lack a final newline, so the
    # power-off message can follow it on the same line).
    boot "$job" 0 | sed -u -E -e 's/\r$//' -e 's/\[ *[0-9]+\.[0-9]+\] reboot: Power down//' |
        grep --line-buffered -v -E '^\s*$|^\[ *[0-9.]+\] ' || true
    if [ ! -f "$job/status" ]; then
        log "the VM stopped before the command finished (crash or timeout after ${TIMEOUT}s)"
        return 125
    fi
    return "$(cat "$job/status")"
}

case "${1:-}" in
    prepare) prepare ;;
    run)
        shift
        [ $# -gt 0 ] || { echo "usage: $0 run CMD [ARG...]" >&2; exit 2; }
        set +e
        run "$@"
        exit $?
        ;;
    shell)
        prepare
        job=$(mktemp -d /tmp/piranha-vm-job.XXXXXX)
        echo "cd $(printf '%q' "$PWD"); exec /bin/bash -i" >"$job/cmd"
        boot "$job" 1
        rm -rf "$job"
        ;;
    *) echo "usage: $0 prepare | run CMD [ARG...] | shell" >&2; exit 2 ;;
esac
