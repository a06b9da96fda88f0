#!/usr/bin/env python3
"""Writes symbol-order.txt: the functions of the release binary that the daemon runs, for the
linker to place side by side (build.rs passes it to lld as --symbol-ordering-file).

Why: the kernel maps a binary's code in 64 KiB windows around each page touched
(fault-around), and without an order the functions the daemon runs are spread over nearly
every window of .text, so all of it is resident. Side by side they take about as many
windows as their own size.

How: runs the release binary given as argv[1] under callgrind through footprint.py's steady
scenario (start-up, 100 files tailed, appends counted, /metrics scraped, idle), keeps every
function that ran and is defined in the binary (mangled names, as the linker sees them), in
the binary's current address order. Regenerate after dependency or toolchain updates (the
mangled names carry hashes of the crate metadata; names that no longer exist are ignored by
the linker, so a stale file costs memory, never correctness): benches/symbol_order.sh builds,
rewrites the file and relinks.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_bench  # noqa: E402

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/oauthwatch")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "symbol-order.txt")
FILES = 100


def main():
    tmp = tempfile.mkdtemp(prefix="oauthwatch-symbol-order-")
    profile = os.path.join(tmp, "callgrind.out")
    wrapper = os.path.join(tmp, "oauthwatch")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind --demangle=no "
                f"--callgrind-out-file={profile} {BIN} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    daemon_bench.BIN = wrapper
    try:
        logs = os.path.join(tmp, "logs")
        os.makedirs(logs)
        paths = [os.path.join(logs, f"app{i:03}.log") for i in range(FILES)]
        for p in paths:
            daemon_bench.append(p, daemon_bench.NOISE * 10)
        d = daemon_bench.Daemon(tmp, daemon_bench.config(["logs/*.log"]))
        try:
            deadline = time.time() + 120
            while (d.value("oauthwatch_source_lines_total", {"source": "app"}) or 0) < FILES * 10:
                if time.time() > deadline:
                    raise SystemExit("the daemon did not count the lines under callgrind")
                time.sleep(0.2)
            daemon_bench.latency_samples(
                d, paths[0], {"rule": "invalid_authorization_code", "source": "app"}, 10)
            for p in paths[1:]:
                daemon_bench.append(p, daemon_bench.NOISE)
            time.sleep(3)
            d.metrics()
        finally:
            d.stop()
        ran = set()
        with open(profile) as f:
            for line in f:
                m = re.match(r"^c?fn=\(\d+\) (\S+)$", line.rstrip("\n"))
                if m:
                    ran.add(m.group(1))
        nm = subprocess.run(["nm", "--defined-only", BIN], check=True, capture_output=True,
                            text=True).stdout
        addr = {}
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTwW" and parts[2] in ran:
                addr[parts[2]] = int(parts[0], 16)
        names = sorted(addr, key=addr.get)
        with open(OUT, "w") as f:
            f.write("".join(n + "\n" for n in names))
        print(f"{len(names)} functions ran (of {len(ran)} names in the profile) -> {os.path.normpath(OUT)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
