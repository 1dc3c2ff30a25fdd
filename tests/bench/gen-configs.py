#!/usr/bin/env python3
"""Generates an lvs.cf and an equivalent keepalived.conf with V virtual services of R real
servers each, for the parse benchmark (tests/bench/parse-vs-keepalived.sh).

Addresses are in TEST-NET/private ranges and are never contacted: both tools only parse."""
import sys


def addr(base, n):
    return f"{base}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: gen-configs.py VIRTUALS REALS LVS_CF KEEPALIVED_CONF")
    nv, nr, lvs_path, ka_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(lvs_path, "w") as lvs, open(ka_path, "w") as ka:
        lvs.write("serial_no = 1\nprimary = 192.0.2.10\nservice = lvs\nbackup_active = 1\n"
                  "backup = 192.0.2.11\nheartbeat = 1\nheartbeat_port = 539\nkeepalive = 2\n"
                  "deadtime = 5\nnetwork = nat\nnat_router = 10.255.255.254 eth1:1\n")
        ka.write("global_defs {\n    router_id bench\n}\n")
        for v in range(nv):
            vip = f"172.16.{((v + 1) >> 8) & 255}.{(v + 1) & 255}"
            port = 80 + (v % 1000)
            lvs.write(f"virtual vs{v} {{\n     active = 1\n     address = {vip} eth0:{v + 1}\n"
                      f"     port = {port}\n     send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n"
                      f"     expect = \"HTTP\"\n     scheduler = wlc\n     protocol = tcp\n"
                      f"     timeout = 6\n     reentry = 15\n")
            ka.write(f"virtual_server {vip} {port} {{\n    delay_loop 6\n    lb_algo wlc\n"
                     f"    lb_kind NAT\n    protocol TCP\n")
            for r in range(nr):
                rip = addr("10", v * nr + r + 1)
                lvs.write(f"     server rs{r} {{\n         address = {rip}\n         active = 1\n"
                          f"         port = 8080\n         weight = 1\n     }}\n")
                ka.write(f"    real_server {rip} 8080 {{\n        weight 1\n"
                         f"        TCP_CHECK {{\n            connect_timeout 6\n        }}\n    }}\n")
            lvs.write("}\n")
            ka.write("}\n")


if __name__ == "__main__":
    main()
