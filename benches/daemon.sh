#!/usr/bin/env bash
# Daemon figures (issues 3, 13, 15): append→/metrics latency, idle CPU (100 vs 4,000 files; config
# watch in a plain directory vs a ConfigMap layout), RSS and peak RSS, and
# sustained ingest beside `wc -l`. Prints figures; asserts nothing (the machine is shared).
# Usage: benches/daemon.sh   (IDLE_SECONDS, LATENCY_SAMPLES, INGEST_LINES tune it; COLD=1: the ingest burst
#   carries the daemon's first failure, whose patterns compile on first use)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 benches/daemon_bench.py target/release/oauthwatch
