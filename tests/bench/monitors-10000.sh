#!/usr/bin/env bash
# The integrated monitors alone at COUNT real servers (default 10,000), probed every
# second with a TCP connect check (issue 16): COUNT addresses in a namespace "rs" answered
# by one responder, the monitors (lvsd's engine, nanny::integrated, with --test-start so
# IPVS is not involved) in a namespace "d". Prints their CPU share over SECONDS and the
# worst lateness of any probe since start-up (every probe is to start within 100 ms of
# its schedule) and a one-line VERDICT; exits 1 if it is later, or if not every server
# came up.
#
# Usage: tests/bench/monitors-10000.sh [--host] [COUNT [SECONDS]]
#   --host: on this machine instead of the VM test bed (native speed; the VM is QEMU TCG).
set -euo pipefail
cd "$(dirname "$0")/../.."
where=vm
[ "${1:-}" = --host ] && { where=host; shift; }
COUNT=${1:-10000} SECS=${2:-60}
if [ "${INSIDE:-}" != 1 ]; then
    cargo build --release -q -p nanny --example nanny-bench
    if [ $where = vm ]; then
        PIRANHA_VM_MEM=${PIRANHA_VM_MEM:-3072} exec tests/vm/vm.sh run env INSIDE=1 bash "$0" "$COUNT" "$SECS"
    fi
fi
B=$PWD/target/release/examples/nanny-bench
# Every probe under way holds a descriptor: COUNT of them when every server is slow
# (the monitors raise their soft limit to the hard one; the VM's hard limit is 4,096).
ulimit -Hn $((COUNT * 2 + 1024)) 2>/dev/null || true
ip netns del d 2>/dev/null || true; ip netns del rs 2>/dev/null || true
trap 'ip netns del d 2>/dev/null; ip netns del rs 2>/dev/null; true' EXIT
ip netns add d; ip netns add rs
ip -n d link set lo up; ip -n rs link set lo up
ip -n d link add vd type veth peer name vr netns rs
ip -n d addr add 10.2.0.1/24 dev vd; ip -n d link set vd up
ip -n rs addr add 10.2.0.2/24 dev vr
# The servers' addresses sit behind one router hop (rs itself), so the director's
# neighbour table holds one entry, not COUNT (its default limit is 1,024, and a
# namespace cannot raise it).
ip -n d route add 10.1.0.0/16 via 10.2.0.2
for n in $(seq 1 "$COUNT"); do echo "addr add 10.1.$((n / 250)).$((n % 250 + 1))/32 dev lo"; done | ip -n rs -batch -
ip -n rs link set vr up
ip netns exec rs "$B" responder 8080 &
sleep 1
out=$(ip netns exec d "$B" integrated "$COUNT" "$SECS")
kill %1 2>/dev/null || true
echo "$out"
late=$(echo "$out" | sed -n 's/.*worst lateness of a probe \([0-9.]*\) ms/\1/p')
up=$(echo "$out" | sed -n 's/^[0-9]* monitors, \([0-9]*\) up.*/\1/p')
fail=0
[ "$up" = "$COUNT" ] || { echo "FAIL: $up of $COUNT servers came up"; fail=1; }
awk -v l="$late" 'BEGIN { exit !(l <= 100) }' || { echo "FAIL: a probe started $late ms after its schedule"; fail=1; }
[ $fail = 0 ] && echo PASS
printf 'VERDICT: %s: %s of %s servers up, worst lateness of a probe %s ms (target <= 100), %s\n' \
    "$([ $fail = 0 ] && echo PASS || echo FAIL)" "$up" "$COUNT" "$late" "$where"
exit $fail
