#!/usr/bin/env bash
# A director pair in network namespaces, for the VM tests, the failover benchmark and the
# demo (root, in the IPVS test VM: each director namespace has its own IPVS table).
#
#   tests/pair/topology.sh up PREFIX     build it (PREFIX: at most 10 characters)
#   tests/pair/topology.sh down PREFIX   remove it, and every process in it
#   tests/pair/topology.sh cable PREFIX HOST up|down
#                                        plug a host's cables in or out (carrier follows)
#   tests/pair/topology.sh rs PREFIX N   add real server N (4-9) to a running topology
#   tests/pair/topology.sh web PREFIX N start|stop
#                                        start or stop real server N's servers (a crash)
#   tests/pair/topology.sh health PREFIX N up|down
#                                        make real server N's health check (GET /health)
#                                        pass or fail; its connections go on either way
#
# PREFIXsw  the switch: bridges br0 (public, 192.168.77.0/24) and br1 (the real servers'
#           LAN, 10.77.1.0/24)
# PREFIXd1  director 1: eth0 192.168.77.10 (and 2001:db8:77::10), eth1 10.77.1.10; forwards
# PREFIXd2  director 2: eth0 192.168.77.11 (and 2001:db8:77::11), eth1 10.77.1.11; forwards
# PREFIXcl  the client: eth0 192.168.77.50 (and 2001:db8:77::50)
# PREFIXrsN real servers 1-3: eth0 10.77.1.2N on br1 for NAT: replies from that address
#           go via the NAT router address 10.77.1.254 (which moves with the active
#           director; source routing, table 100); eth1 192.168.77.2N and 2001:db8:77::2N on
#           br0 for direct routing, with the DR VIPs 192.168.77.101 and 2001:db8:77::101 on
#           lo (arp_ignore 1, arp_announce 2: only the director answers for them);
#           tests/pair/rs-server.py answering "rsN" on HTTP 80, UDP 53 and SCTP 9
# PREFIXrs0 the sorry server, the same on 10.77.1.20 / 192.168.77.20, answering "sorry"
# The VIPs (192.168.77.100 NAT, .101 DR, 2001:db8:77::101 DR) and the NAT router address
# are the active director's to add.
set -euo pipefail
cmd=$1 P=$2
HERE=$(cd "$(dirname "$0")" && pwd)

link() { # host ifname bridge addr/len [addr6/len]
    local ns=$P$1 port=$P$1${2: -1}
    ip link add "$port" type veth peer name "$2" netns "$ns"
    ip link set "$port" netns "${P}sw"
    ip -n "${P}sw" link set "$port" master "$3" up
    ip -n "$ns" addr add "$4" dev "$2"
    [ -z "${5:-}" ] || ip -n "$ns" addr add "$5" dev "$2" nodad
    ip -n "$ns" link set "$2" up
}

up() {
    ip netns add "${P}sw"
    for br in br0 br1; do
        ip -n "${P}sw" link add $br type bridge
        ip -n "${P}sw" link set $br up
    done
    for h in d1 d2 cl; do
        ip netns add "$P$h"
        ip -n "$P$h" link set lo up
    done
    link d1 eth0 br0 192.168.77.10/24 2001:db8:77::10/64
    link d1 eth1 br1 10.77.1.10/24
    link d2 eth0 br0 192.168.77.11/24 2001:db8:77::11/64
    link d2 eth1 br1 10.77.1.11/24
    link cl eth0 br0 192.168.77.50/24 2001:db8:77::50/64
    for d in d1 d2; do
        ip netns exec "$P$d" sysctl -qw net.ipv4.ip_forward=1
    done
    for n in 0 1 2 3; do real_server $n; done
}

real_server() { # N: its namespace, cables, routes and servers
    local ns=${P}rs$1
    [ -e "/run/netns/$ns" ] || { ip netns add "$ns"; ip -n "$ns" link set lo up; }
    for k in all default; do
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.$k.arp_ignore=1 net.ipv4.conf.$k.arp_announce=2
    done
    link rs$1 eth0 br1 10.77.1.2$1/24
    link rs$1 eth1 br0 192.168.77.2$1/24 2001:db8:77::2$1/64
    ip -n "$ns" addr add 192.168.77.101/32 dev lo
    ip -n "$ns" addr add 2001:db8:77::101/128 dev lo nodad
    ip -n "$ns" route add default via 10.77.1.254 dev eth0
    ip -n "$ns" rule add from 10.77.1.2$1 table 100
    ip -n "$ns" route add 10.77.1.0/24 dev eth0 table 100
    ip -n "$ns" route add default via 10.77.1.254 dev eth0 table 100
    web "$1" start
}

web() { # N start|stop
    local www=/run/pair-$P-www$1 name=rs$1
    [ "$1" != 0 ] || name=sorry
    if [ "$2" = stop ]; then
        pkill -f -- "rs-server.py $name $www\$" || true
        return
    fi
    mkdir -p "$www"
    ip netns exec "${P}rs$1" setsid python3 "$HERE/rs-server.py" $name "$www" \
        >/dev/null 2>&1 </dev/null &
    for _ in $(seq 1 100); do
        ip netns exec "${P}rs$1" ss -Hltn | grep -q ":80 " && return
        sleep 0.1
    done
}

health() { # N up|down
    if [ "$2" = down ]; then touch "/run/pair-$P-www$1/down"; else rm -f "/run/pair-$P-www$1/down"; fi
}

down() {
    for h in d1 d2 cl rs0 rs1 rs2 rs3 rs4 rs5 rs6 rs7 rs8 rs9 sw; do
        pids=$(ip netns pids "$P$h" 2>/dev/null || true)
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
        ip netns del "$P$h" 2>/dev/null || true
    done
    rm -rf /run/pair-"$P"-www*
}

cable() { # host up|down
    for i in 0 1; do
        ip -n "${P}sw" link set "$P$1$i" "$2" 2>/dev/null || true
    done
}

case $cmd in
    up) up ;;
    down) down ;;
    cable) cable "$3" "$4" ;;
    rs) real_server "$3" ;;
    web) web "$3" "$4" ;;
    health) health "$3" "$4" ;;
    *) echo "usage: $0 up|down|cable|rs|web|health PREFIX [ARGS]" >&2; exit 1 ;;
esac
