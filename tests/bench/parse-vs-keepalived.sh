#!/usr/bin/env bash
# Parse benchmark (issue 2): `lvsd --check-config` on a generated 5,000-virtual x
# 20-real-server lvs.cf against `keepalived -t` on the equivalent keepalived.conf, side by
# side in one run. Both parse and validate only; nothing is programmed or contacted.
#
# Prints wall time and peak RSS (median of RUNS alternating runs) and the ratios; exits 1
# if piranha-rs is not faster and smaller than keepalived.
#
# Usage: tests/bench/parse-vs-keepalived.sh [VIRTUALS [REALS [RUNS]]]   (as root for apt)
set -euo pipefail
cd "$(dirname "$0")/../.."
VIRTUALS=${1:-5000}
REALS=${2:-20}
RUNS=${3:-5}

scripts/apt-install python3 time bc
if ! command -v keepalived >/dev/null 2>&1; then
    scripts/apt-install keepalived
    # The package may start the service; this benchmark only needs the binary.
    systemctl stop keepalived >/dev/null 2>&1 || true
fi

cargo build --release -q -p lvsd
LVSD=target/release/lvsd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 tests/bench/gen-configs.py "$VIRTUALS" "$REALS" "$work/lvs.cf" "$work/keepalived.conf"

measure() { # label command... ; appends "seconds kb" to $work/<label>
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time.out" "$@" >/dev/null 2>"$work/stderr" || {
        echo "$label failed:" >&2; cat "$work/stderr" >&2; exit 1; }
    cat "$work/time.out" >>"$work/$label"
}
for _ in $(seq "$RUNS"); do
    measure ours "$LVSD" --check-config -c "$work/lvs.cf"
    measure keepalived keepalived -t -l -n -f "$work/keepalived.conf"
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours_s=$(cut -d' ' -f1 "$work/ours" | median)
ours_kb=$(cut -d' ' -f2 "$work/ours" | median)
ka_s=$(cut -d' ' -f1 "$work/keepalived" | median)
ka_kb=$(cut -d' ' -f2 "$work/keepalived" | median)
size=$(du -m "$work/lvs.cf" | cut -f1)

echo "parse + validate, $VIRTUALS virtual services x $REALS real servers (lvs.cf ${size} MB), median of $RUNS runs"
printf '%-34s %10s %12s\n' "" "time (s)" "peak RSS (MB)"
printf '%-34s %10s %12.1f\n' "piranha-rs lvsd --check-config" "$ours_s" "$(echo "$ours_kb/1024" | bc -l)"
printf '%-34s %10s %12.1f\n' "keepalived $(keepalived --version 2>&1 | head -1 | awk '{print $2}') -t" "$ka_s" "$(echo "$ka_kb/1024" | bc -l)"
time_ratio=$(echo "$ours_s/$ka_s" | bc -l)
mem_ratio=$(echo "$ours_kb/$ka_kb" | bc -l)
printf '%-34s %10.2f %12.2f\n' "ratio (piranha-rs / keepalived)" "$time_ratio" "$mem_ratio"
if (( $(echo "$time_ratio < 1 && $mem_ratio < 1" | bc -l) )); then
    echo "PASS: piranha-rs parses faster and in less memory"
    verdict=PASS
else
    echo "FAIL: piranha-rs is not faster and smaller than keepalived -t"
    verdict=FAIL
fi
printf 'VERDICT: %s: parse time %.2fx keepalived -t (target < 1), memory %.2fx (< 1)\n' "$verdict" "$time_ratio" "$mem_ratio"
[ $verdict = PASS ]
