#!/usr/bin/env bash
# No outage during plugin changes: wrk -t2 -c32 reads an unrelated collection's list while the
# example plugin (hello, which also pulls in audit-log) is enabled and disabled in a loop, on
# SQLite and on PostgreSQL. Prints requests, non-2xx responses, latency and how long each
# enable/disable took.
#   bench/plugin_toggle.sh [duration]   (default 20s per dialect)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
duration=${1:-20s}
seconds=${duration%s}
"$BENCH_ROOT/scripts/build" >/dev/null
bench_init
start_bench_postgres

call() {  # method path [body]
  curl -fs -X "$1" "http://127.0.0.1:$PORT/api/$2" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' ${3:+-d "$3"}
}

run_dialect() {  # label env...
  local label=$1; shift
  PORT=$(free_port)
  env "$@" STORAGE_PATH="$BENCH_DIR/storage-$label" APP_KEY=bench-key-0123456789abcdef0123456789 \
    setsid "$BENCH_ROOT/build/slipway" serve --host 127.0.0.1 --port "$PORT" >"$BENCH_DIR/slipway-$label.log" 2>&1 &
  local pid=$!
  BENCH_PIDS+=($pid)
  wait_http "http://127.0.0.1:$PORT/api/__health_check" 400
  TOKEN=$(sign_in "$PORT")
  call POST collections:create '{"name":"orders","fields":[{"name":"total","type":"integer"}]}' >/dev/null
  for i in $(seq 1 50); do call POST orders:create "{\"total\":$i}" >/dev/null; done
  curl -sf -X POST "http://127.0.0.1:$PORT/api/pm:add" -H "Authorization: Bearer $TOKEN" \
    -F "file=@$BENCH_ROOT/build/plugins/hello-1.0.0.tgz" >/dev/null
  export BENCH_TOKEN=$TOKEN
  wrk -t2 -c32 -d"$duration" --latency -s "$BENCH_ROOT/bench/lua/orders_list.lua" "http://127.0.0.1:$PORT" \
    >"$BENCH_DIR/wrk-$label.txt" &
  local wrk_pid=$!
  sleep 1
  : >"$BENCH_DIR/toggles-$label"
  local deadline=$((SECONDS + seconds - 2)) n=0
  while [ $SECONDS -lt $deadline ]; do
    for action in enable disable; do
      local t0 t1
      t0=$(date +%s%N)
      call POST "pm:$action?filterByTk=hello" >/dev/null
      t1=$(date +%s%N)
      echo $(( (t1 - t0) / 1000000 )) >>"$BENCH_DIR/toggles-$label"
    done
    n=$((n + 1))
    sleep 0.2
  done
  wait $wrk_pid
  local out rps p99 non2xx total
  out=$(cat "$BENCH_DIR/wrk-$label.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  local t50 t99
  t50=$(sort -n "$BENCH_DIR/toggles-$label" | awk '{a[NR]=$1} END {print a[int(NR*0.5)+1]}')
  t99=$(sort -n "$BENCH_DIR/toggles-$label" | awk '{a[NR]=$1} END {print a[int(NR*0.99)+1]}')
  printf "| %s | %s | %s | %.0f | %s | %s | %s | %s ms / %s ms |\n" "$label" "$duration" "$total" "$rps" \
    "${non2xx:-0}" "$p99" "$n" "$t50" "$t99"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

machine_info
echo "command: bench/plugin_toggle.sh $duration (wrk -t2 -c32 on orders:list while hello is enabled and disabled in a loop)"
echo
echo "| dialect | duration | requests | req/s | non-2xx | p99 ms | enable+disable cycles | toggle p50 / p99 |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
run_dialect sqlite
run_dialect postgres DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT="$pg_port" DB_DATABASE=slipway \
  DB_USER=slipway DB_PASSWORD=slipway
