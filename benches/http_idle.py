#!/usr/bin/env python3
"""Latency of fresh /healthz and /metrics requests while many bad sockets are held open.

Used by benches/http.sh. Holds COUNT sockets to ADDR in MODE:
  idle       connect and send nothing;
  slowloris  send half a request head, then one more header byte every second;
and reopens any the server closes, so COUNT stay open for the whole measurement (the
"sockets reopened continuously" attack). Meanwhile it times SAMPLES requests to each of
/healthz and /metrics, each on a new connection (as a kubelet probe or a fresh scrape
connects), and prints one line per path: p50, p99 and max in ms, and failures.

Loopback only; bounded: it stops after the samples are taken, closing every socket.
"""

import selectors
import socket
import sys
import threading
import time

TIMEOUT = 30.0


def parse_addr(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class Holder(threading.Thread):
    """Keeps COUNT sockets open in MODE until stopped."""

    def __init__(self, addr, count, mode):
        super().__init__(daemon=True)
        self.addr = addr
        self.count = count
        self.mode = mode
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.sel = selectors.DefaultSelector()
        self.reopened = 0
        self.open = 0

    def connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(self.addr)
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            return False
        self.sel.register(s, selectors.EVENT_READ, {"sent": False})
        self.open += 1
        return True

    def run(self):
        for _ in range(self.count):
            if self.stop.is_set() or not self.connect():
                break
        self.ready.set()
        last_trickle = time.monotonic()
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    # Closed by the server (evicted or timed out): open another.
                    self.sel.unregister(s)
                    s.close()
                    self.open -= 1
                    self.reopened += 1
                    self.connect()
            now = time.monotonic()
            if self.mode == "slowloris" and now - last_trickle >= 1.0:
                last_trickle = now
                for key in list(self.sel.get_map().values()):
                    s = key.fileobj
                    first = not key.data["sent"]
                    key.data["sent"] = True
                    try:
                        s.send(b"GET /metrics HTTP/1.1\r\nHost: t\r\n" if first else b"X")
                    except OSError:
                        pass
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


def timed_get(addr, path):
    start = time.monotonic()
    with socket.create_connection(addr, timeout=TIMEOUT) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    elapsed = (time.monotonic() - start) * 1000
    ok = data.startswith(b"HTTP/1.1 200")
    if not ok:
        print(f"{path}: answer {data[:40]!r} after {elapsed:.0f} ms", file=sys.stderr)
    return elapsed, ok


def pct(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, int(round(p / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[i]


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: http_idle.py ADDR COUNT idle|slowloris SAMPLES")
    addr = parse_addr(sys.argv[1])
    count, mode, samples = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    holder = Holder(addr, count, mode)
    holder.start()
    holder.ready.wait(TIMEOUT)
    if mode == "slowloris":
        time.sleep(1.5)  # every socket has sent its half head
    else:
        time.sleep(0.5)
    results = {}
    for path in ("/healthz", "/metrics"):
        ms, failures = [], 0
        for _ in range(samples):
            try:
                t, ok = timed_get(addr, path)
                ms.append(t)
                failures += 0 if ok else 1
            except OSError as e:
                print(f"{path}: {e}", file=sys.stderr)
                failures += 1
            time.sleep(0.02)
        results[path] = (sorted(ms), failures)
    held = holder.open
    holder.stop.set()
    holder.join(TIMEOUT)
    for path, (ms, failures) in results.items():
        print(
            f"{path} {pct(ms, 50):.2f} {pct(ms, 99):.2f} {ms[-1] if ms else float('nan'):.2f} "
            f"{failures} {held} {holder.reopened}"
        )


if __name__ == "__main__":
    main()
