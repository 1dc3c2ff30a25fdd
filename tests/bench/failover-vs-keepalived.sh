#!/usr/bin/env bash
# Director failover benchmark (issue "pulse and send_arp"), in the VM test bed, side by
# side with keepalived's VRRP in one run: the director pair of tests/pair/topology.sh
# (two directors, a client, three NAT real servers), a client requesting through the VIP
# every 10 ms, and the active director failing: its cables pulled (link down), or its HA
# daemon killed with kill -9. Figures: the longest time between two answers the client
# got. Our pulse with legacy timers (keepalive 2, deadtime 5, lvsd started on activation)
# and fast timers (0.1/0.3 with a warm standby); keepalived with advert_int 1 and 0.1
# (its IPVS table is always warm).
# Exits 1 unless fast timers give a smaller gap than keepalived at advert_int 0.1 and
# legacy timers give at most deadtime + 0.5 s.
#
# Usage: [ROUNDS=N] tests/bench/failover-vs-keepalived.sh   (N runs per scenario, default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v keepalived >/dev/null 2>&1 || {
    scripts/apt-install keepalived
    systemctl stop keepalived >/dev/null 2>&1 || true
}
cargo build --release -q -p pulse -p lvsd -p nanny --bins
tests/vm/vm.sh run env ROUNDS="${ROUNDS:-3}" bash tests/bench/failover-vs-keepalived-vm.sh
