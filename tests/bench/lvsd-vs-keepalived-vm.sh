#!/usr/bin/env bash
# The VM side of tests/bench/lvsd-vs-keepalived.sh (see there).
set -euo pipefail
SERVICES=$1 REALS=$2 INTERVAL=$3
R=$PWD/target/release
W=/tmp/lbench
mkdir -p $W
CHANGED=$(( (SERVICES * REALS + 99) / 100 ))

vip() { echo "198.18.$(($1 / 250)).$(($1 % 250 + 1))"; }
rip() { local n=$(($1 * REALS + $2 + 1)); echo "10.1.$((n / 250)).$((n % 250 + 1))"; }
# The replacement of real server (s, REALS-1) in the reload, for s < CHANGED.
new_rip() { echo "10.2.$(($1 / 250)).$(($1 % 250 + 1))"; }

# The real servers of the configuration before (0) or after (1) the reload.
servers() { # phase service
    for r in $(seq 0 $((REALS - 1))); do
        if [ "$1" = 1 ] && [ "$2" -lt "$CHANGED" ] && [ "$r" = $((REALS - 1)) ]; then
            new_rip "$2"
        else
            rip "$2" "$r"
        fi
    done
}

want() { # phase
    for s in $(seq 0 $((SERVICES - 1))); do
        for a in $(servers "$1" "$s"); do echo "$(vip "$s"):8080 $a:8080"; done
    done
}

lvs_cf() { # phase
    printf 'serial_no = 1\nservice = lvs\nnetwork = nat\n'
    for s in $(seq 0 $((SERVICES - 1))); do
        printf 'virtual v%d {\n active = 1\n address = %s eth0:%d\n port = 8080\n scheduler = wlc\n timeout = %d\n reentry = %d\n client_monitor = %s/nanny\n' \
            "$s" "$(vip "$s")" "$s" "$INTERVAL" "$INTERVAL" "$R"
        for a in $(servers "$1" "$s"); do
            printf ' server %s {\n address = %s\n active = 1\n weight = 1\n }\n' "r${a//./-}" "$a"
        done
        printf '}\n'
    done
}

keepalived_conf() { # phase alpha?
    printf 'global_defs {\n    router_id bench\n}\n'
    for s in $(seq 0 $((SERVICES - 1))); do
        printf 'virtual_server %s 8080 {\n    delay_loop %d\n    lb_algo wlc\n    lb_kind NAT\n    protocol TCP\n' "$(vip "$s")" "$INTERVAL"
        [ "$2" = alpha ] && printf '    alpha\n'
        for a in $(servers "$1" "$s"); do
            printf '    real_server %s 8080 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout %d\n            retry 0\n        }\n    }\n' "$a" "$INTERVAL"
        done
        printf '}\n'
    done
}

setup() {
    ip netns del d 2>/dev/null || true; ip netns del rs 2>/dev/null || true
    ip netns add d; ip netns add rs
    ip -n d link set lo up; ip -n rs link set lo up
    ip -n d link add vd type veth peer name vr netns rs
    ip -n d addr add 10.1.255.254/16 dev vd; ip -n d addr add 10.2.255.254/16 dev vd
    ip -n d link set vd up
    {
        for s in $(seq 0 $((SERVICES - 1))); do
            for r in $(seq 0 $((REALS - 1))); do echo "addr add $(rip "$s" "$r")/16 dev vr"; done
        done
        for s in $(seq 0 $((CHANGED - 1))); do echo "addr add $(new_rip "$s")/16 dev vr"; done
    } | ip -n rs -batch -
    ip -n rs link set vr up
    ip netns exec rs $R/examples/nanny-bench responder 8080 &
    sleep 1
}

WAIT_MAX=${WAIT_MAX:-120}
# Seconds until the table holds exactly the wanted set, or ">WAIT_MAX".
wait_table() { # wantfile since [beforefile]
    ip netns exec d $R/examples/lvsd-bench wait "$1" "$2" "$WAIT_MAX" ${3:-} || echo ">$WAIT_MAX"
}

# Before a reload: the table full again and then 10 s without a change.
settle() {
    wait_table $W/want0 "$(date +%s.%N)" >/dev/null
    sleep 10
    wait_table $W/want0 "$(date +%s.%N)" >/dev/null
}

want 0 >$W/want0
want 1 >$W/want1
lvs_cf 0 >$W/lvs0.cf
lvs_cf 1 >$W/lvs1.cf
keepalived_conf 0 alpha >$W/ka-alpha0.conf
keepalived_conf 1 alpha >$W/ka-alpha1.conf
keepalived_conf 0 plain >$W/ka-plain0.conf
keepalived_conf 1 plain >$W/ka-plain1.conf
: >$W/results

# ---- lvsd: starts 1 nanny per real server; each adds its server after a good probe.
setup
cp $W/lvs0.cf $W/lvs.cf
t0=$(date +%s.%N)
ip netns exec d $R/lvsd -n -c $W/lvs.cf --pidfile $W/lvs.pid >$W/lvsd.out 2>&1 &
lvsd_pid=$!
start=$(wait_table $W/want0 "$t0")
# The reload is timed from a settled director: every nanny started (in this emulated VM
# starting 1,000 processes takes about a minute of CPU) and the table full.
for _ in $(seq 1 300); do
    [ "$(pgrep -c -x nanny)" -ge $((SERVICES * REALS)) ] && break
    sleep 1
done
settle
cp $W/lvs1.cf $W/lvs.cf
t0=$(date +%s.%N)
kill -HUP $lvsd_pid
reload=$(wait_table $W/want1 "$t0" $W/want0)
echo "lvsd $start $reload" >>$W/results
case "$start$reload" in *'>'*) echo "lvsd did not converge; its output:"; tail -40 $W/lvsd.out ;; esac
kill -TERM $lvsd_pid; wait $lvsd_pid || true
ip netns exec rs pkill -f "nanny-bench responder" || true

# ---- keepalived, with and without alpha.
for mode in alpha plain; do
    setup
    cp $W/ka-${mode}0.conf $W/keepalived.conf
    t0=$(date +%s.%N)
    ip netns exec d keepalived --check -n -f $W/keepalived.conf -p $W/ka.pid -c $W/ka-check.pid >/dev/null 2>&1 &
    ka=$!
    start=$(wait_table $W/want0 "$t0")
    settle
    cp $W/ka-${mode}1.conf $W/keepalived.conf
    t0=$(date +%s.%N)
    kill -HUP "$(cat $W/ka.pid)"
    reload=$(wait_table $W/want1 "$t0" $W/want0)
    echo "keepalived-$mode $start $reload" >>$W/results
    kill -TERM $ka; wait $ka || true
    ip netns exec rs pkill -f "nanny-bench responder" || true
done

printf '\n%d services x %d real servers, TCP connect check every %d s (timeout %d s); reload replaces %d real servers\n' \
    "$SERVICES" "$REALS" "$INTERVAL" "$INTERVAL" "$CHANGED"
printf '  %-38s %18s %18s\n' "" "start -> full (s)" "reload -> done (s)"
while read -r label start reload; do
    case $label in
        keepalived-alpha) label="keepalived (alpha: checked first)" ;;
        keepalived-plain) label="keepalived (default: unchecked)" ;;
    esac
    printf '  %-38s %18s %18s\n' "$label" "$start" "$reload"
done <$W/results
# A daemon that did not converge counts as taking twice the limit.
num() { case $1 in '>'*) echo $((2 * WAIT_MAX)) ;; *) echo "$1" ;; esac; }
lvsd_start=$(num "$(awk '$1 == "lvsd" {print $2}' $W/results)")
lvsd_reload=$(num "$(awk '$1 == "lvsd" {print $3}' $W/results)")
ka_start=$(num "$(awk '$1 == "keepalived-alpha" {print $2}' $W/results)")
printf '  ratio lvsd / keepalived (alpha), start-up: %.2f\n' "$(echo "$lvsd_start / $ka_start" | bc -l)"
fail=0
(( $(echo "$lvsd_start <= $ka_start" | bc -l) )) || { echo "FAIL: lvsd start-up slower than keepalived's"; fail=1; }
(( $(echo "$lvsd_reload < 1" | bc -l) )) || { echo "FAIL: lvsd reload took $lvsd_reload s"; fail=1; }
[ $fail = 0 ] && echo PASS
printf 'VERDICT: %s: start-up %.2fx keepalived with alpha (target <= 1), reload %s s (< 1)\n' \
    "$([ $fail = 0 ] && echo PASS || echo FAIL)" "$(echo "$lvsd_start / $ka_start" | bc -l)" "$lvsd_reload"
exit $fail
