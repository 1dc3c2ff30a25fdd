#!/usr/bin/env bash
# lvsd start-up and reload benchmark (issue 5), in the VM test bed, side by side with
# keepalived in one run. SERVICES x REALS real servers (default 100 x 10) answer on test
# addresses in a namespace; each daemon gets the equivalent configuration (TCP connect
# check every second) and we time, from the daemon's start, until all real servers are
# in the IPVS table, then, from SIGHUP, a reload that replaces 1% of the real servers
# (the table holds the new set exactly). keepalived runs twice: with `alpha` (a real
# server enters the table after its first good check, as with nanny) and with its
# default (every real server enters the table unchecked at start-up).
# Exits 1 if lvsd is slower to a full table than keepalived with `alpha`, or its reload
# takes 1 s or more.
#
# Usage: tests/bench/lvsd-vs-keepalived.sh [SERVICES [REALS]]
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVICES=${1:-100}
REALS=${2:-10}

scripts/apt-install bc
command -v keepalived >/dev/null 2>&1 || {
    scripts/apt-install keepalived
    systemctl stop keepalived >/dev/null 2>&1 || true
}
cargo build --release -q -p lvsd -p nanny --bins
cargo build --release -q -p lvsd --example lvsd-bench
cargo build --release -q -p nanny --example nanny-bench
PIRANHA_VM_MEM=${PIRANHA_VM_MEM:-3072} tests/vm/vm.sh run bash tests/bench/lvsd-vs-keepalived-vm.sh "$SERVICES" "$REALS"
