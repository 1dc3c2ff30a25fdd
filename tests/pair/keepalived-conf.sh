#!/usr/bin/env bash
# Prints keepalived's configuration for a director of topology.sh, equivalent to
# lvs-cf.sh's: one VRRP instance on eth0 carrying the VIP (eth0:1) and the NAT router
# address (eth1:1), both directors BACKUP with nopreempt (pulse's no-preemption rule), and
# the same virtual service with a TCP check of each real server every second.
#
#   tests/pair/keepalived-conf.sh HOST PRIORITY ADVERT_INT
set -euo pipefail
cat <<CF
global_defs {
    router_id $1
}
vrrp_instance VI {
    # VRRPv3: VRRPv2 rounds a sub-second advert_int up to 1 s.
    version 3
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int $3
    virtual_ipaddress {
        192.168.77.100/24 dev eth0 label eth0:1
        10.77.1.254/24 dev eth1 label eth1:1
    }
}
virtual_server 192.168.77.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
CF
for n in 1 2 3; do
    printf '    real_server 10.77.1.2%d 80 {\n        weight 1\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n' $n
done
echo "}"
