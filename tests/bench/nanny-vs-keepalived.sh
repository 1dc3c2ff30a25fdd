#!/usr/bin/env bash
# Real-server monitoring benchmark (issues 4 and 16), in the VM test bed, side by side
# with keepalived in one run: SERVICES x REALS real servers (default 100 x 10) answering
# on test addresses in a namespace, probed every second with a TCP connect check by
#   * piranha-rs: one nanny per real server (as lvsd starts them),
#   * piranha-rs integrated: lvsd with integrated_monitors = 1 (every monitor inside
#     lvsd; the row also counts lvsd itself), and
#   * keepalived --check with one TCP_CHECK per real server (delay_loop 1,
#     connect_timeout 1, retry 0: the same check and the same single-failure rule).
# Prints the sum of PSS (peak during start-up and steady), CPU over SECONDS, the time
# from a real server going down to its removal from IPVS (median of 5), and the checks
# the real servers saw in those SECONDS (connections they accepted) with the CPU per
# check: keepalived waits delay_loop after each check ends, nanny from start to start,
# so on a loaded machine the two need not make as many checks.
# The integrated monitors alone at 10,000 real servers: tests/bench/monitors-10000.sh.
# Prints the integrated monitors' ratios to keepalived (CPU per check, steady PSS,
# checks/s), whether the bed was saturated (a probe more than an interval late: then the
# CPU figures are capped and say little), and a one-line VERDICT.
# Exits 1 if a detection latency exceeds interval + timeout + 100 ms (2.1 s), a nanny's
# private memory is 1 MiB or more, or the integrated monitors miss their targets (issue
# 25): CPU per check < 0.8x keepalived's, steady PSS below keepalived's, at least as many
# checks.
#
# Usage: tests/bench/nanny-vs-keepalived.sh [SERVICES [REALS [SECONDS]]]
#   BENCH_ROWS="integrated keepalived" leaves out the nanny processes (their row alone
#   takes about half an hour in the VM); the default runs all three.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVICES=${1:-100}
REALS=${2:-10}
SECONDS_CPU=${3:-60}

scripts/apt-install bc
command -v keepalived >/dev/null 2>&1 || {
    scripts/apt-install keepalived
    systemctl stop keepalived >/dev/null 2>&1 || true
}
cargo build --release -q -p nanny --bin nanny --example nanny-bench -p lvsd --bin lvsd -p lvsctl --bin lvsctl
PIRANHA_VM_MEM=${PIRANHA_VM_MEM:-3072} tests/vm/vm.sh run bash tests/bench/nanny-vs-keepalived-vm.sh "$SERVICES" "$REALS" "$SECONDS_CPU" "${BENCH_ROWS:-processes integrated keepalived}"
