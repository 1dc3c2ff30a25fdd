"""What the Python test harnesses share (tests/acceptance/suite.py, tests/fleet/): a
scenario's failure, its assertion, a command run to its end, waiting for a condition."""
import subprocess
import time


class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)


def run(*argv, timeout=30, check=True):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise Failed(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def wait_for(secs, pred, step=0.05):
    """Seconds until pred() held, or None after secs."""
    start = time.monotonic()
    while time.monotonic() - start < secs:
        if pred():
            return time.monotonic() - start
        time.sleep(step)
    return None
