#!/usr/bin/env bash
# IPVS programming benchmark (issue 3), in the VM test bed, one run, side by side:
#   * cold programming of SERVICES x DESTS (default 1,000 x 10) from an empty table:
#     this crate (pipelined netlink) vs `ipvsadm -R` vs keepalived loading the same
#     table (wall time of each program, median of RUNS, alternating, fresh namespace each);
#   * the reconciler on RSERVICES x DESTS (default 5,000 x 10): cold, then a 1 % change
#     reconciled from the cached view, then a full audit that repairs 1 % injected drift;
#   * lvsd's cold start with LSERVICES virtual services (default 5,000; real servers
#     inactive): from lvsd's start until every service is in the kernel, beside
#     `ipvsadm -R` of the same services and the last release's figure (kept in the VM
#     script); PREVIOUS_LVSD=path/to/old/lvsd measures an older binary in the same run.
# Prints a one-line VERDICT and exits 1 if cold programming is slower than 0.7x
# ipvsadm -R, the 1 % reconcile takes more than 10 % of the cold programming of its
# table, or lvsd's cold start takes more than 0.5x ipvsadm -R.
#
# Usage: tests/bench/ipvs-program.sh [SERVICES [DESTS [RUNS [RSERVICES [LSERVICES]]]]]
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVICES=${1:-1000}
DESTS=${2:-10}
RUNS=${3:-3}
RSERVICES=${4:-5000}
LSERVICES=${5:-5000}

scripts/apt-install bc
command -v keepalived >/dev/null 2>&1 || {
    scripts/apt-install keepalived
    systemctl stop keepalived >/dev/null 2>&1 || true
}
cargo build --release -q -p ipvs --example ipvs-bench -p lvsd --bin lvsd -p nanny --bin nanny
tests/vm/vm.sh run bash tests/bench/ipvs-program-vm.sh "$SERVICES" "$DESTS" "$RUNS" "$RSERVICES" "$LSERVICES" "${PREVIOUS_LVSD:-}"
