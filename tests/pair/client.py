#!/usr/bin/env python3
"""A client through the VIP: one HTTP request every 10 ms for SECS seconds, each with a
time limit of TIMEOUT seconds (default 0.2). Prints one JSON line: requests answered
and failed, answers per real server, and every gap of more than 100 ms between two
answers as [seconds since start of the last answer before it, gap in ms].

    client.py URL SECS [TIMEOUT]
"""
import json
import sys
import time
import urllib.request

url, secs = sys.argv[1], float(sys.argv[2])
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
ok, failed, hits, last, gaps = 0, 0, {}, None, []
start = time.time()
while time.time() < start + secs:
    t = time.time()
    try:
        body = urllib.request.urlopen(url, timeout=timeout).read().decode().strip()
        ok += 1
        hits[body] = hits.get(body, 0) + 1
        now = time.time()
        if last is not None and now - last > 0.1:
            gaps.append([round(last - start, 3), round((now - last) * 1000)])
        last = now
    except Exception:
        failed += 1
    time.sleep(max(0, 0.01 - (time.time() - t)))
worst = max((g[1] for g in gaps), default=0)
print(json.dumps({"ok": ok, "failed": failed, "hits": hits, "gaps": gaps, "worst_ms": worst}))
