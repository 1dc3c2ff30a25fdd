#!/usr/bin/env bash
# The VM side of tests/bench/ipvs-program.sh (see there).
set -euo pipefail
SERVICES=$1 DESTS=$2 RUNS=$3 RSERVICES=$4
B=$PWD/target/release/examples/ipvs-bench
W=/tmp/bench
mkdir -p $W
$B restore-file "$SERVICES" "$DESTS" >$W/restore.txt
$B keepalived-conf "$SERVICES" "$DESTS" >$W/keepalived.conf

now() { date +%s.%N; }
fresh_ns() { ip netns del bench 2>/dev/null || true; ip netns add bench; ip netns exec bench ip link set lo up; }
in_ns() { ip netns exec bench "$@"; }

expect_table() {
    local got
    got=$(in_ns $B count)
    [ "$got" = "services=$SERVICES dests=$((SERVICES * DESTS))" ] || { echo "incomplete table: $got" >&2; exit 1; }
}

for run in $(seq "$RUNS"); do
    fresh_ns
    t0=$(now); in_ns $B cold "$SERVICES" "$DESTS" >$W/ours.out; t1=$(now)
    expect_table
    echo "$t1 - $t0" | bc -l >>$W/ours
    grep cold_seconds $W/ours.out | cut -d= -f2 >>$W/ours-apply

    fresh_ns
    t0=$(now); in_ns ipvsadm -R <$W/restore.txt; t1=$(now)
    expect_table
    echo "$t1 - $t0" | bc -l >>$W/ipvsadm

    fresh_ns
    t0=$(now)
    # Not through in_ns: `ip netns exec` execs keepalived, so $! is keepalived itself.
    rm -f $W/ka.pid $W/ka-check.pid
    ip netns exec bench keepalived --check -n -f $W/keepalived.conf -p $W/ka.pid -c $W/ka-check.pid >$W/ka.log 2>&1 &
    ka=$!
    in_ns $B wait "$SERVICES" "$DESTS"
    t1=$(now)
    expect_table
    kill "$ka"; wait "$ka" 2>/dev/null || true
    pkill -x keepalived 2>/dev/null || true
    echo "$t1 - $t0" | bc -l >>$W/keepalived
done
ip netns del bench

median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours=$(median $W/ours); ours_apply=$(median $W/ours-apply); ipvsadm=$(median $W/ipvsadm); ka=$(median $W/keepalived)
ratio=$(echo "$ours / $ipvsadm" | bc -l)
printf '\ncold programming of %d services x %d destinations (%d operations), median of %d runs, wall time per program\n' \
    "$SERVICES" "$DESTS" $((SERVICES * (DESTS + 1))) "$RUNS"
printf '  %-44s %8.3f s  (netlink apply alone %.3f s)\n' "piranha-rs ipvs crate (pipelined netlink)" "$ours" "$ours_apply"
printf '  %-44s %8.3f s\n' "ipvsadm -R" "$ipvsadm"
printf '  %-44s %8.3f s\n' "keepalived $(keepalived --version 2>&1 | head -1 | awk '{print $2}') --check (until table complete)" "$ka"
printf '  %-44s %8.2f   (target <= 0.70)\n' "ratio piranha-rs / ipvsadm -R" "$ratio"
printf '  %-44s %8.2f\n' "ratio piranha-rs / keepalived" "$(echo "$ours / $ka" | bc -l)"

fresh_ns
in_ns $B reconcile "$RSERVICES" "$DESTS" 1 >$W/rec.out
ip netns del bench
get() { grep "^$1=" $W/rec.out | cut -d= -f2; }
rratio=$(echo "$(get reconcile_seconds) / $(get cold_seconds)" | bc -l)
printf '\nreconciler on %d services x %d destinations\n' "$RSERVICES" "$DESTS"
printf '  %-44s %8.3f s\n' "cold (audit of an empty table + programming)" "$(get cold_seconds)"
printf '  %-44s %8.4f s  (%s operations, from the cached view)\n' "1 % of destinations changed: reconcile" "$(get reconcile_seconds)" "$(get reconcile_ops)"
printf '  %-44s %8.2f   (target <= 0.10)\n' "ratio reconcile / cold" "$rratio"
printf '  %-44s %8.3f s  (%s drifted entries repaired)\n' "full audit: dump, diff, repair" "$(get audit_seconds)" "$(get audit_repair_ops)"

fail=0
(( $(echo "$ratio <= 0.70" | bc -l) )) || { echo "FAIL: cold programming is not <= 0.7x ipvsadm -R"; fail=1; }
(( $(echo "$rratio <= 0.10" | bc -l) )) || { echo "FAIL: the 1 % reconcile is not <= 10 % of cold programming"; fail=1; }
[ $fail = 0 ] && echo "PASS"
exit $fail
