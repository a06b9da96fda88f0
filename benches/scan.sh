#!/usr/bin/env bash
# Throughput of `oauthwatch scan` beside `wc -l` and `rg -c -i zoom` on the same generated
# corpus, in the same run: scan in its default mode and with --provider zoom on one thread
# (OAUTHWATCH_SCAN_THREADS=1), and scan with every core (the file split at record
# boundaries). rg is also timed with --no-mmap: reading as scan does, its literal search and
# the kernel's copy alone. Prints lines/s and the ratio to rg for each; asserts nothing (speed is
# measured, never asserted; the machine is shared, so `uptime` is printed beside).
#
# Usage: benches/scan.sh [LINES]   (default 3,000,000 lines of ~180 bytes)
#   BEFORE=path/to/old/oauthwatch  also measures an older binary, for a before/after line.
#   NO_BUILD=1                     measures target/release as it is (no cargo build first).
#   CALLGRIND=1                    also prints instruction counts (valgrind; repeatable under
#                                  load) of one-thread scans of a 200,000-line prefix.
#   CRI=1                          also measures the corpus as a container runtime writes it
#                                  (each line a CRI `F` line: all on stdout, then every third
#                                  on stderr), read with --input-format cri on one thread,
#                                  beside `wc -l` on the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
LINES="${1:-3000000}"
CORPUS="${CORPUS:-target/bench-corpus-$LINES.log}"
if [ -z "${NO_BUILD:-}" ]; then # NO_BUILD=1: measure the release binary already built
  # Two builds: an example pulls in the dev-dependencies, whose features (tokio's "full")
  # would otherwise be unified into the binary's, giving a binary unlike the one users build
  # (and unlike the one symbol-order.txt was written for).
  cargo build --release --quiet --example gen_corpus
  cargo build --release --quiet --bin oauthwatch
fi
if [ ! -s "$CORPUS" ]; then
  target/release/examples/gen_corpus "$CORPUS" "$LINES"
fi
BIN=target/release/oauthwatch
BYTES=$(stat -c %s "$CORPUS")
NLINES=$(wc -l < "$CORPUS")
echo "corpus: $CORPUS, $NLINES lines, $BYTES bytes ($((BYTES / NLINES)) bytes/line)"
echo "load: $(uptime)"
cat "$CORPUS" > /dev/null # warm the page cache for everyone

now() { date +%s.%N; }
measure() { # name, command... ; prints the best of 3 to stderr, lines/s to stdout
  local name=$1; shift
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(now); "$@" > /dev/null; t1=$(now)
    local secs; secs=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc -l)" = 1 ]; then best=$secs; fi
  done
  local lps; lps=$(echo "$NLINES / $best" | bc -l)
  printf '%-44s %8.3f s  %6.1f M lines/s  %6.0f MB/s\n' "$name" "$best" \
    "$(echo "$lps / 1000000" | bc -l)" "$(echo "$BYTES / $best / 1000000" | bc -l)" >&2
  echo "$lps"
}
one() { OAUTHWATCH_SCAN_THREADS=1 taskset -c 0 "$@"; }
WC=$(measure "wc -l" wc -l "$CORPUS")
RG=$(measure "rg -c -i zoom (one thread)" rg -c -i -j1 zoom "$CORPUS")
# rg reading the file as scan does (read(2) into a buffer, no mmap): the literal search and
# the kernel's copy alone, the part of scan's work that rg also does.
RGNM=$(measure "rg -c -i zoom --no-mmap (one thread)" rg -c -i -j1 --no-mmap zoom "$CORPUS")
SCAN=$(measure "scan, default mode, one thread" one "$BIN" scan --format json "$CORPUS")
SCANP=$(measure "scan --provider zoom, one thread" one "$BIN" scan --provider zoom --format json "$CORPUS")
SCAN2=$(measure "scan, default mode, all cores ($(nproc))" "$BIN" scan --format json "$CORPUS")
if [ -n "${BEFORE:-}" ]; then
  OLD=$(measure "before: scan, default, one thread" taskset -c 0 "$BEFORE" scan --format json "$CORPUS")
  OLDP=$(measure "before: scan --provider zoom, one thread" taskset -c 0 "$BEFORE" scan --provider zoom --format json "$CORPUS")
fi
ratio() { printf '%.2f' "$(echo "$1 / $RG" | bc -l)"; }
echo "ratio to rg -c -i zoom: scan $(ratio "$SCAN"), --provider zoom $(ratio "$SCANP"), all cores $(ratio "$SCAN2"); wc -l $(ratio "$WC"), rg --no-mmap $(ratio "$RGNM")"
if [ -n "${BEFORE:-}" ]; then
  echo "before: scan $(ratio "$OLD"), --provider zoom $(ratio "$OLDP") of rg"
fi
# The same report whatever the threads (also a test: tests/scan_parallel.rs).
if [ "$(OAUTHWATCH_SCAN_THREADS=1 "$BIN" scan --format json "$CORPUS" | md5sum)" != "$("$BIN" scan --format json "$CORPUS" | md5sum)" ]; then
  echo "WARNING: one thread and all cores reported differently" >&2
fi
if [ -n "${CALLGRIND:-}" ]; then
  PREFIX=target/bench-corpus-prefix-200000.log
  head -n 200000 "$CORPUS" > "$PREFIX"
  irs() { # command... ; instructions (Ir) of the whole run
    OAUTHWATCH_SCAN_THREADS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
      | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  }
  echo "callgrind, 200,000 lines, instructions per line:"
  for mode in "" "--provider zoom"; do
    # shellcheck disable=SC2086
    printf '  scan %-16s %6.0f\n' "$mode" "$(echo "$(irs "$BIN" scan --format json $mode "$PREFIX") / 200000" | bc -l)"
    if [ -n "${BEFORE:-}" ]; then
      # shellcheck disable=SC2086
      printf '  before: scan %-8s %6.0f\n' "$mode" "$(echo "$(irs "$BEFORE" scan --format json $mode "$PREFIX") / 200000" | bc -l)"
    fi
  done
  rm -f "$PREFIX"
fi
if [ -n "${CRI:-}" ]; then
  # As a container runtime writes it: every line a CRI `F` line on stdout (one stream), and
  # the same with every third line on stderr (two streams interleaved).
  CORPUS_BYTES=$BYTES
  for streams in 1 2; do
    CRI_CORPUS="${CORPUS%.log}-cri$streams.log"
    if [ ! -s "$CRI_CORPUS" ]; then
      awk -v two="$((streams - 1))" 'two && NR % 3 == 0 { print "2024-05-01T00:00:00.5Z stderr F " $0; next }
           { print "2024-05-01T00:00:00.123456789Z stdout F " $0 }' "$CORPUS" > "$CRI_CORPUS"
    fi
    cat "$CRI_CORPUS" > /dev/null
    BYTES=$(stat -c %s "$CRI_CORPUS")
    echo "CRI, $streams stream(s): $CRI_CORPUS, $BYTES bytes"
    WCC=$(measure "wc -l (CRI, $streams)" wc -l "$CRI_CORPUS")
    SCANC=$(measure "scan --input-format cri, one thread" one "$BIN" scan --input-format cri --format json "$CRI_CORPUS")
    printf 'CRI, %s stream(s): scan %.2f of wc -l\n' "$streams" "$(echo "$SCANC / $WCC" | bc -l)"
    if [ -n "${BEFORE:-}" ]; then
      OLDC=$(measure "before: scan --input-format cri, one thread" taskset -c 0 "$BEFORE" scan --input-format cri --format json "$CRI_CORPUS")
      printf 'CRI, %s stream(s), before: scan %.2f of wc -l\n' "$streams" "$(echo "$OLDC / $WCC" | bc -l)"
    fi
  done
  BYTES=$CORPUS_BYTES
fi
