#!/usr/bin/env python3
"""A client through the VIP: starts one HTTP request every 10 ms for SECS seconds, each
on a thread of its own with a time limit of TIMEOUT seconds (default 0.9), so that a
request stuck on the failed director does not hold up the next ones. The limit is below
TCP's first SYN retransmission (1 s): a request whose SYN was lost in the outage must fail
rather than succeed on the retransmission and count as answered from its start, inside
the outage. Prints one JSON
line: requests answered and failed, answers per real server, and every outage: a run of
failed requests, as [seconds from the start to the last answered request before it,
ms from that request's start to the start of the first answered one after it].
"worst_ms" is the longest outage (10 ms resolution); "recovered" is false when the
last requests failed (that outage counts up to the last request).

    client.py URL SECS [TIMEOUT]

With CLIENT_READY_FILE set, that file is created when the first request starts: a
harness waits for it before it breaks something, since starting Python can take seconds
in a busy VM (an outage that begins before the first answer is not seen as one).
"""
import json
import os
import sys
import threading
import time
import urllib.request

url, secs = sys.argv[1], float(sys.argv[2])
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 0.9
results = []  # (start, body or None)
lock = threading.Lock()


def one(start):
    try:
        body = urllib.request.urlopen(url, timeout=timeout).read().decode().strip()
    except Exception:
        body = None
    with lock:
        results.append((start, body))


begin = time.time()
if os.environ.get("CLIENT_READY_FILE"):
    open(os.environ["CLIENT_READY_FILE"], "w").close()
threads = []
n = 0
while True:
    t = begin + n * 0.01
    if t > begin + secs:
        break
    time.sleep(max(0, t - time.time()))
    th = threading.Thread(target=one, args=(time.time(),), daemon=True)
    th.start()
    threads.append(th)
    n += 1
for th in threads:
    th.join(timeout + 1)

results.sort()
hits, gaps, last_ok = {}, [], None
failed_since = False
for start, body in results:
    if body is None:
        failed_since = True
        continue
    hits[body] = hits.get(body, 0) + 1
    if failed_since and last_ok is not None:
        gaps.append([round(last_ok - begin, 3), round((start - last_ok) * 1000)])
    failed_since = False
    last_ok = start
# Still failing at the end: an outage that never ended counts up to the last request.
recovered = not failed_since
if failed_since and last_ok is not None:
    gaps.append([round(last_ok - begin, 3), round((results[-1][0] - last_ok) * 1000)])
ok = sum(hits.values())
worst = max((g[1] for g in gaps), default=0)
print(json.dumps({"ok": ok, "failed": len(results) - ok, "hits": hits, "gaps": gaps,
                  "worst_ms": worst, "recovered": recovered}))
