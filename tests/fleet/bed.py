#!/usr/bin/env python3
"""The fleet test bed (docs/fleet.md, "The test bed"): an upstream router running BIRD
with ECMP, three directors each running our pulse (with lvsd and its nannies) and its own
BIRD, four direct-routing real servers and a client with many source addresses, each in
a network namespace. Root, in the IPVS test VM (each director namespace has its own IPVS
table); used by tests/fleet/suite.py, tests/bench/fleet.sh and `scripts/demo fleet`.

    PREFIXsw   the LAN switch: bridge br0, 10.77.0.0/24
    PREFIXr    the router: eth0 10.77.0.1 (LAN), eth1 10.78.0.1 (the client's side);
               BIRD, AS 65000, a BGP session with BFD to each director, routes installed
               as multipath (merge paths), fib_multipath_hash_policy = 1 (ports hashed)
    PREFIXdN   directors 1-3: eth0 10.77.0.1N; BIRD (AS 65001) driven by pulse
    PREFIXrsN  real servers 1-4: eth0 10.77.0.2N, the VIP on lo (arp_ignore), replies
               straight to the client through the router; tests/pair/rs-server.py
    PREFIXcl   the client: eth0 10.78.0.2 and 10.78.0.100-159 (sources for ECMP)

The VIP is 10.77.100.1:80. ipvsadm, ip and birdc are witnesses only: every change the
tests check is made by pulse, lvsd and BIRD.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PIRANHA_BIN", os.path.join(ROOT, "target", "debug"))
RS_SERVER = os.path.join(ROOT, "tests", "pair", "rs-server.py")
FLOWS = os.path.join(ROOT, "tests", "fleet", "flows.py")
W = "/run/fleet"
VIP = "10.77.100.1"
ROUTER = "10.77.0.1"
DIRECTORS = ["10.77.0.11", "10.77.0.12", "10.77.0.13"]
SERVERS = ["10.77.0.21", "10.77.0.22", "10.77.0.23", "10.77.0.24"]
SOURCES = [f"10.78.0.{n}" for n in range(100, 160)]


sys.path.insert(0, os.path.join(ROOT, "tests"))
from harness import Failed, expect, run, wait_for  # noqa: E402,F401 (the suite's too)


def lvs_cf(me, scheduler="mh", sync=True, flags="mh-port"):
    """lvs.cf of director `me` (1-3): the same file on each but for where its BIRD is
    (one host holds three directors here; a site has one BIRD per director)."""
    lines = ["serial_no = 1", "service = lvs"]
    lines += [f"director = {d}" for d in DIRECTORS]
    lines += [
        "bgp_local_as = 65001",
        f"bgp_peer = {ROUTER} 65000",
        f"bird_socket = {W}/d{me}/bird.ctl",
        f"bird_include = {W}/d{me}/piranha.conf",
        "heartbeat_port = 539",
        "keepalive = 1",
        "deadtime = 3",
        "network = direct",
        f"syncdaemon = {1 if sync else 0}",
        "syncd_iface = eth0",
        "syncd_id = 9",
        "virtual web {",
        " active = 1",
        f" address = {VIP} eth0",
        " port = 80",
        ' send = "GET /health HTTP/1.0\\r\\n\\r\\n"',
        ' expect = "HTTP/1.1 200"',
        f" scheduler = {scheduler}",
    ]
    if scheduler == "mh" and flags:
        lines.append(f" scheduler_flags = {flags}")
    # A check every second; out after 2 s without an answer (the emulated VM is slow).
    lines += [" timeout = 2", " reentry = 1", f" client_monitor = {BIN}/nanny"]
    for n, rs in enumerate(SERVERS, 1):
        lines += [f" server rs{n} {{", f"  address = {rs}", "  active = 1", " }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


ROUTER_BIRD = """\
router id 10.77.0.1;
protocol device { scan time 2; }
# Every director's route for a VIP, merged into one multipath (ECMP) kernel route.
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
template bgp director {
  local 10.77.0.1 as 65000;
  ipv4 { import all; export none; };
  bfd on;
  connect delay time 1; connect retry time 2; error wait time 1, 5;
}
"""

DIRECTOR_BIRD = """\
router id {addr};
protocol device {{ scan time 2; }}
# pulse writes this file (lvs.cf's bird_include) and has BIRD read it.
include "{dir}/piranha*.conf";
"""


class Bed:
    def __init__(self, prefix="fl"):
        self.p = prefix
        self.procs = {}  # name -> Popen
        self.logs = {}

    # --- namespaces -------------------------------------------------------------------

    def ns(self, host):
        return self.p + host

    def inns(self, host, *argv, **kw):
        return run("ip", "netns", "exec", self.ns(host), *argv, **kw)

    def link(self, host, ifname, addr):
        ns, port = self.ns(host), self.p + host + "p"
        run("ip", "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns)
        run("ip", "link", "set", port, "netns", self.ns("sw"))
        run("ip", "-n", self.ns("sw"), "link", "set", port, "master", "br0", "up")
        run("ip", "-n", ns, "addr", "add", addr, "dev", ifname)
        run("ip", "-n", ns, "link", "set", ifname, "up")

    def sysctl(self, host, *settings):
        self.inns(host, "sysctl", "-qw", *settings)

    def up(self):
        self.down()
        os.makedirs(W, exist_ok=True)
        # A booted Debian has /dev/net/tun as a static node that loads the module when
        # opened; the VM's bare devtmpfs has it once the module is in.
        run("modprobe", "tun")
        run("modprobe", "ip_vs_mh")
        hosts = ["sw", "r", "cl"] + [f"d{i}" for i in (1, 2, 3)] + [f"rs{i}" for i in (1, 2, 3, 4)]
        for h in hosts:
            run("ip", "netns", "add", self.ns(h))
            run("ip", "-n", self.ns(h), "link", "set", "lo", "up")
        run("ip", "-n", self.ns("sw"), "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.ns("sw"), "link", "set", "br0", "up")
        self.link("r", "eth0", ROUTER + "/24")
        self.router_client_link()
        for i, d in enumerate(DIRECTORS, 1):
            self.link(f"d{i}", "eth0", d + "/24")
            run("ip", "-n", self.ns(f"d{i}"), "route", "add", "default", "via", ROUTER)
        for i, rs in enumerate(SERVERS, 1):
            self.real_server(i, rs)
        self.sysctl("r", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1")
        self.start_router_bird()
        for i in (1, 2, 3):
            self.start_director_bird(i)

    def router_client_link(self):
        r, cl = self.ns("r"), self.ns("cl")
        run("ip", "link", "add", "eth1", "netns", r, "type", "veth", "peer", "name", "eth0",
            "netns", cl)
        run("ip", "-n", r, "addr", "add", "10.78.0.1/24", "dev", "eth1")
        run("ip", "-n", cl, "addr", "add", "10.78.0.2/24", "dev", "eth0")
        for a in SOURCES:
            run("ip", "-n", cl, "addr", "add", a + "/24", "dev", "eth0")
        for ns in (r, cl):
            run("ip", "-n", ns, "link", "set", "dev", "eth1" if ns == r else "eth0", "up")
        run("ip", "-n", cl, "route", "add", "default", "via", "10.78.0.1")

    def real_server(self, n, addr):
        h = f"rs{n}"
        for k in ("all", "default"):
            self.sysctl(h, f"net.ipv4.conf.{k}.arp_ignore=1", f"net.ipv4.conf.{k}.arp_announce=2")
        self.link(h, "eth0", addr + "/24")
        run("ip", "-n", self.ns(h), "addr", "add", VIP + "/32", "dev", "lo")
        run("ip", "-n", self.ns(h), "route", "add", "default", "via", ROUTER)
        www = f"{W}/www{n}"
        os.makedirs(www, exist_ok=True)
        self.spawn(h, ["python3", RS_SERVER, h, www])
        expect(wait_for(20, lambda: ":80 " in self.inns(h, "ss", "-Hltn")) is not None,
               f"{h} listens")

    def spawn(self, host, argv, name=None):
        """Starts argv in host's namespace; its output goes to W/NAME.log, each line
        after the wall-clock time it was read at."""
        name = name or host
        path = f"{W}/{name}.log"
        self.logs[name] = path
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(host), *argv],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True, errors="replace")

        def copy():
            with open(path, "a") as log:
                for line in p.stdout:
                    log.write(f"{time.time():.6f} {line}")
                    log.flush()

        threading.Thread(target=copy, daemon=True).start()
        self.procs[name] = p
        return p

    def said_at(self, name, text, after):
        """When each line of NAME's log containing text was printed, from `after` on."""
        try:
            with open(f"{W}/{name}.log", errors="replace") as f:
                lines = f.readlines()
        except OSError:
            return []
        times = []
        for line in lines:
            stamp, _, rest = line.partition(" ")
            if text in rest and float(stamp) >= after:
                times.append(float(stamp))
        return times

    def start_router_bird(self):
        conf = ROUTER_BIRD + "".join(
            f"protocol bgp d{i} from director {{ neighbor {d} as 65001; }}\n"
            for i, d in enumerate(DIRECTORS, 1))
        path = f"{W}/router-bird.conf"
        with open(path, "w") as f:
            f.write(conf)
        self.spawn("r", ["bird", "-f", "-c", path, "-s", f"{W}/router-bird.ctl"], "router-bird")

    def start_director_bird(self, i):
        d = f"{W}/d{i}"
        os.makedirs(d, exist_ok=True)
        path = f"{d}/bird.conf"
        with open(path, "w") as f:
            f.write(DIRECTOR_BIRD.format(addr=DIRECTORS[i - 1], dir=d))
        self.spawn(f"d{i}", ["bird", "-f", "-c", path, "-s", f"{d}/bird.ctl"], f"d{i}-bird")
        expect(wait_for(10, lambda: os.path.exists(f"{d}/bird.ctl")) is not None,
               f"d{i}'s BIRD is up")

    def down(self):
        for name, p in list(self.procs.items()):
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs.clear()
        for h in ["sw", "r", "cl", "d1", "d2", "d3", "rs1", "rs2", "rs3", "rs4"]:
            ns = self.ns(h)
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", W])

    # --- the directors ------------------------------------------------------------------

    def start_pulse(self, i, **cf):
        d = f"{W}/d{i}"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/lvs.cf.new", "w") as f:
            f.write(lvs_cf(i, **cf))
        os.replace(f"{d}/lvs.cf.new", f"{d}/lvs.cf")
        self.spawn(f"d{i}", [f"{BIN}/pulse", "-n", "-v", "-c", f"{d}/lvs.cf",
                             f"--pidfile={d}/pulse.pid", f"--lvsd={BIN}/lvsd"], f"d{i}-pulse")

    def stop_pulse(self, i, sig=signal.SIGTERM, wait=True):
        p = self.procs.get(f"d{i}-pulse")
        if not p or p.poll() is not None:
            return
        p.send_signal(sig)
        if wait:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def pulse_log(self, i):
        try:
            with open(f"{W}/d{i}-pulse.log", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def status(self, i):
        """lvsctl status --json on director i."""
        d = f"{W}/d{i}"
        return json.loads(self.inns(f"d{i}", f"{BIN}/lvsctl", "status", "--json",
                                    f"--pulse-socket={d}/pulse.sock",
                                    f"--lvsd-socket={d}/lvs.sock"))

    def lvsd_pid(self, i):
        """The lvsd pulse runs on director i, as pulse's status says."""
        try:
            return self.status(i)["pulse"].get("lvsd_pid")
        except (Failed, ValueError, KeyError, TypeError):
            return None

    def cable(self, i, state):
        run("ip", "-n", self.ns("sw"), "link", "set", f"{self.p}d{i}p", state)

    def block_checks(self, i, on):
        """Makes every health check of director i fail, not the traffic it forwards:
        nanny's probes go to the real servers' own addresses, forwarded packets to the
        VIP."""
        h = f"d{i}"
        if on:
            self.inns(h, "nft", "add table inet fleet_test")
            self.inns(h, "nft", "add chain inet fleet_test out { type filter hook output priority 0; }")
            for rs in SERVERS:
                self.inns(h, "nft", f"add rule inet fleet_test out ip daddr {rs} tcp dport 80 reject with tcp reset")
        else:
            self.inns(h, "nft", "delete table inet fleet_test", check=False)

    def weights(self, i):
        """The fleet service's real servers on director i: [(address, weight)] in the
        kernel's order."""
        out = []
        for line in self.inns(f"d{i}", "ipvsadm", "-Ln", "-t", f"{VIP}:80", check=False).splitlines():
            f = line.split()
            if f and f[0] == "->" and f[1] != "RemoteAddress:Port":
                out.append((f[1], int(f[3])))
        return out

    def conns_total(self, i):
        """Connections the fleet service took on director i since its counters were
        zeroed (ipvsadm --stats)."""
        for line in self.inns(f"d{i}", "ipvsadm", "-Ln", "--stats", "-t", f"{VIP}:80",
                              check=False).splitlines():
            f = line.split()
            if f and f[0] == "TCP":
                return int(f[2])
        return 0

    def zero(self, i):
        self.inns(f"d{i}", "ipvsadm", "-Z", check=False)

    # --- the router ---------------------------------------------------------------------

    def nexthops(self):
        """The directors the router's route to the VIP leads to."""
        out = self.inns("r", "ip", "-j", "route", "show", VIP + "/32", check=False)
        try:
            routes = json.loads(out or "[]")
        except ValueError:
            return set()
        hops = set()
        for r in routes:
            if "gateway" in r:
                hops.add(r["gateway"])
            for n in r.get("nexthops", []):
                hops.add(n["gateway"])
        return hops

    def directors_of(self, flows):
        """The director the router sends each client flow (source, port) to, by its own
        multipath hash: one `ip -batch` for them all."""
        script = "".join(f"route get {VIP} from {src} iif eth1 ipproto tcp sport {sport} dport 80\n"
                         for src, sport in flows)
        p = subprocess.run(["ip", "netns", "exec", self.ns("r"), "ip", "-force", "-batch", "-"],
                           input=script, capture_output=True, text=True, timeout=60)
        vias = [line.split(" via ")[1].split()[0] if " via " in line else None
                for line in p.stdout.splitlines() if line.startswith(VIP)]
        expect(len(vias) == len(flows), f"ip route get answered {len(vias)} of {len(flows)}: {p.stderr}")
        return dict(zip(flows, vias))

    def watch_routes(self):
        """A RouteWatch on the router (start it before the event it is to time)."""
        return RouteWatch(self.ns("r"))

    def wait_nexthops(self, want, secs=60):
        return wait_for(secs, lambda: self.nexthops() == set(want), step=0.05)

    def client(self, *args, timeout=120):
        return self.inns("cl", "python3", FLOWS, *args, timeout=timeout)


class RouteWatch:
    """`ip -ts monitor route` on the router: when the VIP's route changed, by the
    kernel's own notification rather than by polling (a poll costs tens of ms in the
    emulated VM)."""

    def __init__(self, ns):
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, "ip", "-ts", "-o", "monitor", "route"],
                                  stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)

    def first_change_after(self, t, slack=0.0):
        """Seconds from wall-clock time t to the first change of the VIP's route (from
        t - slack on: the clock may be started by a log line printed just after the
        change it caused)."""
        self.p.terminate()
        out, _ = self.p.communicate(timeout=10)
        import datetime
        for line in out.splitlines():
            if VIP not in line or not line.startswith("["):
                continue
            stamp = datetime.datetime.strptime(line[1:line.index("]")], "%Y-%m-%dT%H:%M:%S.%f")
            at = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
            if at >= t - slack:
                return max(0.0, at - t)
        return None
