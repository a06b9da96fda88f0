#!/usr/bin/env bash
# Footprint figures of the daemon (issue 10): steady RSS tailing 100 files, append -> /metrics
# latency, idle CPU and wake-ups over 60 s with 100 files, and peak RSS during a 3M-line burst,
# each beside a baseline from the same run (`tail -F` of the same files, `wc -l` of the same
# file, Fluent Bit's published tail-input RSS). Prints figures; asserts nothing (shared machine).
# Usage: benches/footprint.sh   (IDLE_SECONDS, LATENCY_SAMPLES, BURST_LINES, BENCH tune it)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --bin oauthwatch
exec python3 benches/footprint.py target/release/oauthwatch
