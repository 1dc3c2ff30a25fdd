#!/usr/bin/env bash
# The VM side of scripts/demo: a highly available LVS cluster. Two directors running our
# pulse, lvsd and nannies from one lvs.cf (a NAT and a direct-routing virtual service), three
# real servers, a client, each in its
# own network namespace (tests/pair/topology.sh). Narrates each step with what it
# measured and ends with a summary; exits 0 only when everything behaved. Runs as root
# inside the IPVS test VM (tests/vm/vm.sh).
set -euo pipefail
BIN=$PWD/target/release
W=/run/demo
P=dm
TOPO="bash tests/pair/topology.sh"
rm -rf $W; mkdir -p $W/d1 $W/d2
RESULTS=()
FAILED=0

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
inns() { local h=$1; shift; ip netns exec "$P$h" "$@"; }
# client.py for SECS seconds in the background (its JSON to FILE, its pid in CLIENT),
# returning once its first request has started (starting Python takes a while here).
client_loop() { # SECS FILE
    rm -f "$W/client-ready"
    inns cl env CLIENT_READY_FILE="$W/client-ready" python3 tests/pair/client.py \
        http://192.168.77.100/ "$1" >"$2" &
    CLIENT=$!
    for _ in $(seq 200); do [ -e "$W/client-ready" ] && return; sleep 0.1; done
}
result() { # ok|FAIL text
    RESULTS+=("$(printf '%-4s %s' "$1" "$2")")
    [ "$1" = ok ] || FAILED=1
    printf '    [%s] %s\n' "$1" "$2"
}
check() { # text command...: records whether the command succeeded
    local text=$1; shift
    if "$@"; then result ok "$text"; else result FAIL "$text"; fi
}
wait_for() { # seconds command...
    local t=$1; shift
    for _ in $(seq 1 $((t * 10))); do "$@" && return 0; sleep 0.1; done
    return 1
}
active() { # which director holds the VIP
    for d in d1 d2; do
        # Not `ip | grep -q`: grep's early exit fails the pipe under pipefail.
        [[ $(inns $d ip -4 -o addr show dev eth0) == *" 192.168.77.100/"* ]] && { echo $d; return; }
    done
    echo none
}
is_active() { [ "$(active)" = "$1" ]; }
table() { inns "$1" ipvsadm -Ln | sed 's/^/    /'; }
in_table() { # director N: real server N in the NAT and the DR service
    inns "$1" ipvsadm -Ln | grep -q -- "-> 10.77.1.2$2:80" &&
        inns "$1" ipvsadm -Ln | grep -q -- "-> 192.168.77.2$2:80"
}
not_in_table_any() { # neither service has real server N
    ! inns "$1" ipvsadm -Ln | grep -q -e "-> 10.77.1.2$2:80" -e "-> 192.168.77.2$2:80"
}
says() { # director: its new log lines since the last call
    local f=$W/$1.log n
    n=$(wc -l <"$f")
    local seen_var=SEEN_$1
    sed -n "$((${!seen_var:-0} + 1)),${n}p" "$f" | uniq -c |
        awk '{ n = $1; sub(/^ *[0-9]+ /, ""); print "    | " $0 (n > 1 ? "   (x" n ")" : "") }'
    printf -v "$seen_var" '%s' "$n"
}
hits() { # 30 requests through each VIP; the answers name the real server
    for vip in 192.168.77.100 192.168.77.101; do
        [ $vip = 192.168.77.100 ] && echo "    NAT service http://$vip/:" || echo "    DR service http://$vip/:"
        for _ in $(seq 1 30); do
            inns cl curl -s -m 1 http://$vip/ || echo 'request failed'
        done | sort | uniq -c | sed 's/^/      /'
    done
}
outage() { # client.py's JSON: the longest outage in ms
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v["worst_ms"] if v["recovered"] else 99999)' "$1"
}
pulse_start() { # director; `ip netns exec` execs pulse, so $! is pulse's pid
    ip netns exec "$P$1" $BIN/pulse -n -c $W/lvs.cf --pidfile=$W/$1/pulse.pid \
        --lvsd=$BIN/lvsd >>$W/$1.log 2>&1 </dev/null &
    echo $! >$W/$1.pid
}
cleanup() { $TOPO down $P >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "network: directors d1 (192.168.77.10) and d2 (.11), client cl (.50), real servers rs1-rs3: 10.77.1.21-23 behind NAT, 192.168.77.21-23 for direct routing"
$TOPO down $P; $TOPO up $P
echo "    the VIPs 192.168.77.100 (NAT) and .101 (direct routing), and the real servers' NAT"
echo "    gateway 10.77.1.254, belong to the active director; the real servers hold .101 on lo"

bash tests/pair/lvs-cf.sh 1 3 0 $BIN/nanny DR >$W/lvs.cf
step "lvs.cf, the same on both directors (heartbeat every 1 s, partner dead after 3 s)"
sed 's/^/    /' $W/lvs.cf

step "starting pulse on d1 (the primary), then on d2"
: >$W/d1.log; : >$W/d2.log
pulse_start d1
check "d1 alone becomes active after deadtime" wait_for 10 grep -q "partner dead: activating lvs" $W/d1.log
pulse_start d2
check "d2 joins as the standby" wait_for 10 grep -q "STARTING PULSE AS BACKUP" $W/d2.log
check "d1's lvsd fills the IPVS table" wait_for 20 in_table d1 3
sleep 2
says d1; says d2
echo "    active director: $(active)"
step "d1's IPVS table (ipvsadm -Ln); d2 has none (cold standby)"
table d1
step "30 requests from the client through each VIP (rr: each real server in turn)"
hits

step "real server rs2 fails (its web server stops)"
$TOPO web $P 2 stop
check "the nannies take rs2 out of both services" wait_for 10 not_in_table_any d1 2
says d1
table d1
hits
step "rs2 comes back"
$TOPO web $P 2 start
check "rs2 is back in the table after reentry" wait_for 20 in_table d1 2
says d1

step "the active director d1 drops off the network (both cables pulled); the client requests every 10 ms"
client_loop 12 $W/failover.json
sleep 2
$TOPO cable $P d1 down
wait $CLIENT
FAILOVER=$(outage $W/failover.json)
says d1; says d2
check "d2 took over (active: $(active))" is_active d2
check "the client's longest outage was ${FAILOVER} ms (deadtime 3 s + activation)" [ "$FAILOVER" -le 5000 ]
table d2

step "d1 is plugged in again: it stays the standby (no preemption, as legacy)"
$TOPO cable $P d1 up
sleep 4
says d1
check "d2 is still active" is_active d2

step "failback: pulse on d2 is stopped (SIGTERM); its last heartbeat hands over at once"
client_loop 8 $W/failback.json
sleep 2
kill -TERM "$(cat $W/d2.pid)"
wait $CLIENT
wait "$(cat $W/d2.pid)" || true
FAILBACK=$(outage $W/failback.json)
says d2; says d1
check "d1 is active again (active: $(active))" is_active d1
check "the client's longest outage was ${FAILBACK} ms" [ "$FAILBACK" -le 3000 ]
check "d2 left nothing behind (no VIP, no IPVS service)" bash -c "! ip -n ${P}d2 addr | grep -q 192.168.77.100 && [ -z \"\$(ip netns exec ${P}d2 ipvsadm -Sn)\" ]"
wait_for 20 in_table d1 3 || true
table d1

step "reload on the active director: the NAT service gains rs4; kill -HUP pulse (passed on to lvsd)"
$TOPO rs $P 4
awk '/^virtual web \{/ { web = 1 }
     web && /^}/ { print "     server rs4 {\n         address = 10.77.1.24\n         active = 1\n     }"; web = 0 }
     { print }' $W/lvs.cf >$W/lvs.cf.new
mv $W/lvs.cf.new $W/lvs.cf
client_loop 6 $W/reload.json
sleep 1
kill -HUP "$(cat $W/d1.pid)"
check "rs4 enters d1's NAT service" wait_for 20 bash -c "ip netns exec ${P}d1 ipvsadm -Ln | grep -q -- '-> 10.77.1.24:80'"
wait $CLIENT
RELOAD=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v["failed"])' $W/reload.json)
says d1
check "no client request failed during the reload ($RELOAD failed)" [ "$RELOAD" -eq 0 ]
table d1
hits

step "summary"
printf '    %s\n' "${RESULTS[@]}"
echo "    failover ${FAILOVER} ms, failback ${FAILBACK} ms, requests lost in the reload: ${RELOAD}"
if [ $FAILED = 0 ]; then
    echo "    everything behaved"
else
    echo "    SOMETHING WENT WRONG (see FAIL above)"
fi
kill -TERM "$(cat $W/d1.pid)" 2>/dev/null || true
sleep 1
exit $FAILED
