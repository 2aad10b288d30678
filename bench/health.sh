#!/usr/bin/env bash
# HTTP ceiling benchmark: Slipway's health check against a static file served by nginx on the
# same machine, both with wrk -t2 -c32. Prints a Markdown table for the README.
#   bench/health.sh [duration]   (default 15s)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
duration=${1:-15s}
"$BENCH_ROOT/scripts/build" >/dev/null
bench_init

start_nginx_static
# LOG_LEVEL=debug: a passing health check is logged at debug, and the point is the cost of the
# request path of any API call, which is logged.
LOG_LEVEL=debug start_slipway
# Warm both up so first-connection costs do not count.
wrk -t2 -c32 -d2s "http://127.0.0.1:$NGINX_PORT/static.txt" >/dev/null
wrk -t2 -c32 -d2s "http://127.0.0.1:$SLIPWAY_PORT/api/__health_check" >/dev/null

read -r n_rps n_p50 n_p99 _ < <(run_wrk "http://127.0.0.1:$NGINX_PORT/static.txt" "$duration" 32)
read -r s_rps s_p50 s_p99 s_bad < <(run_wrk "http://127.0.0.1:$SLIPWAY_PORT/api/__health_check" "$duration" 32)
rss=$(rss_mb "$SLIPWAY_PID")

machine_info
echo "command: bench/health.sh $duration (wrk -t2 -c32 -d$duration --latency)"
echo
echo "| target | req/s | p50 ms | p99 ms | ratio to nginx |"
echo "|---|---:|---:|---:|---:|"
printf "| nginx 1.22 static file (ceiling) | %.0f | %s | %s | 1.00 |\n" "$n_rps" "$n_p50" "$n_p99"
printf "| slipway /api/__health_check | %.0f | %s | %s | %s |\n" "$s_rps" "$s_p50" "$s_p99" "$(ratio "$s_rps" "$n_rps")"
echo
echo "slipway: non-2xx responses $s_bad, RSS ${rss} MB, request log lines $(grep -c '"request"\| request ' "$BENCH_DIR/slipway.log" || true)"
