#!/usr/bin/env bash
# The VM side of scripts/demo: one director (lvsd + nannies) in front of three real
# servers and a client, each in its own network namespace, NAT. Runs as root inside the
# IPVS test VM (tests/vm/vm.sh).
set -euo pipefail
BIN=$PWD/target/release
W=/tmp/demo
mkdir -p $W

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show_table() { ip netns exec dir ipvsadm -Ln | sed 's/^/    /'; }
# 30 requests from the client through the VIP; the answers name the real server.
hits() {
    for _ in $(seq 1 30); do
        ip netns exec cl curl -s -m 2 http://192.0.2.1/ || echo 'request failed'
    done | sort | uniq -c | sed 's/^/    /'
}
lvsd_says() { # show lvsd's (and its nannies') new lines since the last call
    local n
    n=$(wc -l <$W/lvsd.out)
    # Repeated lines (a nanny's failed probes) are shown once, with a count.
    sed -n "$((${SEEN:-0} + 1)),${n}p" $W/lvsd.out | uniq -c |
        awk '{ n = $1; sub(/^ *[0-9]+ /, ""); print "    | " $0 (n > 1 ? "   (x" n ")" : "") }'
    SEEN=$n
}
wait_for() { # seconds condition...
    local t=$1; shift
    for _ in $(seq 1 $((t * 5))); do "$@" && return 0; sleep 0.2; done
    return 1
}
in_table() { ip netns exec dir ipvsadm -Ln | grep -q -- "-> $1:80"; }
not_in_table() { ! in_table "$1"; }
first_three_in() { in_table 10.1.0.2 && in_table 10.2.0.2 && in_table 10.3.0.2; }

step "network: director 'dir', real servers rs1-rs4 (10.N.0.2), client 'cl' (10.200.0.2)"
ip netns add dir
ip -n dir link set lo up
ip -n dir addr add 192.0.2.1/32 dev lo
ip netns exec dir sysctl -qw net.ipv4.ip_forward=1
for n in 1 2 3 4; do
    ip netns add rs$n
    ip -n rs$n link set lo up
    ip -n dir link add vd$n type veth peer name eth0 netns rs$n
    ip -n dir addr add 10.$n.0.1/24 dev vd$n
    ip -n dir link set vd$n up
    ip -n rs$n addr add 10.$n.0.2/24 dev eth0
    ip -n rs$n link set eth0 up
    ip -n rs$n route add default via 10.$n.0.1
    mkdir -p $W/www$n
    echo "real server rs$n (10.$n.0.2)" >$W/www$n/index.html
done
ip netns add cl
ip -n cl link set lo up
ip -n dir link add vdc type veth peer name eth0 netns cl
ip -n dir addr add 10.200.0.1/24 dev vdc
ip -n dir link set vdc up
ip -n cl addr add 10.200.0.2/24 dev eth0
ip -n cl link set eth0 up
ip -n cl route add default via 10.200.0.1
web() { # start the web server of real server N
    ip netns exec rs$1 python3 -m http.server 80 --bind 10.$1.0.2 --directory $W/www$1 >/dev/null 2>&1 &
    echo $! >$W/www$1.pid
}
serving() { ip netns exec dir curl -sf -m 1 -o /dev/null "http://10.$1.0.2/"; }
for n in 1 2 3 4; do web $n; done
for n in 1 2 3 4; do wait_for 30 serving $n; done

config() { # scheduler, then the real servers
    local sched=$1; shift
    printf 'serial_no = 1\nservice = lvs\nnetwork = nat\nvirtual www {\n     active = 1\n     address = 192.0.2.1 eth0:1\n     port = 80\n'
    printf '     send = "GET / HTTP/1.0\\r\\n\\r\\n"\n     expect = "HTTP/1.0 200"\n     scheduler = %s\n     timeout = 1\n     reentry = 3\n     client_monitor = %s/nanny\n' "$sched" "$BIN"
    for n in "$@"; do
        printf '     server rs%s {\n         address = 10.%s.0.2\n         active = 1\n         weight = 1\n     }\n' "$n" "$n"
    done
    printf '}\n'
}
config wlc 1 2 3 >$W/lvs.cf
step "lvs.cf: one virtual service, three real servers (nanny checks every second)"
sed 's/^/    /' $W/lvs.cf

step "starting lvsd in the director: lvsd -n -c lvs.cf"
ip netns exec dir $BIN/lvsd -n -c $W/lvs.cf --pidfile $W/lvs.pid >$W/lvsd.out 2>&1 &
LVSD=$!
wait_for 20 first_three_in
sleep 1
lvsd_says
step "the IPVS table (ipvsadm -Ln)"
show_table
step "30 requests from the client to http://192.0.2.1/"
hits

step "real server rs2 fails (its web server is stopped)"
kill "$(cat $W/www2.pid)"
wait_for 10 not_in_table 10.2.0.2
lvsd_says
show_table
hits

step "rs2 comes back (admitted again after reentry = 3 s of good probes)"
web 2
wait_for 30 serving 2
wait_for 20 in_table 10.2.0.2
lvsd_says
show_table
hits

step "reload: lvs.cf now uses the rr scheduler and adds rs4; kill -HUP lvsd"
config rr 1 2 3 4 >$W/lvs.cf
kill -HUP $LVSD
wait_for 20 in_table 10.4.0.2
sleep 1
lvsd_says
show_table
hits
echo "    (rs1-rs3 kept their nannies and their connections; only rs4's nanny was started)"

step "shutting lvsd down (SIGTERM): nannies remove their servers, lvsd its service"
kill -TERM $LVSD
wait $LVSD || true
lvsd_says
show_table
echo "    (the table is empty again: nothing of lvsd's is left)"
