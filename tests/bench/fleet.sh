#!/usr/bin/env bash
# The fleet benchmark (docs/fleet.md, "Measured"): on the fleet bed of tests/fleet/bed.py in
# the IPVS test VM, new connections per second through 1, 2 and 3 active directors (as
# ratios to one: the VM is emulated, and every namespace shares its two CPUs), the
# disruption table of a director leaving five ways (route withdrawal time at the router,
# worst client gap, failed requests) beside a keepalived active/passive pair on the same
# bed (VRRP, one director carries everything), and 120 held connections through a
# director whose link goes down with mh + sync, mh alone and wlc alone.
# Separate from CI (scripts/test-all): run it by hand.
#
# Usage: [RATE_SECS=10] [RATE_THREADS=16] tests/bench/fleet.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v keepalived >/dev/null 2>&1 || scripts/apt-install-quiet-services keepalived
tests/vm/vm.sh prepare
cargo build --workspace --bins -q
tests/vm/vm.sh run env RATE_SECS="${RATE_SECS:-10}" RATE_THREADS="${RATE_THREADS:-16}" \
    python3 tests/fleet/bench.py 2>&1 | grep -v -E '^(nanny|lvs|pulse|bird|Keepalived|IPVS|VRRP)'
