#!/usr/bin/env python3
"""Memory, idle and latency figures of the `oauthwatch run` daemon (issue 10's footprint rows).

For the release binary given as argv[1], each figure beside a baseline from the same run:
  - steady RSS tailing 100 files (VmRSS, with the anonymous / file-backed split from
    /proc/PID/smaps_rollup and the thread count), beside `tail -F` following the same 100 files,
    measured live, and Fluent Bit's published 3.7 MB for its tail input;
  - append → counter on /metrics latency, median and max (same daemon);
  - idle CPU over IDLE_SECONDS (default 60) with the same 100 files, from schedstat (ns), and
    the wake-ups in that window (voluntary + involuntary context switches of every thread),
    beside `tail -F` over the same window;
  - peak RSS (VmHWM) while a writer appends BURST_LINES (default 3,000,000) lines in ~1 MiB
    blocks, every line counted, beside `wc -l`'s peak RSS on the same file.

SMAPS=1 adds the names of the daemon's threads (each has a stack and, under glibc, a malloc
arena of its own) and the resident KB of each mapping (the binary's code and read-only data,
libc, the heap and thread arenas) under the steady figure, and how many of the functions in
symbol-order.txt (the link order that keeps the daemon's code together, see build.rs) the
binary still has: a low count means the file is stale (benches/symbol_order.py rewrites it).

BENCH selects sections (comma-separated: steady, burst; default both). Figures, not
assertions: the machine is shared and noisy, so the load average is printed with them.
Everything runs in a temp dir on loopback; every process started here is stopped.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_bench  # noqa: E402  (the same daemon harness; BIN is argv[1] there too)

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/oauthwatch")
IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", "60"))
LATENCY_SAMPLES = int(os.environ.get("LATENCY_SAMPLES", "50"))
BURST_LINES = int(os.environ.get("BURST_LINES", "3000000"))
FILES = 100
FLUENT_BIT_TAIL_MB = 3.7  # published RSS of Fluent Bit's tail input
FAILURE, NOISE = daemon_bench.FAILURE, daemon_bench.NOISE  # the same lines as daemon.sh
ERRORS = {"rule": "invalid_authorization_code", "source": "app"}


def status(pid, key):
    """A `kB` field of /proc/PID/status, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rollup(pid):
    """Anonymous and file-backed resident MB from /proc/PID/smaps_rollup."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ("Rss:", "Anonymous:", "Pss_File:", "Pss_Anon:"):
                    out[parts[0][:-1]] = int(parts[1]) / 1024
    except OSError:
        pass
    return out


def smaps_breakdown(pid, top=16):
    """Resident KB per mapping from /proc/PID/smaps, largest first: (kB, anon kB, name).
    Printed with SMAPS=1 to see which part of the binary, libc or heap the RSS is in."""
    rows, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                perms = parts[1]
                name = parts[5] if len(parts) > 5 else "[anon]"
                cur = [0, 0, f"{os.path.basename(name)} {perms}"]
                rows.append(cur)
            elif parts and parts[0] == "Rss:":
                cur[0] = int(parts[1])
            elif parts and parts[0] == "Anonymous:":
                cur[1] = int(parts[1])
    merged = {}
    for kb, anon, name in rows:
        m = merged.setdefault(name, [0, 0, 0])
        m[0] += kb
        m[1] += anon
        m[2] += 1
    return sorted(((kb, anon, n, name) for name, (kb, anon, n) in merged.items()), reverse=True)[:top]


def symbol_order_coverage():
    """(names in symbol-order.txt found in BIN's symbol table, names in the file), or None."""
    order = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "symbol-order.txt")
    if not os.path.exists(order):
        return None
    with open(order) as f:
        wanted = {line.strip() for line in f if line.strip()}
    nm = subprocess.run(["nm", "--defined-only", BIN], capture_output=True, text=True).stdout
    have = {parts[2] for parts in (line.split() for line in nm.splitlines()) if len(parts) == 3}
    return len(wanted & have), len(wanted)


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_and_wakeups(pid):
    """(CPU seconds from schedstat, context switches) summed over every thread."""
    cpu, switches = 0, 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                cpu += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        switches += int(line.split()[1])
        except FileNotFoundError:
            pass
    return cpu / 1e9, switches


def per_thread(pid):
    """{tid: (name, CPU ns from schedstat, context switches)} of the live threads."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                n = sum(int(l.split()[1]) for l in f
                        if l.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")))
            out[tid] = (name, ns, n)
        except FileNotFoundError:
            pass
    return out


def idle_window(pid, seconds):
    """CPU seconds, wake-ups and wake-ups by thread name over `seconds`, sampled every half
    second: a thread that exits keeps its last reading (a sum over the live threads alone
    drops when a short-lived thread exits, and can go negative); one born inside counts from 0."""
    start = per_thread(pid)
    last = dict(start)
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(min(0.5, max(0.0, end - time.time())))
        last.update(per_thread(pid))
    cpu = sum(ns - start.get(tid, (name, 0, 0))[1] for tid, (name, ns, _) in last.items())
    wake, by = 0, {}
    for tid, (name, _, n) in last.items():
        d = n - start.get(tid, (name, 0, 0))[2]
        wake += d
        if d:
            by[name] = by.get(name, 0) + d
    return cpu / 1e9, wake, by


class Daemon(daemon_bench.Daemon):
    """daemon_bench's daemon on a config tailing `paths`, with its pid and a wait for lines."""

    def __init__(self, workdir, paths, extra=""):
        super().__init__(workdir, daemon_bench.config(paths, extra))
        self.pid = self.proc.pid

    def wait_lines(self, n, timeout):
        deadline = time.time() + timeout
        while (self.value("oauthwatch_source_lines_total", {"source": "app"}) or 0.0) < n:
            if time.time() > deadline:
                raise SystemExit(f"daemon did not count {n} lines within {timeout} s")
            time.sleep(0.05)


append = daemon_bench.append


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def bench_steady(tmp):
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    paths = [os.path.join(logs, f"app{i:03}.log") for i in range(FILES)]
    for p in paths:
        append(p, NOISE * 10)
    tail = subprocess.Popen(["tail", "-q", "-n", "0", "-F"] + paths,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = Daemon(tmp, ["logs/*.log"])
    try:
        d.wait_lines(FILES * 10, 30)
        # Latency first: the figure a user sees; then let the daemon settle for RSS and idle.
        samples = daemon_bench.latency_samples(d, paths[0], ERRORS, LATENCY_SAMPLES)
        time.sleep(3)
        rss, roll = status(d.pid, "VmRSS"), rollup(d.pid)
        tail_rss = status(tail.pid, "VmRSS")
        print(f"steady RSS tailing {FILES} files: {rss:.1f} MB (anonymous {roll.get('Anonymous', 0):.1f} MB, "
              f"file-backed {roll.get('Pss_File', 0):.1f} MB PSS; {threads(d.pid)} threads)   "
              f"target <= 8 MB | baseline: tail -F of the same {FILES} files {tail_rss:.1f} MB; "
              f"Fluent Bit tail input (published) {FLUENT_BIT_TAIL_MB} MB")
        if os.environ.get("SMAPS"):
            names = sorted(name for name, _, _ in per_thread(d.pid).values())
            print(f"    threads: {', '.join(names)}")
            for kb, anon, n, name in smaps_breakdown(d.pid):
                print(f"    {kb:7d} kB rss ({anon:7d} kB anon) in {n:3d} mapping(s): {name}")
            cov = symbol_order_coverage()
            if cov:
                print(f"    symbol-order.txt: {cov[0]} of {cov[1]} functions found in the binary")
        print(f"append -> counter on /metrics over {len(samples)} appends: median "
              f"{statistics.median(samples):.2f} ms, max {samples[-1]:.2f} ms   target <= 5 / 20 ms")
        tc0, tw0 = cpu_and_wakeups(tail.pid)
        t0 = time.time()
        cpu, wake, by = idle_window(d.pid, IDLE_SECONDS)
        tc1, tw1 = cpu_and_wakeups(tail.pid)
        secs = time.time() - t0
        woke = ", ".join(f"{k} {by[k]}" for k in sorted(by))
        print(f"idle CPU, {FILES} files, {secs:.0f} s: {100 * cpu / secs:.4f}% of a core "
              f"({cpu * 1000:.2f} ms CPU, {wake} wake-ups: {woke or 'none'})   target <= 0.01% | "
              f"baseline: tail -F {100 * (tc1 - tc0) / secs:.4f}% ({tw1 - tw0} wake-ups)")
    finally:
        d.stop()
        tail.terminate()
        tail.wait()


def bench_burst(tmp):
    logs = os.path.join(tmp, "burst")
    os.makedirs(logs)
    log = os.path.join(logs, "app.log")
    open(log, "w").close()
    d = Daemon(tmp, ["burst/*.log"], 'checkpoint_interval = "1s"')
    try:
        before = status(d.pid, "VmHWM")
        block_lines = 10000
        block = (NOISE * 99 + FAILURE) * (block_lines // 100)
        blocks = BURST_LINES // block_lines
        total = blocks * block_lines
        t0 = time.perf_counter()
        with open(log, "a") as f:
            for _ in range(blocks):
                f.write(block)
                f.flush()
        d.wait_lines(total, 300)
        deadline = time.time() + 60
        while (d.value("oauthwatch_errors_total", ERRORS) or 0.0) < total // 100 and time.time() < deadline:
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        errs = d.value("oauthwatch_errors_total", ERRORS) or 0.0
        peak = status(d.pid, "VmHWM")
        time.sleep(3)
        after = status(d.pid, "VmRSS")
    finally:
        d.stop()
    # GNU time reports wc's own peak (a child forked from Python would carry Python's).
    wc = subprocess.run(["/usr/bin/time", "-f", "%M", "wc", "-l", log], check=True,
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wc_mb = int(wc.stderr.strip().splitlines()[-1]) / 1024
    print(f"peak RSS during a {total / 1e6:.0f}M-line burst ({os.path.getsize(log) / 1e6:.0f} MB in "
          f"{len(block) / 2**20:.1f} MiB blocks, all counted in {elapsed:.2f} s, failures {int(errs)}/{total // 100}): "
          f"{peak:.1f} MB VmHWM (before the burst {before:.1f} MB; RSS 3 s after {after:.1f} MB)   "
          f"target <= 24 MB | baseline: wc -l on the same file {wc_mb:.1f} MB")


def main():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} not found: run `cargo build --release` first")
    tmp = tempfile.mkdtemp(prefix="oauthwatch-footprint-")
    chosen = set(os.environ.get("BENCH", "steady,burst").split(","))
    print(f"load average before: {load()}")
    try:
        for name, bench in (("steady", bench_steady), ("burst", bench_burst)):
            if name in chosen:
                os.makedirs(os.path.join(tmp, name))
                bench(os.path.join(tmp, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
