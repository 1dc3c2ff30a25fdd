#!/usr/bin/env python3
"""A real server of the director-pair topology: answers its NAME on every protocol the
demo and the acceptance suite use, on every address of its namespace (IPv4 and IPv6):

  TCP 80   HTTP/1.1 with keep-alive: any path answers "NAME\\n" (so a held connection
           shows which real server serves it); GET /health answers 503 while the file
           FLAGDIR/down exists (the health check fails, established connections go on)
  UDP 53   every datagram is answered with NAME, from the address it was sent to (one
           socket per IPv4 address: a NAT reply must leave from the NAT address)
  SCTP 9   on eth0's address (NAT): every message on an association is answered with
           NAME (skipped, with a line on stderr, when the kernel has no SCTP)

The moment the HTTP listener began goes to FLAGDIR/listening (time.monotonic()).

    rs-server.py NAME FLAGDIR
"""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

name, flagdir = sys.argv[1], sys.argv[2]
answer = (name + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        down = self.path == "/health" and os.path.exists(os.path.join(flagdir, "down"))
        body = b"down\n" if down else answer
        self.send_response(503 if down else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class DualStack(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def ipv4_addresses(dev=None):
    argv = ["ip", "-j", "-4", "addr", "show"] + (["dev", dev] if dev else [])
    links = json.loads(subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout)
    return [a["local"] for link in links for a in link.get("addr_info", [])
            if not a["local"].startswith("127.")]


def udp(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        _, peer = s.recvfrom(2048)
        s.sendto(name.encode(), peer)


def sctp_association(conn):
    with conn:
        while conn.recv(2048):
            conn.send(name.encode())


def sctp():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError as e:
        print(f"rs-server {name}: no SCTP ({e})", file=sys.stderr)
        return
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ipv4_addresses("eth0")[0], 9))
    s.listen(64)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=sctp_association, args=(conn,), daemon=True).start()


for addr in ipv4_addresses():
    threading.Thread(target=udp, args=(addr,), daemon=True).start()
threading.Thread(target=sctp, daemon=True).start()
web = DualStack(("::", 80), Handler)
# When the HTTP listener began (the system's monotonic clock), for tests that time what
# follows from it; written whole, then renamed.
with open(os.path.join(flagdir, "listening.tmp"), "w") as f:
    f.write(f"{time.monotonic()}\n")
os.replace(os.path.join(flagdir, "listening.tmp"), os.path.join(flagdir, "listening"))
web.serve_forever()
