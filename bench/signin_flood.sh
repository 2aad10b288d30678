#!/usr/bin/env bash
# Sign-in flood beside a read load: does a flood of auth:signIn (32 connections, right and
# wrong passwords) take the node's memory up or its reads down? Reads are gets by a random id
# (wrk -t1 -c16) on SQLite, measured alone and then during each kind of flood:
#   - "limited": the default limits (failed attempts per account and per address), every attempt
#     from the same client address, as one attacker;
#   - "hashing": limits lifted and addresses spread, so that every attempt costs a hash (the
#     worst case the hashing pool must absorb).
# Prints a Markdown table for the README. bench/signin_flood.sh [duration] (default 15s)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
duration=${1:-15s}
rows=1000
"$BENCH_ROOT/scripts/build" >/dev/null
bench_init

start_node() {  # label env... ; sets NODE_PORT NODE_PID
  local label=$1; shift
  NODE_PORT=$(free_port)
  env "$@" STORAGE_PATH="$BENCH_DIR/storage-$label" APP_KEY=bench-key-0123456789abcdef0123456789 \
    TRUSTED_PROXIES=127.0.0.1 setsid "$BENCH_ROOT/build/slipway" serve --host 127.0.0.1 \
    --port "$NODE_PORT" >"$BENCH_DIR/slipway-$label.log" 2>&1 &
  NODE_PID=$!
  BENCH_PIDS+=($NODE_PID)
  wait_http "http://127.0.0.1:$NODE_PORT/api/__health_check" 400
  local token
  token=$(sign_in "$NODE_PORT")
  curl -fs -X POST "http://127.0.0.1:$NODE_PORT/api/collections:create" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d '{"name":"bench_items","fields":[
      {"name":"title","type":"string"},{"name":"score","type":"integer"}]}' >/dev/null
  sqlite3 "$BENCH_DIR/storage-$label/db/slipway.sqlite" \
    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $rows)
     INSERT INTO bench_items (title, score, createdAt, updatedAt) SELECT 'item ' || i, i,
     '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM s;"
  export BENCH_TOKEN=$token BENCH_ROWS=$rows
}

# Samples VmRSS every 50 ms until told to stop; prints the peak in MB.
peak_rss() {  # pid stopfile
  local peak=0 rss
  while [ ! -e "$2" ]; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.05
  done
  awk -v k="$peak" 'BEGIN {printf "%.1f", k / 1024}'
}

# One phase: reads alone, or reads beside a flood. Prints "reads_rps p50 p99 non2xx flood_rps
# flood_statuses peak_rss".
phase() {  # label flood(yes|no) [env for the flood...]
  local label=$1 flood=$2; shift 2
  local stop=$BENCH_DIR/stop-$label
  rm -f "$stop"
  peak_rss "$NODE_PID" "$stop" >"$BENCH_DIR/peak-$label" &
  local sampler=$!
  local flood_pid=""
  if [ "$flood" = yes ]; then
    env "$@" wrk -t1 -c32 -d"$duration" -s "$BENCH_ROOT/bench/lua/signin.lua" \
      "http://127.0.0.1:$NODE_PORT" >"$BENCH_DIR/flood-$label.txt" 2>&1 &
    flood_pid=$!
    sleep 0.5
  fi
  read -r rps p50 p99 bad < <(run_wrk "http://127.0.0.1:$NODE_PORT" "$duration" 16 \
    -s "$BENCH_ROOT/bench/lua/get.lua")
  [ -n "$flood_pid" ] && wait "$flood_pid"
  touch "$stop"
  wait "$sampler"
  local frps="-"
  if [ "$flood" = yes ]; then
    frps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$BENCH_DIR/flood-$label.txt")
  fi
  echo "$rps $p50 $p99 $bad $frps $(cat "$BENCH_DIR/peak-$label")"
}

machine_info
echo "command: bench/signin_flood.sh $duration (reads: wrk -t1 -c16 get by id; flood: wrk -t1 -c32 auth:signIn, 1 in 4 with the right password)"
echo
echo "| phase | reads/s | reads p50 ms | reads p99 ms | reads non-2xx | sign-in attempts/s | node peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
start_node default
wrk -t1 -c16 -d2s -s "$BENCH_ROOT/bench/lua/get.lua" "http://127.0.0.1:$NODE_PORT" >/dev/null
read -r r p50 p99 bad _ peak < <(phase alone no)
printf "| reads alone | %.0f | %s | %s | %s | - | %s |\n" "$r" "$p50" "$p99" "$bad" "$peak"
read -r r p50 p99 bad f peak < <(phase limited yes)
printf "| reads + flood from one address, default limits | %.0f | %s | %s | %s | %s | %s |\n" "$r" "$p50" "$p99" "$bad" "$f" "$peak"
kill -TERM "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
start_node hashing AUTH_MAX_FAILURES_PER_ACCOUNT=1000000 AUTH_MAX_FAILURES_PER_ADDRESS=1000000
wrk -t1 -c16 -d2s -s "$BENCH_ROOT/bench/lua/get.lua" "http://127.0.0.1:$NODE_PORT" >/dev/null
read -r r p50 p99 bad f peak < <(phase hashing yes BENCH_SPREAD_ADDRESSES=1)
printf "| reads + flood where every attempt is hashed (limits lifted) | %.0f | %s | %s | %s | %s | %s |\n" "$r" "$p50" "$p99" "$bad" "$f" "$peak"
echo
echo "sign-in answers during the floods (status x count, from the node's request log):"
for l in default hashing; do
  echo "  $l: $(grep 'auth:signIn' "$BENCH_DIR/slipway-$l.log" | grep -o 'status=[0-9]*' | sort | uniq -c | awk '{printf "%s x%s  ", substr($2, 8), $1}')"
done
