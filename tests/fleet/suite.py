#!/usr/bin/env python3
"""The fleet acceptance scenarios (docs/fleet.md), on the bed of tests/fleet/bed.py: three
active directors behind an ECMP router, announced by BIRD as pulse drives it. Each
scenario prints what it measured; the last line is `fleet: N passed, N failed` (counted by
scripts/test-all), and the exit status is 1 when any failed.

    tests/vm/vm.sh run python3 tests/fleet/suite.py [NAME...]

NAMEs pick scenarios by substring. Root, in the IPVS test VM.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bed import (BIN, DIRECTORS, ROOT, SERVERS, VIP, W, Bed, Failed, expect,  # noqa: E402
                 wait_for)

CLIENT = os.path.join(ROOT, "tests", "pair", "client.py")
BED = Bed()
ALL = set(DIRECTORS)


def start_fleet(**cf):
    for i in (1, 2, 3):
        BED.start_pulse(i, **cf)
    took = BED.wait_nexthops(ALL, secs=90)
    expect(took is not None, f"the router has a route to {VIP} via all three directors "
           f"(has {sorted(BED.nexthops())}); d1 said: {BED.pulse_log(1)[-1500:]}")
    # Every nanny's first check is in: all real servers in service on every director.
    full = [(f"{rs}:80", 1) for rs in SERVERS]
    expect(wait_for(30, lambda: all(BED.weights(i) == full for i in (1, 2, 3))) is not None,
           f"every director has the four real servers in order: {[BED.weights(i) for i in (1, 2, 3)]}")
    return took


def stop_fleet():
    for i in (1, 2, 3):
        BED.stop_pulse(i)
    expect(BED.wait_nexthops(set(), secs=20) is not None, "every route withdrawn")


class Client:
    """tests/pair/client.py through the VIP in the background (a request every 10 ms)."""

    def __init__(self, secs):
        ready = f"{W}/client-ready"
        if os.path.exists(ready):
            os.unlink(ready)
        env = dict(os.environ, CLIENT_READY_FILE=ready)
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", BED.ns("cl"), "python3", CLIENT, f"http://{VIP}/", str(secs)],
            stdout=subprocess.PIPE, text=True, env=env)
        expect(wait_for(30, lambda: os.path.exists(ready)) is not None, "the client started")

    def result(self):
        out, _ = self.p.communicate(timeout=120)
        return json.loads(out)


# --- scenarios ---------------------------------------------------------------------------

def scenario_all_three_share_the_load():
    took = start_fleet()
    print(f"  all three announced {took:.1f} s after the start")
    for i in (1, 2, 3):
        lo = BED.inns(f"d{i}", "ip", "-4", "addr", "show", "dev", "lo")
        expect(f"{VIP}/32" in lo, f"d{i} holds the VIP on lo")
        ignore = BED.inns(f"d{i}", "sysctl", "-n", "net.ipv4.conf.all.arp_ignore").strip()
        expect(ignore == "1", f"d{i} does not answer ARP for the VIP (arp_ignore {ignore})")
        daemons = BED.inns(f"d{i}", "ipvsadm", "-L", "--daemon")
        expect("master" in daemons and "backup" in daemons,
               f"d{i} runs the sync daemon as master and backup: {daemons!r}")
        svc = BED.inns(f"d{i}", "ipvsadm", "-Ln", "-t", f"{VIP}:80")
        expect(" mh " in svc and "mh-port" in svc, f"d{i} schedules by mh with mh-port: {svc}")
    for i in (1, 2, 3):
        BED.zero(i)
    got = json.loads(BED.client("share", "300"))
    # The kernel folds its per-CPU counters into the figures ipvsadm shows every 2 s.
    time.sleep(2.5)
    counts = [BED.conns_total(i) for i in (1, 2, 3)]
    shares = [round(100 * c / max(1, sum(counts))) for c in counts]
    print(f"  300 new connections: {got['ok']} answered; directors took {counts} ({shares}%)")
    expect(got["failed"] == 0, f"{got['failed']} connections failed")
    expect(sum(counts) >= 300, f"the directors counted {sum(counts)} connections")
    expect(all(c >= 60 for c in counts), f"each director took at least 20%: {counts}")
    status = BED.status(1)
    fleet = status["pulse"]["fleet"]
    up = [d["address"] for d in fleet["directors"] if d["up"]]
    print(f"  lvsctl status on d1: BIRD {fleet['bird']}, up {up}")
    expect(sorted(up) == DIRECTORS and fleet["bird"] == "connected",
           f"d1's fleet view has all three up: {fleet}")
    announced = [d["announced"] for d in fleet["directors"]]
    expect(all(a == [VIP] for a in announced), f"each announces the VIP: {announced}")
    # Each director counts what it scheduled, not what the others synced to it.
    seen = [d["connections"] for d in fleet["directors"]]
    print(f"  d1's fleet view counts {seen} connections")
    expect(300 <= sum(seen) <= 310 and all(c >= 60 for c in seen),
           f"the fleet view's connections add up to the 300 made: {seen}")


def kill_pulse():
    BED.stop_pulse(1, signal.SIGKILL)


def kill_lvsd(pid):
    os.kill(pid, signal.SIGKILL)


def lvsd_of_d1():
    pid = BED.lvsd_pid(1)
    expect(pid is not None, "pulse's status names d1's lvsd")
    return pid


def restore_pulse():
    BED.start_pulse(1)


EVENTS = [
    # name, what happens to d1 (given what the preparation returned), the preparation,
    # whether the clock starts when d1's weights are all 0 (else at the event), the repair
    ("pulse killed -9", lambda _: BED.stop_pulse(1, signal.SIGKILL), None, False, restore_pulse),
    ("lvsd killed -9", kill_lvsd, lvsd_of_d1, False, None),
    ("link down", lambda _: BED.cable(1, "down"), None, False, lambda: BED.cable(1, "up")),
    ("all real servers down", lambda _: BED.block_checks(1, True), None, True,
     lambda: BED.block_checks(1, False)),
    ("clean stop", lambda _: BED.stop_pulse(1, wait=False), None, False, restore_pulse),
]


def withdrawal(name, event, prepare, at_weights, repair):
    """One way of d1 leaving, with a client running: the time until the router's route
    no longer leads to d1, and the client's largest gap."""
    client = Client(8)
    given = prepare() if prepare else None
    watch = BED.watch_routes()
    time.sleep(1.5)
    start = time.time()
    event(given)
    slack = 0.0
    if at_weights:
        # The clock starts when the last of d1's four nannies takes its server out.
        down = lambda: BED.said_at("d1-pulse", "shutting down", start)  # noqa: E731
        expect(wait_for(20, lambda: len(down()) >= 4) is not None,
               f"{name}: d1's nannies take every real server out")
        start, slack = down()[3], 0.5
    left = wait_for(10, lambda: DIRECTORS[0] not in BED.nexthops(), step=0.05)
    gone = watch.first_change_after(start, slack) if left is not None else None
    got = client.result()
    shown = "never" if gone is None else f"{gone * 1000:.0f} ms"
    print(f"  {name}: route gone from the router in {shown}; client: {got['ok']} answered, "
          f"{got['failed']} failed, largest gap {got['worst_ms']} ms", flush=True)
    if repair:
        repair()
    back = BED.wait_nexthops(ALL, secs=90)
    expect(back is not None, f"{name}: d1 announced again after the repair")
    expect(gone is not None and gone <= 1.0, f"{name}: route gone within 1 s")
    expect(got["recovered"] and got["ok"] > 0, f"{name}: new connections keep succeeding")
    return {"event": name, "withdrawn_ms": None if gone is None else round(gone * 1000),
            "failed": got["failed"], "worst_gap_ms": got["worst_ms"]}


def scenario_each_way_of_leaving_withdraws_within_a_second():
    start_fleet()
    for name, event, prepare, at_weights, repair in EVENTS:
        withdrawal(name, event, prepare, at_weights, repair)
        full = [(f"{rs}:80", 1) for rs in SERVERS]
        expect(wait_for(30, lambda: BED.weights(1) == full) is not None,
               f"after {name}: d1 serves again")


def held(n, leave, back=None):
    """n held connections; `leave` (then `back`) while they run. Returns
    (through the leaving director: total, broken), (through the others: total, broken),
    and a few of the reasons they broke."""
    ready, stop = f"{W}/held-ready", f"{W}/held-stop"
    for f in (ready, stop):
        if os.path.exists(f):
            os.unlink(f)
    result = {}

    def run_client():
        result["out"] = BED.client("hold", str(n), ready, stop, timeout=400)

    t = threading.Thread(target=run_client)
    t.start()
    expect(wait_for(120, lambda: os.path.exists(ready)) is not None, "the held connections opened")
    with open(ready) as f:
        opened = json.load(f)
    through = BED.directors_of([(src, sport) for src, sport, _ in opened])
    time.sleep(1)
    leave()
    time.sleep(4)
    if back:
        back()
        time.sleep(4)
    open(stop, "w").close()
    t.join()
    conns = json.loads(result["out"])["conns"]
    mine = [c for c in conns if through[(c["src"], c["sport"])] == DIRECTORS[0]]
    others = [c for c in conns if through[(c["src"], c["sport"])] != DIRECTORS[0]]
    broken = lambda cs: sum(c["broken"] for c in cs)  # noqa: E731
    whys = sorted({c["why"] for c in conns if c["broken"]})[:3]
    return (len(mine), broken(mine)), (len(others), broken(others)), whys


def directors_while(want, flows):
    """Each flow's director by the router's hash, read while its route leads to exactly
    `want` (checked before and after the read: in the emulated VM a BFD session can flap
    under load, and a read across a flap measures another route)."""
    for _ in range(5):
        expect(BED.wait_nexthops(want, secs=60) is not None,
               f"the router's route leads to {sorted(want)} (has {sorted(BED.nexthops())})")
        got = BED.directors_of(flows)
        if BED.nexthops() == set(want):
            return got
    raise Failed(f"the router's route to {sorted(want)} did not hold for one read")


def leave_by_link():
    BED.cable(1, "down")


def scenario_held_connections_survive_a_director_leaving_and_joining():
    start_fleet()
    (m, mb), (o, ob), whys = held(120, leave_by_link)
    print(f"  mh + sync, d1's link down: through d1 {m - mb}/{m} survive, "
          f"through the others {o - ob}/{o} survive {whys}")
    BED.cable(1, "up")
    expect(BED.wait_nexthops(ALL, secs=90) is not None, "d1 back")
    mh_broken = mb + ob
    expect(m >= 20, f"enough held connections went through d1 ({m})")
    expect(ob == 0, f"none through the others break ({ob} did: {whys})")
    expect(m - mb >= 0.95 * m, f"at least 95% through d1 survive ({m - mb}/{m})")

    # Joining: d1 stopped, connections held through d2 and d3, then d1 starts.
    BED.stop_pulse(1)
    expect(BED.wait_nexthops(set(DIRECTORS[1:]), secs=20) is not None, "d1 withdrawn")
    flows = [(f"10.78.0.{100 + k % 60}", 20000 + k) for k in range(300)]
    before = directors_while(set(DIRECTORS[1:]), flows)
    (m, mb), (o, ob), whys = held(120, lambda: BED.start_pulse(1),
                                  lambda: BED.wait_nexthops(ALL, secs=60))
    after = directors_while(ALL, flows)
    moved = sum(before[f] != after[f] for f in flows) / len(flows)
    to_joiner = sum(after[f] == DIRECTORS[0] for f in flows) / len(flows)
    print(f"  d1 joining: {to_joiner:.0%} of 300 flows now go to it, {moved:.0%} changed "
          f"director; held connections: {o + m - ob - mb}/{o + m} survive {whys}")
    expect(ob + mb <= 0.05 * (o + m), f"at least 95% survive the join ({ob + mb} broke)")
    expect(abs(to_joiner - 1 / 3) <= 0.12, f"the joiner takes about 1/3 of the flows ({to_joiner:.0%})")
    # Linux's hash-threshold ECMP moves half the flows from 2 to 3 next hops (d1 sorts
    # first); 300 flows give a few percent of spread.
    expect(moved <= 0.5 + 0.15, f"the router moves no more than its hashing must ({moved:.0%})")

    # The same leave with wlc and no sync: nothing keeps a moved flow on its server.
    stop_fleet()
    start_fleet(scheduler="wlc", sync=False)
    (m, mb), (o, ob), whys = held(120, leave_by_link)
    print(f"  wlc, no sync, d1's link down: through d1 {m - mb}/{m} survive, "
          f"through the others {o - ob}/{o} survive {whys}")
    BED.cable(1, "up")
    stop_fleet()
    expect(mb + ob > mh_broken, "wlc breaks more held connections than mh + sync")


def scenario_the_shipped_examples_are_valid():
    """docs/examples/: BIRD parses both bird.conf files, pulse accepts the lvs.cf."""
    ex = os.path.join(ROOT, "docs", "examples")
    for conf in ("bird-director.conf", "bird-router.conf"):
        p = subprocess.run(["bird", "-p", "-c", os.path.join(ex, conf)], capture_output=True,
                           text=True, timeout=30)
        expect(p.returncode == 0, f"bird -p -c {conf}: {p.stderr.strip()}")
    p = subprocess.run([f"{BIN}/pulse", "--check-config", "-c", os.path.join(ex, "lvs.cf.fleet")],
                       capture_output=True, text=True, timeout=30)
    expect(p.returncode == 0 and "3 directors" in p.stdout,
           f"pulse --check-config docs/examples/lvs.cf.fleet: {p.stdout}{p.stderr}")
    print("  bird -p accepts both bird.conf files; pulse --check-config the fleet lvs.cf")


SCENARIOS = [
    scenario_the_shipped_examples_are_valid,
    scenario_all_three_share_the_load,
    scenario_each_way_of_leaving_withdraws_within_a_second,
    scenario_held_connections_survive_a_director_leaving_and_joining,
]


def main():
    picked = [s for s in SCENARIOS if not sys.argv[1:] or any(a in s.__name__ for a in sys.argv[1:])]
    passed = failed = 0
    try:
        BED.up()
        for s in picked:
            print(f"== {s.__name__[len('scenario_'):]}", flush=True)
            try:
                s()
                passed += 1
                print("  ok", flush=True)
            except Exception as e:  # noqa: BLE001 (a failed scenario must not stop the rest)
                failed += 1
                print(f"  FAILED: {e}", flush=True)
                if not isinstance(e, Failed):
                    traceback.print_exc()
                for i in (1, 2, 3):
                    said = [ln for ln in BED.pulse_log(i).splitlines() if " pulse: " in ln]
                    print(f"  d{i}'s pulse said last:\n    " + "\n    ".join(said[-8:]))
            finally:
                for i in (1, 2, 3):
                    BED.stop_pulse(i)
                    BED.block_checks(i, False)
                    BED.cable(i, "up")
    finally:
        BED.down()
    print(f"fleet: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
