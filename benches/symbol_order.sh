#!/usr/bin/env bash
# Rewrites symbol-order.txt (the release link order, see build.rs) from a callgrind run of the
# daemon's steady scenario, then relinks the release binary in the new order. Run after
# changing what the daemon runs or updating dependencies or the toolchain; needs valgrind.
# `SMAPS=1 BENCH=steady benches/footprint.sh` then shows the resident code.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet --bin oauthwatch
python3 benches/symbol_order.py target/release/oauthwatch
cargo build --release --locked --quiet --bin oauthwatch
