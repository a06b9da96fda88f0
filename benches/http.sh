#!/usr/bin/env bash
# HTTP endpoint benchmark: /metrics latency and throughput with wrk on loopback.
#
# Starts target/release/oauthwatch on a free loopback port, tailing a temporary log file, and
# runs wrk for a few seconds per case:
#   1. /healthz                     baseline: the HTTP server alone, no site work;
#   2. /metrics                     plain text;
#   3. /metrics, gzip               what Prometheus sends (Accept-Encoding: gzip);
#   4. /metrics, gzip, ingesting    while a writer appends Zoom OAuth failure lines as fast as
#                                   it can, so the daemon ingests at full speed; the lines the
#                                   daemon read are printed beside the lines written (wc -l).
#   5. bad sockets held open        /healthz and /metrics, each request on a new connection (as a
#                                   kubelet probe or a fresh scrape connects), timed with no
#                                   other socket open (baseline), then while IDLE_SOCKETS idle
#                                   sockets, then as many slowloris sockets, are held open and
#                                   reopened as soon as the server closes them
#                                   (benches/http_idle.py). Target: < 100 ms.
# Everything it starts is stopped on exit (also on Ctrl-C), and its temp dir removed.
#
# Usage: benches/http.sh [SECONDS] [CONNECTIONS]     (defaults: 5 s, 8 connections)
# Env:   BIN (default target/release/oauthwatch), WRK (default wrk), THREADS (wrk threads, 2),
#        INGEST_MB (cap on bytes appended in case 4, default 1024), IDLE_SOCKETS (case 5,
#        default 1000), SAMPLES (requests per path in case 5, default 50), ONLY_SOCKETS=1 (run
#        case 5 alone).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${1:-5}
CONNS=${2:-8}
THREADS=${THREADS:-2}
BIN=${BIN:-target/release/oauthwatch}
WRK=${WRK:-wrk}
INGEST_MB=${INGEST_MB:-1024}
IDLE_SOCKETS=${IDLE_SOCKETS:-1000}
SAMPLES=${SAMPLES:-50}

die() { echo "http.sh: $*" >&2; exit 2; }
[[ -x $BIN ]] || die "$BIN not found; build it with: cargo build --release"
ONLY_SOCKETS=${ONLY_SOCKETS:-0}
[[ $ONLY_SOCKETS == 1 ]] || command -v "$WRK" >/dev/null || die "wrk not found (apt-get install wrk)"
command -v curl >/dev/null || die "curl not found"
command -v python3 >/dev/null || die "python3 not found (case 5)"

# Case 5 holds IDLE_SOCKETS client sockets in this shell's children: raise the soft fd limit
# to the hard one if needed, and hold fewer sockets (saying so) if that is still too low.
fd_need=$(( IDLE_SOCKETS + 256 ))
if (( $(ulimit -n) < fd_need )); then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
fd_limit=$(ulimit -n)
if [[ $fd_limit != unlimited ]] && (( fd_limit < fd_need )); then
    echo "http.sh: ulimit -n is $fd_limit; holding $(( fd_limit - 256 )) sockets instead of $IDLE_SOCKETS" >&2
    IDLE_SOCKETS=$(( fd_limit - 256 ))
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/oauthwatch-bench.XXXXXX")
DAEMON=""
WRITER=""
cleanup() {
    # Only the processes this script started, by pid.
    for pid in $WRITER $DAEMON; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $WRITER $DAEMON; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keep the bench's disk use well inside what is free.
avail_mb=$(( $(df -Pk "$TMP" | awk 'NR==2 {print $4}') / 1024 ))
(( INGEST_MB > avail_mb / 4 )) && INGEST_MB=$(( avail_mb / 4 ))

# A batch of log lines in the shapes the product sees: failures and ordinary noise.
batch="$TMP/batch.log"
for i in $(seq 1 500); do
    printf '%s\n' \
        "{\"level\":\"error\",\"ts\":\"2026-11-24T20:00:00Z\",\"msg\":\"token exchange failed\",\"body\":\"{\\\"reason\\\":\\\"Invalid authorization code $i\\\",\\\"error\\\":\\\"invalid_grant\\\"}\"}" \
        "2026-11-24T20:00:00Z ERROR oauth: Zoom API error: invalid_request, reason: Invalid client_id or client_secret" \
        "2026-11-24T20:00:00Z INFO http: GET /api/meetings 200 12ms user=$i" \
        "level=error msg=\"zoom token refresh failed\" status=401 body=\"{'reason': 'Token is expired.', 'error': 'invalid_grant'}\"" \
        "2026-11-24T20:00:00Z DEBUG cache: hit key=user:$i"
done >"$batch"
batch_bytes=$(wc -c <"$batch")
batch_lines=$(wc -l <"$batch")

log="$TMP/app.log"
: >"$log"
"$BIN" run --path "$log" --state-dir "$TMP/state" --start-at end \
    --listen 127.0.0.1:0 --log-level info 2>"$TMP/daemon.err" >/dev/null &
DAEMON=$!

ADDR=""
for _ in $(seq 1 300); do
    ADDR=$(grep -oE 'listen="?[^ ",]+' "$TMP/daemon.err" 2>/dev/null | head -1 | sed -E 's/^listen="?//') || true
    [[ -n $ADDR && $ADDR != *:0 ]] && break
    kill -0 "$DAEMON" 2>/dev/null || { cat "$TMP/daemon.err" >&2; die "oauthwatch exited during start-up"; }
    sleep 0.1
done
[[ -n $ADDR && $ADDR != *:0 ]] || { cat "$TMP/daemon.err" >&2; die "no listen= line from oauthwatch within 30 s"; }
URL="http://$ADDR"
for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$URL/readyz" 2>/dev/null && break
    sleep 0.1
done

# The value of the first sample of metric $1 whose labels contain $2.
metric() {
    curl -fsS "$URL/metrics" | awk -v name="$1" -v sel="$2" \
        'index($0, name) == 1 && index($0, sel) { print $NF; exit }'
}

plain_size=$(curl -fsS "$URL/metrics" | wc -c)
gzip_size=$(curl -fsS -H 'Accept-Encoding: gzip' "$URL/metrics" | wc -c)

echo "oauthwatch HTTP bench: $URL, wrk -t$THREADS -c$CONNS -d${DURATION}s, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "/metrics body: $plain_size bytes plain, $gzip_size bytes gzip"
run_wrk() {
    local label=$1 path=$2
    shift 2
    local out="$TMP/wrk.out"
    "$WRK" -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" "$URL$path" >"$out" 2>&1 || true
    local rps p50 p99 max errs
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    max=$(awk '$1 == "Latency" {print $4; exit}' "$out")
    errs=$(awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}' "$out")
    printf '%-34s %12s %10s %10s %10s  %s\n' "$label" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${max:-?}" "${errs:-none}"
}

if [[ $ONLY_SOCKETS != 1 ]]; then
echo
printf '%-34s %12s %10s %10s %10s  %s\n' case requests/s p50 p99 max errors
run_wrk "/healthz (baseline)" /healthz
run_wrk "/metrics" /metrics
run_wrk "/metrics gzip" /metrics -H 'Accept-Encoding: gzip'

# Case 4: scrape while ingesting at full speed.
lines_before=$(metric oauthwatch_source_lines_total 'source="files"')
max_batches=$(( INGEST_MB * 1024 * 1024 / batch_bytes ))
(
    n=0
    while (( n < max_batches )); do
        cat "$batch" >>"$log"
        n=$(( n + 1 ))
    done
) &
WRITER=$!
start_ns=$(date +%s%N)
run_wrk "/metrics gzip, while ingesting" /metrics -H 'Accept-Encoding: gzip'
elapsed_ns=$(( $(date +%s%N) - start_ns ))
kill "$WRITER" 2>/dev/null || true
wait "$WRITER" 2>/dev/null || true
WRITER=""
lines_after=$(metric oauthwatch_source_lines_total 'source="files"')
lag=$(metric oauthwatch_source_lag_bytes 'source="files"')
written=$(wc -l <"$log")

echo
if [[ -n $lines_before && -n $lines_after ]]; then
    read_lines=$(awk -v a="$lines_after" -v b="$lines_before" 'BEGIN { printf "%d", a - b }')
    awk -v r="$read_lines" -v w="$written" -v ns="$elapsed_ns" -v lag="${lag:-?}" 'BEGIN {
        s = ns / 1e9
        printf "ingest during case 4: daemon read %d lines (%.0f lines/s); writer appended %d lines (wc -l, %.0f lines/s); lag at end %s bytes\n", r, r / s, w, w / s, lag
    }'
else
    echo "ingest during case 4: oauthwatch_source_lines_total{source=\"files\"} not exported; appended $written lines (wc -l)"
fi
echo "batch: $batch_lines lines, $batch_bytes bytes; daemon log: $(wc -l <"$TMP/daemon.err") lines"
fi

# Case 5: fresh /healthz and /metrics requests while bad sockets are held open.
echo
echo "new-connection latency (ms) with bad sockets held open; ulimit -n $(ulimit -n); [http] max_connections default"
printf '%-34s %-9s %9s %9s %9s %9s %9s\n' case path p50 p99 max failed reopened
idle_case() {
    local label=$1 count=$2 mode=$3
    python3 benches/http_idle.py "$ADDR" "$count" "$mode" "$SAMPLES" >"$TMP/idle.out" 2>"$TMP/idle.err" || true
    if ! grep -q '^/' "$TMP/idle.out"; then
        printf '%-34s failed: %s\n' "$label" "$(tr '\n' ' ' <"$TMP/idle.err")"
        return
    fi
    while read -r path p50 p99 max failed held reopened; do
        printf '%-34s %-9s %9s %9s %9s %9s %9s\n' "$label" "$path" "$p50" "$p99" "$max" "$failed" "$reopened"
    done <"$TMP/idle.out"
}
idle_case "baseline (no other socket)" 0 idle
idle_case "$IDLE_SOCKETS idle sockets" "$IDLE_SOCKETS" idle
idle_case "$IDLE_SOCKETS slowloris sockets" "$IDLE_SOCKETS" slowloris
