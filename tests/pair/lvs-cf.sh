#!/usr/bin/env bash
# Prints the lvs.cf of the director pair of topology.sh: VIP 192.168.77.100 (eth0:1), NAT
# router 10.77.1.254 (eth1:1), the three real servers with an HTTP check every second,
# the IPVS sync daemon on eth1; with DR, also the direct-routing service `web-dr` on
# 192.168.77.101 (eth0:2) with the same real servers' public addresses.
#
#   tests/pair/lvs-cf.sh KEEPALIVE DEADTIME WARM_STANDBY NANNY [DR]
set -euo pipefail
cat <<CF
serial_no = 1
primary = 192.168.77.10
service = lvs
backup_active = 1
backup = 192.168.77.11
heartbeat = 1
heartbeat_port = 539
keepalive = $1
deadtime = $2
warm_standby = $3
network = nat
nat_router = 10.77.1.254 eth1:1
nat_nmask = 255.255.255.0
syncdaemon = 1
syncd_iface = eth1
syncd_id = 7
monitor_links = 1
CF

virtual() { # NAME ADDRESS DEVICE SUFFIX NETWORK_LINE SERVER_NET: a service of rs1-rs3
    cat <<CF
virtual $1 {
     active = 1
     address = $2 $3
     vip_nmask = 255.255.255.0
$5     port = 80
     send = "GET /health HTTP/1.0\r\n\r\n"
     expect = "HTTP/1.1 200"
     scheduler = rr
     timeout = 1
     reentry = 1
     client_monitor = $NANNY
CF
    for n in 1 2 3; do
        printf '     server rs%d%s {\n         address = %s%d\n         active = 1\n     }\n' $n "$4" "$6" $n
    done
    echo "}"
}

NANNY=$4
virtual web 192.168.77.100 eth0:1 "" "" 10.77.1.2
[ "${5:-}" = DR ] || exit 0
virtual web-dr 192.168.77.101 eth0:2 -dr "     network = direct
" 192.168.77.2
