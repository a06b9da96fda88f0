#!/usr/bin/env python3
"""Footprint and latency figures of the `oauthwatch run` daemon (issue 3's table).

Prints, for the release binary given as argv[1]:
  - append-to-metrics latency: append one failure line, poll /metrics until the counter moves
    (median and max over N appends);
  - idle CPU over a window (utime+stime from /proc, as % of one core);
  - steady RSS while tailing 100 files;
  - sustained ingest from an appending writer, beside `wc -l` on the same file (the baseline),
    and whether every line was counted; peak RSS (VmHWM) while a writer appends ~1 MiB blocks;
  - idle CPU tailing 100 files and 4,000 files (past `max_open_files`, 256) in the same run;
  - idle CPU and read syscalls with `watch_config = true`, the config in a plain directory
    beside the same config in a Kubernetes ConfigMap layout (`..data` symlink).

BENCH selects sections (comma-separated: latency, ingest, many_files, config_watch; default
all).

Figures, not assertions: the machine is shared and noisy; compare the ratios. Everything runs
on loopback in a temp dir and every process started here is stopped.
"""

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/oauthwatch")
IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", "60"))
LATENCY_SAMPLES = int(os.environ.get("LATENCY_SAMPLES", "50"))
INGEST_LINES = int(os.environ.get("INGEST_LINES", "5000000"))
# The failure line appended in the latency and ingest runs (FAILURE_LINE overrides it).
FAILURE = os.environ.get(
    "FAILURE_LINE",
    "2026-11-23T10:00:00Z ERROR auth: Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8Pap6_PatCmZLwQxKCZOUJsBwojQ",
).rstrip("\n") + "\n"
NOISE = "2026-11-23T10:00:02Z INFO http: GET /api/v1/meetings/123456789/participants 200 0.4ms user=42 trace=5f1c0ad1e2b34c7d9a8b\n"


class Daemon:
    def __init__(self, workdir, config_text):
        self.dir = workdir
        cfg = os.path.join(workdir, "config.toml")
        if config_text is not None:
            with open(cfg, "w") as f:
                f.write(config_text)
        self.stderr = open(os.path.join(workdir, "daemon.log"), "w+")
        self.proc = subprocess.Popen(
            [BIN, "run", "--config", cfg, "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
        )
        self.addr = None
        deadline = time.time() + 30
        while time.time() < deadline and self.addr is None:
            time.sleep(0.05)
            self.stderr.seek(0)
            # The first line may show the requested `listen=…:0`; a later one the bound port.
            bound = [a for a in re.findall(r"(?:listen|bound)=\"?([0-9.]+:[0-9]+)", self.stderr.read())
                     if not a.endswith(":0")]
            if bound:
                self.addr = bound[0]
        if self.addr is None:
            self.stop()
            raise SystemExit("daemon did not report its address")

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.addr}/metrics", timeout=10) as r:
            return r.read().decode()

    def value(self, name, labels):
        for line in self.metrics().splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return None

    def thread_cpu(self):
        """CPU time of each live thread, in seconds from schedstat (utime/stime tick at 10 ms)."""
        times = {}
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{tid}/schedstat") as f:
                    times[tid] = int(f.read().split()[0]) / 1e9
            except (FileNotFoundError, ProcessLookupError):
                pass
        return times

    def syscr(self):
        """Read syscalls of the whole process so far (/proc/PID/io)."""
        with open(f"/proc/{self.proc.pid}/io") as f:
            for line in f:
                if line.startswith("syscr:"):
                    return int(line.split()[1])
        return 0

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def idle(self, seconds):
        """(% of a core, read syscalls) over `seconds` of doing nothing. Threads are sampled
        every half second and a thread that exits keeps its last reading: a sum over the live
        threads alone drops when a short-lived worker exits, and can even go negative."""
        start, r0, t0 = self.thread_cpu(), self.syscr(), time.time()
        last = dict(start)
        while time.time() < t0 + seconds:
            time.sleep(min(0.5, max(0.0, t0 + seconds - time.time())))
            last.update(self.thread_cpu())
        r1, t1 = self.syscr(), time.time()
        used = sum(v - start.get(tid, 0.0) for tid, v in last.items())
        return 100 * used / (t1 - t0), r1 - r0

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def config(paths, extra=""):
    globs = ", ".join(f'"{p}"' for p in paths)
    return f"""state_dir = "state"
watch_config = false
{extra}
[[sources]]
name = "app"
paths = [{globs}]
provider = "zoom"
start_at = "beginning"
"""


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def latency_samples(d, target, labels, n):
    """Append a failure line to `target` `n` times; the milliseconds until each shows in
    oauthwatch_errors_total{labels} on /metrics, sorted."""
    samples = []
    for _ in range(n):
        before = d.value("oauthwatch_errors_total", labels) or 0.0
        t0 = time.perf_counter()
        append(target, FAILURE)
        while (d.value("oauthwatch_errors_total", labels) or 0.0) <= before:
            if time.perf_counter() - t0 > 10:
                raise SystemExit("a failure line was not counted within 10 s")
            time.sleep(0.0005)
        samples.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.02)
    return sorted(samples)


def bench_latency_idle_rss(tmp):
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    for i in range(100):
        append(os.path.join(logs, f"app{i:03}.log"), NOISE * 10)
    d = Daemon(tmp, config(["logs/*.log"]))
    try:
        labels = {"rule": "invalid_authorization_code", "source": "app"}
        deadline = time.time() + 30
        while d.value("oauthwatch_source_lines_total", {"source": "app"}) != 1000.0:
            if time.time() > deadline:
                raise SystemExit("daemon did not read the 100 files")
            time.sleep(0.1)
        samples = latency_samples(d, os.path.join(logs, "app000.log"), labels, LATENCY_SAMPLES)
        print(f"append→/metrics latency over {len(samples)} appends: "
              f"median {statistics.median(samples):.2f} ms, p90 {samples[int(len(samples) * 0.9) - 1]:.2f} ms, "
              f"max {samples[-1]:.2f} ms   (target ≤ 10 ms median, ≤ 50 ms max; mtail: 196 / 262 ms)")
        time.sleep(2)
        rss = d.rss_mb()
        print(f"steady RSS tailing 100 files: {rss:.1f} MB   (target ≤ 20 MB)")
        cpu, _ = d.idle(IDLE_SECONDS)
        print(f"idle CPU over {IDLE_SECONDS} s: {cpu:.4f}% of a core "
              f"({cpu * IDLE_SECONDS * 10:.1f} ms CPU, from schedstat)   (target ≤ 0.02%; mtail: 0.13%)")
    finally:
        d.stop()


def bench_ingest(tmp):
    logs = os.path.join(tmp, "ingest")
    os.makedirs(logs)
    log = os.path.join(logs, "app.log")
    open(log, "w").close()
    d = Daemon(tmp, config(["ingest/*.log"], 'checkpoint_interval = "1s"'))
    try:
        block_lines = 10000
        block = (NOISE * 99 + FAILURE) * (block_lines // 100)
        blocks = INGEST_LINES // block_lines
        total = blocks * block_lines
        errors = {"rule": "invalid_authorization_code", "source": "app"}
        # Sustained ingest is a running daemon's: one failure is classified first. Rule
        # patterns compile on first use, and the first failure's ~10 ms of compiling would
        # otherwise let the reader fall tens of megabytes behind this writer (out of the CPU
        # cache), which a cold start measures, not throughput. COLD=1 skips the warm-up.
        warm = 0 if os.environ.get("COLD") else 1
        if warm:
            with open(log, "a") as f:
                f.write(FAILURE)
            deadline = time.time() + 30
            while (d.value("oauthwatch_errors_total", errors) or 0) < 1 and time.time() < deadline:
                time.sleep(0.01)
        t0 = time.perf_counter()
        with open(log, "a") as f:
            for _ in range(blocks):
                f.write(block)
                f.flush()
        written = time.perf_counter() - t0
        # Lines are counted when read, failures once classified: wait for both.
        deadline = time.time() + 300
        while True:
            n = (d.value("oauthwatch_source_lines_total", {"source": "app"}) or 0.0) - warm
            errs = (d.value("oauthwatch_errors_total", errors) or 0.0) - warm
            if (n >= total and errs >= total // 100) or time.time() > deadline:
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        rss = d.rss_mb()
        peak = d.peak_rss_mb()
    finally:
        d.stop()
    t1 = time.perf_counter()
    subprocess.run(["wc", "-l", log], check=True, stdout=subprocess.DEVNULL)
    wc = time.perf_counter() - t1
    size_mb = os.path.getsize(log) / 1e6
    print(f"sustained ingest{' (cold: first failure in the burst)' if not warm else ''}: "
          f"{total} lines ({size_mb:.0f} MB) written in {written:.2f} s, "
          f"all counted after {elapsed:.2f} s = {total / elapsed / 1e6:.2f} M lines/s "
          f"(target ≥ 6 M lines/s); lines counted {int(n)}/{total} "
          f"({'none lost' if int(n) == total else 'LOST LINES'}); failures counted {int(errs or 0)}/{total // 100}; "
          f"RSS after {rss:.1f} MB")
    print(f"peak RSS while a writer appended {len(block) / 2**20:.1f} MiB blocks: {peak:.1f} MB "
          f"(VmHWM; the queue is bounded by limits.queue_bytes)")
    print(f"baseline wc -l on the same file: {total / wc / 1e6:.1f} M lines/s; "
          f"daemon/wc ratio {wc / elapsed:.3f}")


MANY_IDLE_SECONDS = int(os.environ.get("MANY_IDLE_SECONDS", "20"))


def idle_with_files(tmp, n):
    logs = os.path.join(tmp, f"logs{n}")
    os.makedirs(logs)
    for i in range(n):
        append(os.path.join(logs, f"app{i:05}.log"), NOISE)
    d = Daemon(tmp, config([f"logs{n}/*.log"]))
    try:
        deadline = time.time() + 120
        while d.value("oauthwatch_source_lines_total", {"source": "app"}) != float(n):
            if time.time() > deadline:
                raise SystemExit(f"daemon did not read the {n} files")
            time.sleep(0.2)
        # Idle starts once the catch-up's last checkpoint is written (checkpoint_interval, 5 s,
        # after the last acknowledgement): that write is the tail of the work, not idling.
        time.sleep(7)
        return d.idle(MANY_IDLE_SECONDS)
    finally:
        d.stop()


def bench_many_files(tmp):
    few, _ = idle_with_files(tmp, 100)
    many, _ = idle_with_files(tmp, 4000)
    ratio = many / few if few > 0 else float("inf")
    print(f"idle CPU over {MANY_IDLE_SECONDS} s: 100 files {few:.4f}% of a core, 4,000 files "
          f"{many:.4f}% (max_open_files 256); ratio {ratio:.1f}× (target ≤ 5×); "
          f"load average {os.getloadavg()[0]:.2f}")


def idle_config_watch(tmp, layout):
    """A daemon with watch_config = true whose config lives in a plain directory or in a
    ConfigMap-style mount (files are links through `..data` to a timestamped directory)."""
    root = os.path.join(tmp, layout)
    os.makedirs(os.path.join(root, "logs"))
    append(os.path.join(root, "logs", "app.log"), NOISE)
    text = config(["logs/*.log"]).replace("watch_config = false", "watch_config = true")
    if layout == "configmap":
        data = os.path.join(root, "..2026_11_23_10_00_00.000000000")
        os.makedirs(data)
        with open(os.path.join(data, "config.toml"), "w") as f:
            f.write(text.replace('"logs/', f'"{root}/logs/').replace('"state"', f'"{root}/state"'))
        os.symlink(os.path.basename(data), os.path.join(root, "..data"))
        os.symlink("..data/config.toml", os.path.join(root, "config.toml"))
        d = Daemon(root, None)
    else:
        d = Daemon(root, text)
    try:
        time.sleep(3)
        return d.idle(MANY_IDLE_SECONDS)
    finally:
        d.stop()


def bench_config_watch(tmp):
    plain_cpu, plain_reads = idle_config_watch(tmp, "plain")
    cm_cpu, cm_reads = idle_config_watch(tmp, "configmap")
    print(f"idle with watch_config = true over {MANY_IDLE_SECONDS} s: plain directory "
          f"{plain_cpu:.4f}% of a core, {plain_reads} read syscalls; ConfigMap layout "
          f"{cm_cpu:.4f}%, {cm_reads} read syscalls (target: the same, near 0)")


def main():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} not found: run `cargo build --release` first")
    tmp = tempfile.mkdtemp(prefix="oauthwatch-bench-")
    chosen = set(os.environ.get("BENCH", "latency,ingest,many_files,config_watch").split(","))
    benches = (("latency", bench_latency_idle_rss), ("ingest", bench_ingest),
               ("many_files", bench_many_files), ("config_watch", bench_config_watch))
    try:
        for name, bench in benches:
            if name not in chosen:
                continue
            os.makedirs(os.path.join(tmp, name))
            bench(os.path.join(tmp, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
