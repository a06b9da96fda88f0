#!/usr/bin/env python3
"""Crash-loop recount of the `oauthwatch run` daemon (issue 13 item 1).

A file of LINES failure lines (100,000 by default) is the backlog. The release binary given as
argv[1] is started on it KILLS times and SIGKILLed at a random time between KILL_MIN and
KILL_MAX seconds after start (before the 5 s `checkpoint_interval`), each run's count scraped
from /metrics just before the kill; a last run is left to finish and stopped with SIGTERM.

Prints the lines written (`wc -l` of the file, the baseline), the total counted over all runs,
what was counted again per kill, and the documented bound per kill (1 MiB or 10,000 records of
acknowledged work, whichever is less, plus what is acknowledged while one checkpoint is being
written). Figures, not assertions; everything runs in a temp dir and every process started here
is stopped.
"""

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/oauthwatch")
LINES = int(os.environ.get("LINES", "100000"))
KILLS = int(os.environ.get("KILLS", "5"))
KILL_MIN = float(os.environ.get("KILL_MIN", "0.3"))
KILL_MAX = float(os.environ.get("KILL_MAX", "4.7"))
SEED = int(os.environ.get("SEED", "13"))
FAILURE = "2026-11-23T10:00:00Z ERROR auth: Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ"
LABELS = ('rule="invalid_authorization_code"', 'source="app"')
CHECKPOINT_BYTES = 1 << 20
CHECKPOINT_RECORDS = 10_000


class Daemon:
    def __init__(self, tmp):
        self.log = open(os.path.join(tmp, "daemon.log"), "a+")
        self.proc = subprocess.Popen(
            [BIN, "run", "--config", os.path.join(tmp, "config.toml"), "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
        )
        self.start = time.time()
        self.addr = None
        pos = self.log.tell()
        while self.addr is None and time.time() - self.start < 30:
            time.sleep(0.01)
            self.log.seek(pos)
            m = re.search(r"listen=\"?([0-9.]+:[1-9][0-9]*)", self.log.read())
            if m:
                self.addr = m.group(1)
        if self.addr is None:
            self.proc.kill()
            raise SystemExit("daemon did not report its address")

    def counted(self):
        try:
            with urllib.request.urlopen(f"http://{self.addr}/metrics", timeout=10) as r:
                body = r.read().decode()
        except OSError:
            return None
        for line in body.splitlines():
            if line.startswith("oauthwatch_errors_total{") and all(l in line for l in LABELS):
                return int(float(line.rsplit(" ", 1)[1]))
        return 0

    def lag(self):
        with urllib.request.urlopen(f"http://{self.addr}/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('oauthwatch_source_lag_bytes{source="app"}'):
                    return float(line.rsplit(" ", 1)[1])
        return None


def main():
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "app.log")
        with open(path, "w") as f:
            for i in range(LINES):
                f.write(f"{FAILURE} n={i}\n")
        size = os.path.getsize(path)
        wc = int(subprocess.run(["wc", "-l", path], capture_output=True, text=True).stdout.split()[0])
        with open(os.path.join(tmp, "config.toml"), "w") as f:
            f.write(
                'state_dir = "state"\nwatch_config = false\ncheckpoint_interval = "5s"\n'
                f'[[sources]]\nname = "app"\npaths = ["{path}"]\nformat = "plain"\n'
                'provider = "zoom"\nstart_at = "beginning"\n'
            )
        total = 0
        for k in range(KILLS):
            at = rng.uniform(KILL_MIN, KILL_MAX)
            d = Daemon(tmp)
            last = 0
            try:
                while time.time() - d.start < at:
                    n = d.counted()
                    last = n if n is not None else last
                    time.sleep(0.01)
            finally:
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait()
            print(f"run {k}: SIGKILL at {at:.2f} s, {last} counted")
            total += last
        d = Daemon(tmp)
        try:
            settled, since = -1, time.time()
            while True:
                n = d.counted()
                if n != settled:
                    settled, since = n, time.time()
                elif d.lag() == 0 and time.time() - since > 1:
                    break
                if time.time() - d.start > 300:
                    raise SystemExit("last run did not catch up")
                time.sleep(0.1)
        finally:
            d.proc.send_signal(signal.SIGTERM)
            d.proc.wait(timeout=30)
        print(f"last run: {settled} counted, stopped with SIGTERM")
        total += settled
        again = total - wc
        per_kill = 2 * min(CHECKPOINT_RECORDS, CHECKPOINT_BYTES // (size // LINES) + 1)
        print(f"baseline wc -l: {wc} lines ({size / 1e6:.1f} MB)")
        print(f"counted over {KILLS} kills + 1 run: {total} ({total / wc:.2f}x the lines written)")
        print(f"counted again: {again} ({again / KILLS:.0f} per kill; documented bound {per_kill} per kill)")


if __name__ == "__main__":
    main()
