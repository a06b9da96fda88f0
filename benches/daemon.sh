#!/usr/bin/env bash
# Daemon figures (issue 3): append→/metrics latency, idle CPU, RSS tailing 100 files, and
# sustained ingest beside `wc -l`. Prints figures; asserts nothing (the machine is shared).
# Usage: benches/daemon.sh   (IDLE_SECONDS, LATENCY_SAMPLES, INGEST_LINES tune it)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
exec python3 benches/daemon_bench.py target/release/oauthwatch
