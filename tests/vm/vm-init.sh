#!/bin/busybox sh
# /init of the test VM's initramfs (tests/vm/vm.sh fills in the @...@ values).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m || echo "vm-init: insmod $m failed"; done

fail() { echo "vm-init: $*"; poweroff -f; }

# The host's root, read-only, under a writable tmpfs overlay.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host || fail "no host root"
mount -t tmpfs -o size=75% tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "no overlay"
R=/newroot
for d in proc sys dev tmp run job lib/modules/@KVER@; do mkdir -p $R/$d; done
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
# /tmp stays the host's, seen through the overlay (writes land in the VM's tmpfs): the
# working directory may be a checkout under /tmp.
mount -t tmpfs tmpfs $R/run
mkdir -p $R/run/netns
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job $R/job || fail "no job dir"
mount --bind $R@CACHE@/kernel/lib/modules/@KVER@ $R/lib/modules/@KVER@
# Module autoloading (ip_vs on the first IPVS request, its schedulers, veth): the
# kernel runs its modprobe helper in the initramfs root, so point it at the host's
# modprobe inside the overlay. Nothing is preloaded: the tests exercise autoloading.
cat >/bin/vm-modprobe <<'HELPER'
#!/bin/busybox sh
exec /bin/chroot /newroot /sbin/modprobe "$@"
HELPER
chmod +x /bin/vm-modprobe
echo /bin/vm-modprobe >/proc/sys/kernel/modprobe
chroot $R /sbin/ip link set lo up

interactive=0
grep -q piranha.interactive=1 /proc/cmdline && interactive=1
if [ $interactive = 1 ]; then
    chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root TERM=${TERM:-linux} PIRANHA_VM=1 /bin/bash /job/cmd </dev/console >/dev/console 2>&1
else
    chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 PIRANHA_VM=1 CARGO_TERM_COLOR=never /bin/bash /job/cmd </dev/null >/dev/console 2>&1
    echo $? >$R/job/status
fi
sync
poweroff -f
