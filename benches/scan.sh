#!/usr/bin/env bash
# Throughput of `oauthwatch scan` beside `rg -c` and `grep -c` of the rule messages on the same
# generated corpus, in the same run. Usage: benches/scan.sh [LINES] (default 5,000,000).
# Prints lines/s for each and the ratios; no assertion (speed is measured, never asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
LINES="${1:-5000000}"
CORPUS="${CORPUS:-target/bench-corpus-$LINES.log}"
cargo build --release --quiet --bin oauthwatch --example gen_corpus --example classify_speed
if [ ! -s "$CORPUS" ]; then
  target/release/examples/gen_corpus "$CORPUS" "$LINES"
fi
BIN=target/release/oauthwatch
BYTES=$(stat -c %s "$CORPUS")
NLINES=$(wc -l < "$CORPUS")
echo "corpus: $CORPUS, $NLINES lines, $BYTES bytes ($((BYTES / NLINES)) bytes/line)"
# The rule messages (as the table words them and as real logs drift them).
PATTERNS=(-e 'invalid authorization code' -e 'invalid token' -e 'invalid client' -e 'unsupported grant type'
  -e 'redirect uri mismatch' -e 'code is expired' -e 'token has been revoked' -e 'missing grant type'
  -e 'app has been disabled' -e 'token cannot be empty' -e 'refresh token invalid')
cat "$CORPUS" > /dev/null # warm the page cache for everyone

now() { date +%s.%N; }
measure() { # name, command...
  local name=$1; shift
  local best=""
  for _ in 1 2 3; do
    local t0 t1 out
    t0=$(now); out=$("$@" | tail -c 200); t1=$(now)
    local secs; secs=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc -l)" = 1 ]; then best=$secs; fi
  done
  local lps; lps=$(echo "$NLINES / $best" | bc -l)
  printf '%-34s %8.3f s  %12.0f lines/s  %8.0f MB/s\n' "$name" "$best" "$lps" "$(echo "$BYTES / $best / 1000000" | bc -l)" >&2
  echo "$lps"
}
SCAN=$(measure "oauthwatch scan (one core)" taskset -c 0 "$BIN" scan --format json "$CORPUS")
SCANP=$(measure "oauthwatch scan --provider zoom" taskset -c 0 "$BIN" scan --provider zoom --format json "$CORPUS")
RG=$(measure "rg -c -i -F (messages)" rg -c -i -F -j1 "${PATTERNS[@]}" "$CORPUS")
GREP=$(measure "grep -c -i -F (messages)" grep -c -i -F "${PATTERNS[@]}" "$CORPUS")
WC=$(measure "wc -l" wc -l "$CORPUS")
printf 'scan/rg = %.2f   scan/grep = %.2f   scan/wc = %.2f\n' \
  "$(echo "$SCAN / $RG" | bc -l)" "$(echo "$SCAN / $GREP" | bc -l)" "$(echo "$SCAN / $WC" | bc -l)"
echo "counts: scan=$("$BIN" scan --format json "$CORPUS" | python3 -c 'import json,sys; print(sum(r["count"] for r in json.load(sys.stdin)["rules"]))') rg=$(rg -c -i -F "${PATTERNS[@]}" "$CORPUS") (rg also counts lookalikes; scan does not)"
# Where the time goes: the classifier alone, without framing or I/O.
taskset -c 0 target/release/examples/classify_speed "$CORPUS"
