#!/usr/bin/env bash
# The VM side of tests/bench/failover-vs-keepalived.sh (see there).
set -euo pipefail
R=$PWD/target/release
# /run: a tmpfs of the VM's own.
W=/run/fbench
ROUNDS=${ROUNDS:-3}
P=fb
TOPO="bash tests/pair/topology.sh"
rm -rf $W; mkdir -p $W

inns() { local h=$1; shift; ip netns exec "$P$h" "$@"; }
wait_for() { # seconds file text
    for _ in $(seq 1 $(($1 * 10))); do grep -qF -- "$3" "$2" 2>/dev/null && return 0; sleep 0.1; done
    echo "timed out waiting for '$3' in $2" >&2; tail -20 "$2" >&2; return 1
}
serving() { # seconds
    for _ in $(seq 1 $(($1 * 10))); do
        inns cl curl -s -m 0.5 http://192.168.77.100/ 2>/dev/null | grep -q '^rs' && return 0
        sleep 0.1
    done
    echo "the VIP does not answer" >&2; return 1
}

start_pulse() { # host keepalive deadtime warm
    mkdir -p $W/$1
    bash tests/pair/lvs-cf.sh "$2" "$3" "$4" $R/nanny >$W/$1/lvs.cf
    inns "$1" setsid $R/pulse -n -c $W/$1/lvs.cf --pidfile=$W/$1/pulse.pid --lvsd=$R/lvsd \
        >$W/$1.log 2>&1 </dev/null &
}

start_keepalived() { # host priority advert_int
    mkdir -p $W/$1
    bash tests/pair/keepalived-conf.sh "$1" "$2" "$3" >$W/$1/keepalived.conf
    inns "$1" setsid keepalived -n -l -G -D -f $W/$1/keepalived.conf -p $W/$1/ka.pid \
        -r $W/$1/vrrp.pid -c $W/$1/check.pid >$W/$1.log 2>&1 </dev/null &
}

# The worst client-visible gap (ms) when the active director d1 fails, by CAUSE:
# `link` (its cables pulled) or `kill` (kill -9 of the HA daemon).
fail_d1() { # cause secs
    if inns d2 ip -4 addr show dev eth0 | grep -q 192.168.77.100; then
        echo "setup: d2 holds the VIP before d1 fails" >&2; return 1
    fi
    inns cl python3 tests/pair/client.py http://192.168.77.100/ "$2" >$W/client.json &
    local client=$!
    sleep 2
    case $1 in
        link) $TOPO cable $P d1 down ;;
        kill) for p in $(ip netns pids ${P}d1); do
                  case $(cat /proc/$p/comm 2>/dev/null) in pulse|keepalived) kill -9 $p ;; esac
              done ;;
    esac
    wait $client
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v["worst_ms"] if len(v["hits"]) == 3 and v["recovered"] else "broken:" + json.dumps(v))' $W/client.json
}

ours() { # cause keepalive deadtime warm secs
    $TOPO down $P; $TOPO up $P
    rm -rf $W/d1 $W/d2
    start_pulse d1 "$2" "$3" "$4"
    wait_for 20 $W/d1.log "partner dead: activating lvs"
    serving 20
    start_pulse d2 "$2" "$3" "$4"
    wait_for 20 $W/d2.log "STARTING PULSE AS BACKUP"
    sleep 3
    grep -q "activating" $W/d2.log && { echo "d2 activated before the failure" >&2; return 1; }
    fail_d1 "$1" "$5"
    $TOPO down $P
}

theirs() { # cause advert_int secs
    $TOPO down $P; $TOPO up $P
    rm -rf $W/d1 $W/d2
    start_keepalived d1 150 "$2"
    wait_for 30 $W/d1.log "Entering MASTER STATE"
    serving 20
    start_keepalived d2 100 "$2"
    wait_for 30 $W/d2.log "Entering BACKUP STATE"
    sleep 3
    fail_d1 "$1" "$3"
    $TOPO down $P
}

# The median of ROUNDS runs of a scenario, and every figure: "median (a b c)".
rounds() {
    local all=() v
    for _ in $(seq 1 "$ROUNDS"); do
        v=$("$@" || echo "error") ; all+=("$v")
    done
    local sorted=($(printf '%s\n' "${all[@]}" | sort -n))
    echo "${sorted[$(( ${#sorted[@]} / 2 ))]} (${all[*]})"
}
median() { echo "${1%% *}"; }

echo "client: a request started every 10 ms through the VIP (each on its own, 1 s limit); the"
echo "figure is the longest outage, in ms: the median of $ROUNDS runs, and each run"
echo "(the VM emulates its CPUs)"
echo
row() { printf '%-56s %s\n' "$1" "$2"; }
row "scenario" "worst gap, ms"
legacy_link=$(rounds ours link 2 5 0 14);   row "pulse, legacy timers 2/5 s, cold lvsd: link down" "$legacy_link"
fast_link=$(rounds ours link 0.1 0.3 1 6);  row "pulse, fast timers 0.1/0.3 s, warm standby: link down" "$fast_link"
ka1_link=$(rounds theirs link 1 10);        row "keepalived VRRP advert_int 1: link down" "$ka1_link"
ka01_link=$(rounds theirs link 0.1 6);      row "keepalived VRRP advert_int 0.1: link down" "$ka01_link"
legacy_kill=$(rounds ours kill 2 5 0 14);   row "pulse, legacy timers 2/5 s, cold lvsd: kill -9" "$legacy_kill"
fast_kill=$(rounds ours kill 0.1 0.3 1 6);  row "pulse, fast timers 0.1/0.3 s, warm standby: kill -9" "$fast_kill"
ka1_kill=$(rounds theirs kill 1 10);        row "keepalived VRRP advert_int 1: kill -9" "$ka1_kill"
ka01_kill=$(rounds theirs kill 0.1 6);      row "keepalived VRRP advert_int 0.1: kill -9" "$ka01_kill"
echo
fast=$(median "$fast_link") ka01=$(median "$ka01_link") legacy=$(median "$legacy_link")
status=0
if [[ $fast =~ ^[0-9]+$ && $ka01 =~ ^[0-9]+$ ]] && [ "$fast" -lt "$ka01" ]; then
    echo "PASS fast timers ($fast ms) beat keepalived at advert_int 0.1 ($ka01 ms)"
else
    echo "FAIL fast timers ($fast ms) do not beat keepalived at advert_int 0.1 ($ka01 ms)"; status=1
fi
if [[ $legacy =~ ^[0-9]+$ ]] && [ "$legacy" -le 5500 ]; then
    echo "PASS legacy timers: $legacy ms <= deadtime + 0.5 s (5500 ms)"
else
    echo "FAIL legacy timers: $legacy ms > deadtime + 0.5 s (5500 ms)"; status=1
fi
printf 'VERDICT: %s: worst outage with fast timers %s ms (keepalived at advert_int 0.1: %s ms), legacy timers %s ms (target <= 5500)\n' \
    "$([ $status = 0 ] && echo PASS || echo FAIL)" "$fast" "$ka01" "$legacy"
exit $status
