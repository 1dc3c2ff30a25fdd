#!/usr/bin/env python3
"""The acceptance suite: the director pair of tests/pair/ (two directors running our pulse,
lvsd and nannies, real servers, a client, each in a network namespace) driven by
assertions, one scenario after another. Each scenario prints what it measured; the last
line is `acceptance: N passed, N failed`, and the exit status is 1 when any failed.

Runs as root in the IPVS test VM (scripts/test-all runs it there):

    tests/vm/vm.sh run python3 tests/acceptance/suite.py [NAME...]

NAMEs pick scenarios by substring; ACCEPTANCE_REPEAT=N runs them N times. PIRANHA_BIN names the directory of the binaries
(default target/debug). ACCEPTANCE_MONITORS=integrated runs every scenario with
`integrated_monitors = 1` (the real servers' monitors inside lvsd, not nanny processes);
scripts/test-all runs the suite in both modes. The ipvsadm and ip tools are only witnesses and clean-up here:
every change the scenarios check is made by our daemons.
"""
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PIRANHA_BIN", os.path.join(ROOT, "target", "debug"))
TOPOLOGY = os.path.join(ROOT, "tests", "pair", "topology.sh")
CLIENT = os.path.join(ROOT, "tests", "pair", "client.py")
P = "ac"
W = "/run/acceptance"
VIP, DR_VIP, FWM_VIP, DR_VIP6 = "192.168.77.100", "192.168.77.101", "192.168.77.102", "2001:db8:77::101"
HEALTH = 'send = "GET /health HTTP/1.0\\r\\n\\r\\n"\n expect = "HTTP/1.1 200"'
INTEGRATED = os.environ.get("ACCEPTANCE_MONITORS", "processes") == "integrated"

sys.path.insert(0, os.path.join(ROOT, "tests"))
from harness import Failed, expect, run, wait_for  # noqa: E402


def inns(host, *argv, **kw):
    return run("ip", "netns", "exec", P + host, *argv, **kw)


def topo(*args):
    return run("bash", TOPOLOGY, args[0], P, *args[1:], timeout=60)


# --- the configuration -------------------------------------------------------------------

def server(name, addr, weight=None):
    w = f"\n  weight = {weight}" if weight is not None else ""
    return f" server {name} {{\n  address = {addr}\n  active = 1{w}\n }}\n"


def virtual(name, address, servers, port=80, scheduler="rr", extra="", check=HEALTH,
            timeout=1, reentry=1):
    nmask = "" if ":" in address else " vip_nmask = 255.255.255.0\n"
    return (f"virtual {name} {{\n active = 1\n address = {address}\n{nmask}"
            f" port = {port}\n scheduler = {scheduler}\n timeout = {timeout}\n reentry = {reentry}\n"
            f" {check}\n client_monitor = {BIN}/nanny\n {extra}\n"
            + "".join(servers) + "}\n")


def nat_servers(weights=(None, None, None)):
    return [server(f"rs{n}", f"10.77.1.2{n}", w) for n, w in zip((1, 2, 3), weights)]


def web(**kw):
    return virtual("web", f"{VIP} eth0:1", kw.pop("servers", None) or nat_servers(), **kw)


def lvs_cf(*virtuals, keepalive=0.2, deadtime=1, extra=""):
    return (f"serial_no = 1\nprimary = 192.168.77.10\nservice = lvs\nbackup_active = 1\n"
            f"backup = 192.168.77.11\nheartbeat = 1\nheartbeat_port = 539\n"
            f"keepalive = {keepalive}\ndeadtime = {deadtime}\nnetwork = nat\n"
            f"nat_router = 10.77.1.254 eth1:1\nnat_nmask = 255.255.255.0\nmonitor_links = 1\n"
            + ("integrated_monitors = 1\n" if INTEGRATED else "")
            + f"{extra}\n"
            + "".join(virtuals))


# --- the directors -----------------------------------------------------------------------

class Director:
    def __init__(self, name):
        self.name, self.proc = name, None
        self.dir = os.path.join(W, name)
        self.log = os.path.join(W, f"{name}.log")
        # Each director's own copy, as on two machines: starting the second must not
        # rewrite the file the first one's lvsd is reading.
        self.cf = os.path.join(self.dir, "lvs.cf")

    def write_cf(self, cf):
        """Replaces the director's lvs.cf atomically (a reload reads it whole)."""
        os.makedirs(self.dir, exist_ok=True)
        with open(self.cf + ".new", "w") as f:
            f.write(cf)
        os.replace(self.cf + ".new", self.cf)

    def start(self, cf):
        self.write_cf(cf)
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", P + self.name, f"{BIN}/pulse", "-n", "-c", self.cf,
             f"--pidfile={self.dir}/pulse.pid", f"--lvsd={BIN}/lvsd"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self):
        if not self.proc:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def holds(self, addr):
        return f" {addr}/" in inns(self.name, "ip", "addr", "show", "dev", "eth0")

    def is_active(self):
        shown = inns(self.name, "ip", "addr", "show", "dev", "eth0")
        return any(f" {a}/" in shown for a in (VIP, DR_VIP, FWM_VIP, DR_VIP6))

    def table(self):
        """ipvsadm -Ln as {service: {destination: (method, weight, active, inactive)}}."""
        out, svc = {}, None
        for line in inns(self.name, "ipvsadm", "-Ln").splitlines():
            f = line.split()
            if f and f[0] in ("TCP", "UDP", "SCTP", "FWM"):
                svc = f"{f[0]} {f[1]}"
                out[svc] = {}
            elif f and f[0] == "->" and svc and f[1] != "RemoteAddress:Port":
                out[svc][f[1]] = (f[2], int(f[3]), int(f[4]), int(f[5]))
        return out

    def dests(self, svc):
        return self.table().get(svc, {})

    def said(self, text):
        with open(self.log, errors="replace") as f:
            return text in f.read()

    def tail(self, n=15):
        try:
            with open(self.log, errors="replace") as f:
                return f.readlines()[-n:]
        except OSError:
            return []


def mac(host, dev="eth0"):
    return json.loads(inns(host, "ip", "-j", "link", "show", dev))[0]["address"]


D1 = Director("d1")
D2 = Director("d2")
DIRECTORS = (D1, D2)


def start_active(cf, *directors):
    """Starts pulse on d1 (then the others) and waits until d1 is active with every real
    server of every service in its table."""
    D1.start(cf)
    expect(wait_for(20, D1.is_active) is not None, "d1 became active")
    for d in directors:
        d.start(cf)
        expect(wait_for(10, lambda: d.said("STARTING PULSE AS BACKUP")) is not None,
               f"{d.name} started as the backup")


def full(d, svc, n=3):
    expect(wait_for(30, lambda: len(d.dests(svc)) >= n) is not None,
           f"{d.name} has {n} real servers in {svc}: {d.table()}")


def cable(host, state):
    topo("cable", host, state)


# --- the client --------------------------------------------------------------------------

def hits(host, n, timeout=2):
    """n requests from the client, each on a new connection (one curl): answers counted by
    body (the real server's name), None for a failed request."""
    url = f"http://[{host}]/" if ":" in host else f"http://{host}/"
    out = inns("cl", "curl", "-s", "-g", "-m", str(timeout), "-H", "Connection: close",
               "-w", "|%{http_code}\n", *[url] * n, check=False, timeout=n * (timeout + 1) + 10)
    counts, body = {}, []
    for line in out.splitlines():
        if not line.startswith("|"):
            body.append(line)
            continue
        key = "".join(body).strip() if line == "|200" else None
        counts[key] = counts.get(key, 0) + 1
        body = []
    missing = n - sum(counts.values())
    if missing:
        counts[None] = counts.get(None, 0) + missing
    return counts


class InClient:
    """Code run in the client namespace: a Python child there, fed one statement per line,
    so that held connections live in that namespace. Each call returns what it printed."""

    def __init__(self):
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", P + "cl", "python3", "-u", "-c", CHILD],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, stmt, timeout=20):
        self.p.stdin.write(stmt.replace("\n", "\\n") + "\n")
        self.p.stdin.flush()
        result = []

        def read():
            result.append(self.p.stdout.readline().strip())
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        expect(result, f"the client answered `{stmt}` within {timeout} s")
        return result[0]

    def close(self):
        self.p.kill()
        self.p.wait()


def answers(statements, while_held=lambda: None):
    """Runs each statement in one client, counting what they answered; while_held() runs
    before the client (and every connection it holds) goes."""
    c = InClient()
    try:
        got = {}
        for stmt in statements:
            r = c(stmt)
            got[r] = got.get(r, 0) + 1
        return got, while_held()
    finally:
        c.close()


# The client namespace's side of InClient: runs each line, prints its result (or the
# exception) on one line.
CHILD = r"""
import http.client, socket, sys
conns = {}
def hold(key, host, timeout=10):
    conns[key] = http.client.HTTPConnection(host, 80, timeout=timeout)
    return ask(key)
def port(key):
    return conns[key].sock.getsockname()[1]
def ask(key):
    c = conns[key]
    c.request("GET", "/")
    return c.getresponse().read().decode().strip()
def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"hello", (host, port))
    return s.recvfrom(100)[0].decode()
def sctp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    s.settimeout(3)
    s.connect((host, port))
    s.send(b"hello")
    r = s.recv(100).decode()
    s.close()
    return r
for line in sys.stdin:
    try:
        print(eval(line.replace("\\n", "\n")))
    except Exception as e:
        print("ERROR " + type(e).__name__ + ": " + str(e))
"""


CLIENTS = itertools.count()


def client_loop(url, secs):
    """client.py in the background: a request every 10 ms; .join() gives its JSON.
    Returns once the client's first request has started: starting Python can take
    seconds in a busy VM, and an outage before the first answer would go unseen."""
    out = {}
    ready = f"/tmp/acceptance-client-{os.getpid()}-{next(CLIENTS)}"
    if os.path.exists(ready):
        os.remove(ready)

    def go():
        out["v"] = json.loads(inns("cl", "env", f"CLIENT_READY_FILE={ready}", "python3", CLIENT,
                                   url, str(secs), timeout=secs + 30))
    t = threading.Thread(target=go, daemon=True)
    t.start()
    expect(wait_for(20, lambda: os.path.exists(ready)) is not None, "the client loop started")

    class Loop:
        @staticmethod
        def join():
            t.join(secs + 40)
            expect("v" in out, "the client loop finished")
            return out["v"]
    return Loop


# --- scenarios ---------------------------------------------------------------------------

SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def split_within(counts, expected, slack):
    return all(abs(counts.get(k, 0) - v) <= slack for k, v in expected.items())


@scenario
def nat_and_dr_services():
    """NAT and direct-routing services from one lvs.cf serve through their VIPs."""
    dr = virtual("web-dr", f"{DR_VIP} eth0:2", [server(f"rs{n}-dr", f"192.168.77.2{n}") for n in (1, 2, 3)],
                 extra="network = direct")
    start_active(lvs_cf(web(), dr))
    full(D1, f"TCP {VIP}:80")
    full(D1, f"TCP {DR_VIP}:80")
    methods = {m for m, *_ in D1.dests(f"TCP {VIP}:80").values()}
    dr_methods = {m for m, *_ in D1.dests(f"TCP {DR_VIP}:80").values()}
    expect(methods == {"Masq"} and dr_methods == {"Route"}, f"methods NAT {methods}, DR {dr_methods}")
    nat, direct = hits(VIP, 30), hits(DR_VIP, 30)
    expected = {"rs1": 10, "rs2": 10, "rs3": 10}
    expect(split_within(nat, expected, 1), f"NAT answers {nat}")
    expect(split_within(direct, expected, 1), f"DR answers {direct}")
    return f"NAT {VIP} (Masq): {nat}; DR {DR_VIP} (Route): {direct}"


@scenario
def rr_splits_evenly():
    """rr: equal shares."""
    start_active(lvs_cf(web()))
    full(D1, f"TCP {VIP}:80")
    got = hits(VIP, 60)
    expect(split_within(got, {"rs1": 20, "rs2": 20, "rs3": 20}, 1), f"answers {got}")
    return f"60 requests: {got}"


@scenario
def wrr_follows_weights():
    """wrr: shares in proportion to the weights (96:64:32; nanny's slow start keeps the
    proportion, 3:2:1 on entry)."""
    start_active(lvs_cf(web(scheduler="wrr", servers=nat_servers((96, 64, 32)))))
    full(D1, f"TCP {VIP}:80")
    weights = {k: v[1] for k, v in D1.dests(f"TCP {VIP}:80").items()}
    got = hits(VIP, 60)
    expected = {"rs1": 30, "rs2": 20, "rs3": 10}
    expect(split_within(got, expected, 2), f"answers {got}, table weights {weights}")
    return f"table weights {weights}; 60 requests: {got} (expected {expected})"


@scenario
def wlc_balances_active_connections():
    """wlc: held connections spread by active connections per weight (32:32:64, entering
    as 1:1:2)."""
    start_active(lvs_cf(web(scheduler="wlc", servers=nat_servers((32, 32, 64)))))
    full(D1, f"TCP {VIP}:80")
    got, active = answers([f"hold({i}, {VIP!r})" for i in range(12)],
                          while_held=lambda: {k: v[2] for k, v in D1.dests(f"TCP {VIP}:80").items()})
    expect(split_within(got, {"rs1": 3, "rs2": 3, "rs3": 6}, 1), f"held connections {got}")
    return f"12 held connections: {got}; IPVS ActiveConn {active}"


@scenario
def failed_server_leaves_and_returns():
    """A crashed real server leaves the table within probe interval + timeout and comes
    back after reentry."""
    interval, reentry = 1, 4
    start_active(lvs_cf(web(timeout=interval, reentry=reentry)))
    svc = f"TCP {VIP}:80"
    full(D1, svc)
    topo("web", "2", "stop")
    out = wait_for(10, lambda: "10.77.1.22:80" not in D1.dests(svc))
    limit = interval + interval + 1.0  # the next probe, its time limit, and slack for the VM
    expect(out is not None and out <= limit, f"rs2 left after {out} s (limit {limit} s)")
    got = hits(VIP, 12)
    expect("rs2" not in got, f"rs2 still answered: {got}")
    # Timed from the moment rs2 listened, which it writes down: `topo start` returns
    # only after polling for the listener, seconds later in the VM (CI once saw 2.45 s
    # from its return).
    stamp = f"/run/pair-{P}-www2/listening"
    if os.path.exists(stamp):
        os.remove(stamp)  # an earlier start's
    topo("web", "2", "start")
    expect(wait_for(5, lambda: os.path.exists(stamp)) is not None, f"rs2 wrote no {stamp}")
    listened = float(open(stamp).read())
    seen = wait_for(20, lambda: "10.77.1.22:80" in D1.dests(svc))
    back = None if seen is None else time.monotonic() - listened
    low, high = reentry - interval - 0.5, reentry + 2 * interval + 1.5
    expect(back is not None and low <= back <= high,
           f"rs2 came back {back} s after it listened (expected {low}-{high} s)")
    return f"out {out:.2f} s after the crash (limit {limit} s); back {back:.2f} s after rs2 listened (reentry {reentry} s)"


@scenario
def quiesce_keeps_established_connections():
    """quiesce_server: a failing server gets weight 0; its established connection goes
    on; new connections go elsewhere."""
    start_active(lvs_cf(web(extra="quiesce_server = 1")))
    svc = f"TCP {VIP}:80"
    full(D1, svc)
    c = InClient()
    try:
        rs = c(f"hold('a', {VIP!r}, timeout=5)")
        expect(rs in ("rs1", "rs2", "rs3"), f"held connection answered {rs}")
        n = rs[-1]
        topo("health", n, "down")
        zero = wait_for(10, lambda: D1.dests(svc).get(f"10.77.1.2{n}:80", (0, -1))[1] == 0)
        expect(zero is not None, f"{rs} at weight 0: {D1.dests(svc)}")
        expect(f"10.77.1.2{n}:80" in D1.dests(svc), f"{rs} stays in the table")
        again = c("ask('a')")
        expect(again == rs, f"the held connection answered {again}, not {rs}")
        got = hits(VIP, 30)
        expect(rs not in got, f"new connections reached {rs}: {got}")
    finally:
        c.close()
    return f"{rs} weight 0 after {zero:.2f} s; its held connection still answered by {again}; 30 new: {got}"


@scenario
def sorry_server_serves_when_all_are_down():
    """The sorry server serves while no real server is healthy, and steps aside after."""
    start_active(lvs_cf(web(extra="sorry_server = 10.77.1.20")))
    svc = f"TCP {VIP}:80"
    full(D1, svc)
    for n in "123":
        topo("health", n, "down")
    on = wait_for(15, lambda: list(D1.dests(svc)) == ["10.77.1.20:80"])
    expect(on is not None, f"only the sorry server in the table: {D1.dests(svc)}")
    sorry = hits(VIP, 10)
    expect(sorry == {"sorry": 10}, f"answers {sorry}")
    topo("health", "1", "up")
    off = wait_for(15, lambda: list(D1.dests(svc)) == ["10.77.1.21:80"])
    expect(off is not None, f"rs1 replaced the sorry server: {D1.dests(svc)}")
    back = hits(VIP, 10)
    expect(back == {"rs1": 10}, f"answers {back}")
    return f"sorry server in {on:.2f} s after the last failure, answering {sorry}; out {off:.2f} s after rs1 recovered: {back}"


@scenario
def reload_adds_and_removes_without_loss():
    """A reload (SIGHUP to pulse) adding rs4 and removing rs1 loses no request: rs1 goes
    to weight 0 at once and out of the table once the requests in flight are done."""
    if not os.path.exists(f"/run/netns/{P}rs4"):
        topo("rs", "4")
    start_active(lvs_cf(web()))
    svc = f"TCP {VIP}:80"
    full(D1, svc)
    loop = client_loop(f"http://{VIP}/", 8)
    time.sleep(2)
    servers = [server(n, a) for n, a in (("rs2", "10.77.1.22"), ("rs3", "10.77.1.23"), ("rs4", "10.77.1.24"))]
    D1.write_cf(lvs_cf(web(servers=servers)))
    D1.signal(signal.SIGHUP)
    quiet = wait_for(5, lambda: D1.dests(svc).get("10.77.1.21:80", (None, -1))[1] == 0)
    expect(quiet is not None, f"rs1 at weight 0 after the reload: {D1.dests(svc)}")
    changed = wait_for(15, lambda: set(D1.dests(svc)) == {"10.77.1.22:80", "10.77.1.23:80", "10.77.1.24:80"})
    v = loop.join()
    expect(changed is not None, f"table after the reload: {D1.dests(svc)}")
    expect(changed >= 3, f"rs1 deleted {changed:.2f} s after its weight went to 0, not after the grace")
    expect(v["failed"] == 0, f"{v['failed']} requests failed: {v}")
    expect(v["hits"].get("rs4", 0) > 0, f"rs4 answered nothing: {v['hits']}")
    return f"rs1 at weight 0 {quiet:.2f} s and deleted {quiet + changed:.2f} s after SIGHUP; {v['ok']} requests, {v['failed']} failed; answers {v['hits']}"


def failover_and_failback(keepalive, deadtime, warm, failover_limit_ms):
    cf = lvs_cf(web(), keepalive=keepalive, deadtime=deadtime, extra=f"warm_standby = {warm}")
    start_active(cf, D2)
    full(D1, f"TCP {VIP}:80")
    if warm:
        full(D2, f"TCP {VIP}:80")
    time.sleep(2 * keepalive)
    loop = client_loop(f"http://{VIP}/", deadtime + 8)
    time.sleep(2)
    cable("d1", "down")
    v = loop.join()
    expect(D2.holds(VIP), "d2 took the VIP")
    expect(v["recovered"] and v["worst_ms"] <= failover_limit_ms,
           f"failover outage {v['worst_ms']} ms (limit {failover_limit_ms} ms): {v}")
    failover = v["worst_ms"]
    cable("d1", "up")
    expect(wait_for(deadtime + 5, lambda: D1.said("STARTING PULSE AS") and not D1.holds(VIP)) is not None,
           "d1 back as the standby")
    time.sleep(deadtime + 1)
    expect(D2.holds(VIP) and not D1.holds(VIP), "no preemption: d2 still active")
    loop = client_loop(f"http://{VIP}/", 8)
    time.sleep(2)
    D2.stop()
    v = loop.join()
    expect(D1.holds(VIP), "d1 took the VIP back")
    expect(v["recovered"] and v["worst_ms"] <= 3000, f"failback outage {v['worst_ms']} ms: {v}")
    return f"failover (d1 off the link) {failover} ms, failback (pulse on d2 stopped) {v['worst_ms']} ms"


@scenario
def failover_legacy_timers():
    """Failover and failback with legacy timers (keepalive 1 s, deadtime 3 s, lvsd started
    on takeover)."""
    return failover_and_failback(1, 3, 0, 3000 + 2500)


@scenario
def failover_fast_timers():
    """Failover and failback with fast timers (keepalive 0.1 s, deadtime 0.3 s, warm
    standby)."""
    return failover_and_failback(0.1, 0.3, 1, 1500)


@scenario
def connection_sync_keeps_tcp_across_failover():
    """syncdaemon = 1 (cold standby, as legacy): an established TCP connection survives the
    failover."""
    cf = lvs_cf(web(), extra="syncdaemon = 1\nsyncd_iface = eth1\nsyncd_id = 7")
    start_active(cf, D2)
    full(D1, f"TCP {VIP}:80")
    c = InClient()
    try:
        rs = c(f"hold('s', {VIP!r}, timeout=15)")
        for _ in range(3):
            expect(c("ask('s')") == rs, "the held connection answers")
        # This connection's entry, established, in d2's table (the sync daemon sends within
        # about 2 s).
        port = c("port('s')")
        entry = re.compile(rf"ESTABLISHED\s+192\.168\.77\.50:{port}\s")
        synced = wait_for(10, lambda: entry.search(inns("d2", "ipvsadm", "-Lnc")))
        expect(synced is not None, f"d2 learnt the connection: {inns('d2', 'ipvsadm', '-Lnc')}")
        cable("d1", "down")
        took = wait_for(10, lambda: D2.holds(VIP))
        expect(took is not None, "d2 took the VIP")
        start = time.monotonic()
        after = c("ask('s')", timeout=30)
        answered = time.monotonic() - start
    finally:
        c.close()
    expect(after == rs, f"after the failover the held connection answered {after!r}, not {rs}")
    return (f"held connection to {rs} synced to d2 in {synced:.2f} s; after failover "
            f"({took:.2f} s) it answered {after} in {answered * 1000:.0f} ms")


@scenario
def persistence_keeps_a_client_on_one_server():
    """persistent: every connection of one client goes to one real server."""
    start_active(lvs_cf(web(extra="persistent = 60")))
    full(D1, f"TCP {VIP}:80")
    got = hits(VIP, 30)
    expect(len(got) == 1 and None not in got, f"answers {got}")
    return f"30 requests: {got}"


def nft(host, rule):
    inns(host, "nft", "add", "table", "ip", "acc")
    inns(host, "nft", "add", "chain", "ip", "acc", "pre",
         "{ type filter hook prerouting priority -150 ; }")
    inns(host, "nft", "add", "rule", "ip", "acc", "pre", *rule.split())


@scenario
def fwmark_service():
    """A firewall-mark service (fwmark = 5, the mark set by nftables on the director)."""
    nft("d1", f"ip daddr {FWM_VIP} tcp dport 80 meta mark set 5")
    start_active(lvs_cf(virtual("marked", f"{FWM_VIP} eth0:3", nat_servers(), extra="fwmark = 5")))
    full(D1, "FWM 5")
    before = D1.dests("FWM 5")
    got = hits(FWM_VIP, 30)
    conns = inns("d1", "ipvsadm", "-Lnc")
    expect(split_within(got, {"rs1": 10, "rs2": 10, "rs3": 10}, 1),
           f"answers {got}; table before {before}, after {D1.dests('FWM 5')}; connections:\n{conns}"
           f"\nd1's log (a monitor that flapped during the requests shows here):\n{''.join(D1.tail(40))}")
    return f"FWM 5 via {FWM_VIP}: {got}"


@scenario
def udp_service():
    """A UDP service (port 53, nanny's UDP send/expect check)."""
    start_active(lvs_cf(virtual("dns", f"{VIP} eth0:1", nat_servers(), port=53,
                                check='send = "ping"\n expect = "rs"', extra="protocol = udp")))
    full(D1, f"UDP {VIP}:53")
    got, _ = answers([f"udp({VIP!r}, 53)"] * 30)
    expect(split_within(got, {"rs1": 10, "rs2": 10, "rs3": 10}, 1), f"answers {got}")
    return f"30 datagrams from new ports: {got}"


@scenario
def sctp_service():
    """An SCTP service (port 9, nanny's SCTP connect check)."""
    start_active(lvs_cf(virtual("assoc", f"{VIP} eth0:1", nat_servers(), port=9, check="",
                                extra="protocol = sctp")))
    full(D1, f"SCTP {VIP}:9")
    got, _ = answers([f"sctp({VIP!r}, 9)"] * 9)
    expect(split_within(got, {"rs1": 3, "rs2": 3, "rs3": 3}, 1), f"answers {got}")
    return f"9 associations: {got}"


def neighbour(addr):
    for n in json.loads(inns("cl", "ip", "-j", "-6", "neigh", "show", addr) or "[]"):
        return n.get("lladdr")
    return None


@scenario
def ipv6_vip_and_takeover():
    """An IPv6 VIP with IPv6 real servers (direct routing), and its takeover: the new
    active director's unsolicited NA moves the client's neighbour entry."""
    dr6 = virtual("web6", f"{DR_VIP6} eth0", [server(f"rs{n}-6", f"2001:db8:77::2{n}") for n in (1, 2, 3)],
                  extra="network = direct")
    start_active(lvs_cf(dr6, extra="network = direct"), D2)
    svc = f"TCP [{DR_VIP6}]:80"
    full(D1, svc)
    got = hits(DR_VIP6, 30)
    expect(split_within(got, {"rs1": 10, "rs2": 10, "rs3": 10}, 1), f"answers {got}")
    d1_mac, d2_mac = mac("d1"), mac("d2")
    expect(neighbour(DR_VIP6) == d1_mac, f"client's neighbour for the VIP: {neighbour(DR_VIP6)}, d1 {d1_mac}")
    start = time.monotonic()
    cable("d1", "down")
    moved = wait_for(10, lambda: neighbour(DR_VIP6) == d2_mac)
    expect(moved is not None, f"the client's neighbour entry is {neighbour(DR_VIP6)}, d2 is {d2_mac}")
    moved = time.monotonic() - start
    full(D2, svc)
    after = hits(DR_VIP6, 30)
    expect(split_within(after, {"rs1": 10, "rs2": 10, "rs3": 10}, 1), f"answers after takeover {after}")
    return f"{svc}: {got}; after d1 left the link the client's entry moved to d2 ({d2_mac}) in {moved:.2f} s; then {after}"


def forge(secs, rate=50):
    """Heartbeats 'from d1' (its address, spoofed from the client namespace) to d2: the
    legacy 4-byte LVS-running word, and the same with a signature that is not one."""
    code = r"""
import socket, struct, sys, time
def pkt(payload):
    udp = struct.pack("!HHHH", 539, 539, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("192.168.77.10"), socket.inet_aton("192.168.77.11"))
    return ip + udp
legacy = bytes([0xDA, 0xDB, 0xAD, 0xBD])
signed = legacy + bytes([0x50, 0x48, 0x42, 0x01, 1, 1, 0, 0]) + (10**9).to_bytes(8, "big") + bytes(32)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
end, n = time.time() + float(sys.argv[1]), 0
while time.time() < end:
    for p in (legacy, signed):
        s.sendto(pkt(p), ("192.168.77.11", 0))
        n += 1
    time.sleep(1 / float(sys.argv[2]))
print(n)
"""
    out = {}

    def go():
        out["n"] = int(inns("cl", "python3", "-c", code, str(secs), str(rate), timeout=secs + 20))
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return lambda: (t.join(secs + 25), out.get("n", 0))[1]


def forged_takeover(auth, deadtime):
    extra = ""
    if auth:
        key = os.path.join(W, "heartbeat.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)
        extra = f"heartbeat_auth = enforce\nheartbeat_key = {key}\nheartbeat_key_id = 1"
    start_active(lvs_cf(web(), keepalive=0.2, deadtime=deadtime, extra=extra), D2)
    full(D1, f"TCP {VIP}:80")
    done = forge(deadtime + 8)
    time.sleep(2)
    expect(D1.holds(VIP) and not D2.holds(VIP), "the forgery alone changes nothing")
    cable("d1", "down")
    took = wait_for(deadtime + 4, lambda: D2.holds(VIP))
    return took, done()


@scenario
def forged_heartbeats_change_nothing():
    """heartbeat_auth = enforce: heartbeats forged from a third namespace (d1's address,
    unsigned or badly signed) neither disturb the pair nor hold back a takeover. Without
    authentication the same forgery keeps the backup from taking over (the control)."""
    deadtime = 1
    took, sent = forged_takeover(True, deadtime)
    expect(took is not None, f"with auth d2 took over despite {sent} forged heartbeats")
    expect(D2.said("refused"), "d2 logged the refused heartbeats")
    refused = [line.strip() for line in D2.tail(200) if "refused" in line][:2]
    reset()
    held, sent_plain = forged_takeover(False, deadtime)
    expect(held is None, f"without auth the forgery should have held d2 back, but it took over after {held} s")
    return (f"with auth: d2 took over {took:.2f} s after d1 left, {sent} forged datagrams refused "
            f"({'; '.join(refused)}); without auth {sent_plain} forged ones held d2 back for {deadtime + 4} s")


# --- the runner --------------------------------------------------------------------------

def reset():
    """Back to the bare topology: no daemon, no VIP, no IPVS entry, every real server up."""
    for d in DIRECTORS:
        d.stop()
    for h in ("d1", "d2"):
        pids = run("ip", "netns", "pids", P + h, check=False).split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        cable(h, "up")
        inns(h, "ipvsadm", "-C", check=False)
        for state in ("master", "backup"):
            inns(h, "ipvsadm", "--stop-daemon", state, check=False)
        inns(h, "nft", "flush", "ruleset", check=False)
        for addr in (VIP, DR_VIP, FWM_VIP, DR_VIP6):
            for prefix in ("24", "32", "64", "128"):
                inns(h, "ip", "addr", "del", f"{addr}/{prefix}", "dev", "eth0", check=False)
        inns(h, "ip", "addr", "del", "10.77.1.254/24", "dev", "eth1", check=False)
        ledger = os.path.join(W, h, "pulse.addresses")
        if os.path.exists(ledger):
            os.unlink(ledger)
    for n in "0123":
        topo("health", n, "up")
        if ":80 " not in inns(f"rs{n}", "ss", "-Hltn"):
            topo("web", n, "start")
    inns("cl", "ip", "neigh", "flush", "all", check=False)


def main():
    picked = [s for s in SCENARIOS if not sys.argv[1:] or any(a in s.__name__ for a in sys.argv[1:])]
    picked *= int(os.environ.get("ACCEPTANCE_REPEAT", "1"))  # to hunt a flaky scenario
    os.makedirs(W, exist_ok=True)
    for module in ("sctp", "nf_tables"):  # before the namespaces: the real servers use SCTP
        run("modprobe", module, check=False)
    run("bash", TOPOLOGY, "down", P, timeout=60, check=False)
    topo("up")
    passed, failed = 0, 0
    try:
        for s in picked:
            reset()
            for d in DIRECTORS:
                open(d.log, "w").close()
            doc = " ".join(s.__doc__.split())
            print(f"\n== {s.__name__}: {doc}", flush=True)
            start = time.monotonic()
            try:
                measured = s()
                passed += 1
                print(f"   [ok] {measured} ({time.monotonic() - start:.0f} s)", flush=True)
            except Exception as e:  # a failed expectation or a broken step: both fail it
                failed += 1
                what = str(e) if isinstance(e, Failed) else traceback.format_exc()
                print(f"   [FAIL] {what}", flush=True)
                for d in DIRECTORS:
                    for line in d.tail():
                        print(f"      {d.name}| {line.rstrip()}")
    finally:
        reset()
        run("bash", TOPOLOGY, "down", P, timeout=60, check=False)
    mode = "integrated monitors" if INTEGRATED else "nanny processes"
    print(f"\nacceptance ({mode}): {passed} passed, {failed} failed")
    print(f"acceptance: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
