#!/usr/bin/env bash
# Status benchmark (issue 13): how long `lvsctl status` takes on a director with VIRTUALS x
# REALS real servers (default 100 x 10 = 1,000). lvsd runs with --test-start on this host
# (no IPVS, no nanny): this measures lvsd's answer (the manager's view, the JSON, the
# socket) and lvsctl's rendering, not the kernel dumps, which the VM test covers for
# correctness. No peer prints a status at all (keepalived has no status API), so the
# figure stands alone: median and worst of RUNS queries, and the answer's size.
#
# Usage: tests/bench/status-1000.sh [VIRTUALS [REALS [RUNS]]]
set -euo pipefail
cd "$(dirname "$0")/../.."
VIRTUALS=${1:-100}
REALS=${2:-10}
RUNS=${3:-20}

cargo build --release -q -p lvsd -p lvsctl
work=$(mktemp -d)
lvsd_pid=
cleanup() { [ -z "$lvsd_pid" ] || kill "$lvsd_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
python3 tests/bench/gen-configs.py "$VIRTUALS" "$REALS" "$work/lvs.cf" "$work/keepalived.conf"
# The HTTP listener too (docs/control.md): /metrics and the page, as a scraper asks.
port=$((20000 + RANDOM % 10000))
sed -i "1i status_http = $port" "$work/lvs.cf"
target/release/lvsd -n --test-start -c "$work/lvs.cf" --pidfile "$work/lvs.pid" >/dev/null &
lvsd_pid=$!
for _ in $(seq 1 100); do [ -S "$work/lvs.sock" ] && break; sleep 0.1; done
[ -S "$work/lvs.sock" ] || { echo "lvsd did not open its control socket" >&2; exit 1; }

time_ms() { # command...: wall time in ms
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "median %d ms, worst %d ms", v[int((NR + 1) / 2)], v[NR] }'; }

sock="--lvsd-socket=$work/lvs.sock"
none="--pulse-socket=$work/none.sock"
servers=$(target/release/lvsctl status --json "$sock" "$none" |
    python3 -c 'import json,sys; v=json.load(sys.stdin); print(sum(len(s["real_servers"]) for s in v["lvsd"]["services"]))')
bytes=$(target/release/lvsctl status --json "$sock" "$none" | wc -c)
json=$(for _ in $(seq 1 "$RUNS"); do time_ms target/release/lvsctl status --json "$sock" "$none"; done | stats)
text=$(for _ in $(seq 1 "$RUNS"); do time_ms target/release/lvsctl status "$sock" "$none"; done | stats)
echo "status of $servers real servers in $VIRTUALS virtual services ($bytes bytes of JSON), $RUNS queries each:"
echo "  lvsctl status --json   $json"
echo "  lvsctl status          $text"
for path in metrics ""; do
    bytes=$(curl -sf "http://127.0.0.1:$port/$path" | wc -c)
    figure=$(for _ in $(seq 1 "$RUNS"); do time_ms curl -sf "http://127.0.0.1:$port/$path"; done | stats)
    printf '  GET /%-17s %s (%d bytes)\n' "$path" "$figure" "$bytes"
done
