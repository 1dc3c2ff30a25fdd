#!/usr/bin/env python3
"""The fleet bed's client (tests/fleet/bed.py), run in the client namespace:

    flows.py share N             N new connections to the VIP, ten at a time, from the
                                 client's source addresses in turn; prints
                                 {"ok": N, "failed": N}
    flows.py hold N READY STOP   N keep-alive connections, each asking every 0.3 s for
                                 the real server's name and checking it is the same; once
                                 all are open, READY gets [[source, port, server], ...];
                                 once STOP exists (or after 300 s) prints {"conns":
                                 [{"src", "sport", "server", "broken", "why"}]}
    flows.py rate SECS THREADS   as many new connections as THREADS threads make in SECS;
                                 prints {"ok": N, "failed": N, "per_second": X}

A connection counts as broken when a request on it fails (reset, closed, no answer in
5 s: longer than TCP's first retransmissions, so a flow the router moved is given the time
to find its server again) or answers from another real server.
"""
import json
import os
import socket
import sys
import threading
import time

VIP = ("10.77.100.1", 80)
SOURCES = [f"10.78.0.{n}" for n in range(100, 160)]
REQUEST = b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n"


def read_answer(s):
    """One HTTP/1.1 answer's body (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return body[:length].decode().strip()


def connect(src, timeout):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(VIP)
    return s


def one(src):
    try:
        s = connect(src, 2)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        return data.startswith(b"HTTP/1")
    except OSError:
        return False


def share(n):
    results, lock = [], threading.Lock()
    idx = iter(range(n))

    def worker():
        for i in idx:
            ok = one(SOURCES[i % len(SOURCES)])
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = sum(results)
    print(json.dumps({"ok": ok, "failed": len(results) - ok}))


def hold(n, ready, stop):
    conns = []
    for i in range(n):
        src = SOURCES[i % len(SOURCES)]
        try:
            s = connect(src, 5)
            s.sendall(REQUEST)
            server = read_answer(s)
        except OSError as e:
            print(json.dumps({"error": f"connection {i} from {src}: {e}"}))
            sys.exit(1)
        conns.append({"sock": s, "src": src, "sport": s.getsockname()[1], "server": server,
                      "broken": False, "why": None})
    with open(ready + ".tmp", "w") as f:
        json.dump([[c["src"], c["sport"], c["server"]] for c in conns], f)
    os.replace(ready + ".tmp", ready)
    end = time.monotonic() + 300

    def keep(c):
        while time.monotonic() < end and not os.path.exists(stop):
            time.sleep(0.3)
            try:
                c["sock"].sendall(REQUEST)
                got = read_answer(c["sock"])
            except OSError as e:
                c["broken"], c["why"] = True, f"{type(e).__name__}: {e}"
                return
            if got != c["server"]:
                c["broken"], c["why"] = True, f"answered by {got}"
                return

    threads = [threading.Thread(target=keep, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"conns": [{k: c[k] for k in ("src", "sport", "server", "broken", "why")}
                                for c in conns]}))


def rate(secs, nthreads):
    counts, lock = [0, 0], threading.Lock()
    end = time.monotonic() + secs

    def worker(k):
        i = k
        while time.monotonic() < end:
            ok = one(SOURCES[i % len(SOURCES)])
            i += nthreads
            with lock:
                counts[0 if ok else 1] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"ok": counts[0], "failed": counts[1], "per_second": counts[0] / secs}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "share":
        share(int(sys.argv[2]))
    elif cmd == "hold":
        hold(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif cmd == "rate":
        rate(float(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} share N | hold N READY STOP | rate SECS THREADS")
