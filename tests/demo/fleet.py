#!/usr/bin/env python3
"""The VM side of `scripts/demo fleet` (docs/fleet.md): three active directors behind an
upstream router that spreads flows over them by ECMP, each announcing the VIP through its
BIRD while it can serve it. A newcomer watches them share 300 connections, 60 held
connections ride through one director leaving (its link pulled: the gap in ms, the
connections kept) and rejoining, and `lvsctl status` on a director. Exits 0 only when
everything behaved.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fleet"))
from bed import BIN, DIRECTORS, VIP, W, Failed  # noqa: E402
from suite import ALL, BED, Client, held, start_fleet  # noqa: E402
import json  # noqa: E402


def say(text):
    print(f"\n==> {text}", flush=True)


def router_route():
    return BED.inns("r", "ip", "route", "show", VIP + "/32").strip() or "(no route)"


def main():
    problems = []
    say("building the bed: a router (BIRD, ECMP), three directors (pulse, lvsd, BIRD), "
        "four real servers, a client")
    BED.up()
    try:
        say("starting pulse on the three directors; each announces the VIP when it can serve it")
        took = start_fleet()
        print(f"all three announced after {took:.1f} s; the router's route to {VIP}:")
        print("  " + router_route().replace("\n", "\n  "))
        say("300 new connections from 60 client addresses")
        for i in (1, 2, 3):
            BED.zero(i)
        got = json.loads(BED.client("share", "300"))
        time.sleep(2.5)
        counts = [BED.conns_total(i) for i in (1, 2, 3)]
        for i, c in enumerate(counts, 1):
            print(f"  director d{i} ({DIRECTORS[i - 1]}) carried {c} ({100 * c // max(1, sum(counts))}%)")
        if got["failed"] or min(counts) < 60:
            problems.append(f"sharing: {got}, {counts}")
        say("lvsctl status on d1")
        d = f"{W}/d1"
        print(BED.inns("d1", f"{BIN}/lvsctl", "status", f"--pulse-socket={d}/pulse.sock",
                       f"--lvsd-socket={d}/lvs.sock"))
        say("d1's link goes down with 120 connections held and a client asking every 10 ms")
        client = Client(14)
        (m, mb), (o, ob), whys = held(120, lambda: BED.cable(1, "down"))
        print(f"  the router's route now: {router_route()}")
        print(f"  held connections through d1: {m - mb}/{m} kept (their flows moved to d2 and "
              f"d3, which know them from the sync daemon and pick the same server by mh)")
        print(f"  held connections through d2 and d3: {o - ob}/{o} kept")
        if mb or ob:
            problems.append(f"held connections broke: {whys}")
        say("d1's link comes back; BFD and BGP bring it back into the route")
        BED.cable(1, "up")
        back = BED.wait_nexthops(ALL, secs=90)
        got = client.result()
        print(f"  d1 announced again after {back:.1f} s" if back is not None else "  d1 did not come back")
        print(f"  the client: {got['ok']} answered, {got['failed']} failed, largest gap {got['worst_ms']} ms")
        print(f"  the router's route: {router_route()}")
        if back is None or not got["recovered"]:
            problems.append("d1 did not rejoin, or the client did not recover")
    except Failed as e:
        problems.append(str(e))
    finally:
        BED.down()
    say("summary")
    if problems:
        for p in problems:
            print(f"  PROBLEM: {p}")
        sys.exit(1)
    print("  three directors shared the load; one left and rejoined without a held connection lost")


if __name__ == "__main__":
    main()
