#!/usr/bin/env bash
# Backup and restore benchmark (issue 13): a PostgreSQL database of about SIZE_GB (default 1)
# made through Slipway (customers with a unique email, orders belonging to them, products linked
# to orders through a join table; every relation indexed), then in the same run:
#   - pg_dump -Fc (the ceiling for the backup) and `slipway backup create`: time and size;
#   - pg_restore with one job and with -j 2, and `slipway backup restore` into a fresh install:
#     time;
#   - the p99 of reads (get by id, wrk -t2 -c8) without a backup (the median of three
#     10-second windows), while one runs, and while pg_dump -Fc runs.
# Prints a Markdown table for the README.
#   bench/backup.sh            SIZE_GB=0.1 bench/backup.sh for a quick run
set -euo pipefail
shopt -s inherit_errexit  # a failed backup inside $(...) ends the bench
source "$(dirname "$0")/lib.sh"
size_gb=${SIZE_GB:-1}
"$BENCH_ROOT/scripts/build" slipway >/dev/null
bench_init
start_bench_postgres
export PGPASSWORD=slipway
psql_q() { psql -q -X -h 127.0.0.1 -p "$pg_port" -U slipway -v ON_ERROR_STOP=1 "$@"; }
pg_env=(DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT="$pg_port" DB_USER=slipway DB_PASSWORD=slipway
  APP_KEY=bench-key-0123456789abcdef0123456789)
slipway_cli() {  # database storage args...
  local db=$1 storage=$2; shift 2
  env "${pg_env[@]}" DB_DATABASE="$db" STORAGE_PATH="$storage" "$BENCH_ROOT/build/slipway" "$@"
}
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

# --- The source: a node on database "slipway", collections made through the API ---
NODE_PORT=$(free_port)
env "${pg_env[@]}" DB_DATABASE=slipway STORAGE_PATH="$BENCH_DIR/storage" \
  setsid "$BENCH_ROOT/build/slipway" serve --host 127.0.0.1 --port "$NODE_PORT" >"$BENCH_DIR/slipway.log" 2>&1 &
NODE_PID=$!
BENCH_PIDS+=($NODE_PID)
wait_http "http://127.0.0.1:$NODE_PORT/api/__health_check" 400
token=$(sign_in "$NODE_PORT")
api() {  # action json
  curl -fs -X POST "http://127.0.0.1:$NODE_PORT/api/$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$2" >/dev/null
}
seed_shop_data "$size_gb"
db_bytes=$(psql_q -d slipway -At -c "SELECT pg_database_size('slipway')")
echo "database: $(mib "$db_bytes") MiB" >&2

# --- Reads alone, then during a backup (get by id, 8 connections) ---
export BENCH_TOKEN=$token BENCH_ROWS=$customers
read_url="http://127.0.0.1:$NODE_PORT"
cat >"$BENCH_DIR/get.lua" <<'LUA'
local token = os.getenv("BENCH_TOKEN")
local rows = tonumber(os.getenv("BENCH_ROWS"))
request = function()
  return wrk.format("GET", "/api/customers:get?filterByTk=" .. math.random(1, rows), {["Authorization"] = "Bearer " .. token})
end
LUA
# The same reads paced (each connection waits 5 ms between requests: a service with headroom,
# not one already saturated by the load generator).
sed 's/^request = function()/function delay() return 5 end\nrequest = function()/' "$BENCH_DIR/get.lua" >"$BENCH_DIR/paced.lua"
wrk -t2 -c8 -d3s -s "$BENCH_DIR/get.lua" "$read_url" >/dev/null
# The p99 without a backup moves from one 10-second window to the next (1.9 to 6.2 ms saturated
# in three runs): the median of three windows, each printed, is the figure compared against.
quiet_reads() {  # script -> "rps p99" of the median window by p99; the windows go to stderr
  local rps p99 lines=()
  for _ in 1 2 3; do
    read -r rps _ p99 _ < <(run_wrk "$read_url" 10s 8 -s "$1")
    lines+=("$p99 $rps")
  done
  echo "reads without a backup ($(basename "$1")), p99 ms and req/s of each window: ${lines[*]}" >&2
  printf '%s\n' "${lines[@]}" | sort -n | sed -n 2p | awk '{print $2, $1}'
}
read -r quiet_rps quiet_p99 < <(quiet_reads "$BENCH_DIR/get.lua")
read -r paced_rps paced_p99 < <(quiet_reads "$BENCH_DIR/paced.lua")

# --- Slipway backups through the API (the node's task runner): alone, then while wrk reads ---
auth=(-H "Authorization: Bearer $token")
# The task is polled twice a second (each poll starts curl, grep and sed: CPU that the backup,
# at the lowest weight, and the reads measured beside it would share); the backup's time is the
# task's own, from its creation to its end, as the task table records them.
api_backup() {  # -> "name seconds" of the archive, once the task succeeded
  local made name task status created finished
  made=$(curl -fs -X POST "$read_url/api/backups:create" "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"enableFilesBackup":false}')
  name=$(sed 's/.*"name":"\([^"]*\)".*/\1/' <<<"$made")
  task=$(sed 's/.*"taskId":"\([^"]*\)".*/\1/' <<<"$made")
  while :; do
    sleep 0.5
    status=$(curl -fs "$read_url/api/asyncTasks:get?filterByTk=$task" "${auth[@]}")
    grep -q '"state":"\(queued\|running\)"' <<<"$status" || break
  done
  if ! grep -q '"state":"succeeded"' <<<"$status"; then echo "bench: the backup failed: $status" >&2; exit 1; fi
  created=$(sed 's/.*"createdAt":\([0-9]*\).*/\1/' <<<"$status")
  finished=$(sed 's/.*"finishedAt":\([0-9]*\).*/\1/' <<<"$status")
  echo "$name $(awk -v a="$created" -v b="$finished" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
}
made=$(api_backup)
read -r name slipway_backup_s <<<"$made"
mv "$BENCH_DIR/storage/backups/$name" "$BENCH_DIR/b.slwbak"
during_backup() {  # script -> "rps p99 seconds" of reads with that script while a backup runs
  local made name seconds rps p99
  run_wrk "$read_url" 600s 8 -s "$1" >"$BENCH_DIR/busy" &
  local wrk_pid=$!
  made=$(api_backup)
  read -r name seconds <<<"$made"
  pkill -INT -f "wrk -t2 -c8 -d600s" 2>/dev/null || true
  wait "$wrk_pid" 2>/dev/null || true
  rm -f "$BENCH_DIR/storage/backups/$name"
  read -r rps _ p99 _ <"$BENCH_DIR/busy" || true
  echo "$rps $p99 $seconds"
}
# The ceiling's own effect on the same reads: pg_dump -Fc run as an operator runs it, from a
# shell of its own (a session of its own: in this script's it would share wrk's CPU share).
during_pg_dump() {  # script -> "rps p99" of reads with that script while pg_dump -Fc runs
  local rps p99
  run_wrk "$read_url" 600s 8 -s "$1" >"$BENCH_DIR/busy" &
  local wrk_pid=$!
  sleep 0.5
  setsid -w pg_dump -Fc -h 127.0.0.1 -p "$pg_port" -U slipway -d slipway -f "$BENCH_DIR/during.fc"
  pkill -INT -f "wrk -t2 -c8 -d600s" 2>/dev/null || true
  wait "$wrk_pid" 2>/dev/null || true
  rm -f "$BENCH_DIR/during.fc"
  read -r rps _ p99 _ <"$BENCH_DIR/busy" || true
  echo "$rps $p99"
}
read -r dump_busy_rps dump_busy_p99 < <(during_pg_dump "$BENCH_DIR/get.lua")
read -r dump_paced_rps dump_paced_p99 < <(during_pg_dump "$BENCH_DIR/paced.lua")
busy=$(during_backup "$BENCH_DIR/get.lua")
read -r busy_rps busy_p99 busy_backup_s <<<"$busy"
busy=$(during_backup "$BENCH_DIR/paced.lua")
read -r paced_busy_rps paced_busy_p99 paced_backup_s <<<"$busy"
slipway_bytes=$(stat -c %s "$BENCH_DIR/b.slwbak")
kill -TERM "$NODE_PID"
wait "$NODE_PID" 2>/dev/null || true

# --- pg_dump -Fc ---
start=$(date +%s%N)
pg_dump -Fc -h 127.0.0.1 -p "$pg_port" -U slipway -d slipway -f "$BENCH_DIR/dump.fc"
end=$(date +%s%N)
pg_dump_s=$(seconds "$start" "$end")
pg_dump_bytes=$(stat -c %s "$BENCH_DIR/dump.fc")

# --- pg_restore, one job and two ---
restore_db() {  # name jobs
  psql_q -d slipway -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1 OWNER slipway"
  local s e
  s=$(date +%s%N)
  pg_restore -h 127.0.0.1 -p "$pg_port" -U slipway -d "$1" -j "$2" "$BENCH_DIR/dump.fc"
  e=$(date +%s%N)
  seconds "$s" "$e"
}
pg_restore1_s=$(restore_db r1 1)
pg_restore2_s=$(restore_db r2 2)
psql_q -d slipway -c "DROP DATABASE r1" -c "DROP DATABASE r2"

# --- Slipway restore into a fresh install ---
psql_q -d slipway -c "CREATE DATABASE target OWNER slipway"
slipway_cli target "$BENCH_DIR/target" install >/dev/null 2>&1
start=$(date +%s%N)
slipway_cli target "$BENCH_DIR/target" backup restore --no-safety-backup "$BENCH_DIR/b.slwbak" 2>"$BENCH_DIR/restore.log"
end=$(date +%s%N)
slipway_restore_s=$(seconds "$start" "$end")
restored=$(psql_q -d target -At -c "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders) + (SELECT count(*) FROM \"ordersProducts\")")

machine_info
echo "database: $(mib "$db_bytes") MiB on PostgreSQL 15; $restored rows restored"
echo
echo "| operation | seconds | size MiB | ratio |"
echo "|---|---:|---:|---:|"
echo "| pg_dump -Fc (ceiling) | $pg_dump_s | $(mib "$pg_dump_bytes") | 1.00 |"
echo "| slipway backups:create | $slipway_backup_s | $(mib "$slipway_bytes") | $(ratio "$pg_dump_s" "$slipway_backup_s") faster, size $(ratio "$slipway_bytes" "$pg_dump_bytes") |"
echo "| pg_restore -j 1 | $pg_restore1_s | | |"
echo "| pg_restore -j 2 (ceiling) | $pg_restore2_s | | 1.00 |"
echo "| slipway backup restore | $slipway_restore_s | | $(ratio "$pg_restore2_s" "$slipway_restore_s") of -j 2's speed |"
echo
echo
echo "| reads (get by id, wrk -t2 -c8) | alone req/s | p99 ms | during a backup req/s | p99 ms | p99 ratio | backup s | during pg_dump -Fc req/s | p99 ms | p99 ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| as fast as they go | $quiet_rps | $quiet_p99 | $busy_rps | $busy_p99 | $(ratio "$busy_p99" "$quiet_p99") | $busy_backup_s | $dump_busy_rps | $dump_busy_p99 | $(ratio "$dump_busy_p99" "$quiet_p99") |"
echo "| paced (5 ms between requests) | $paced_rps | $paced_p99 | $paced_busy_rps | $paced_busy_p99 | $(ratio "$paced_busy_p99" "$paced_p99") | $paced_backup_s | $dump_paced_rps | $dump_paced_p99 | $(ratio "$dump_paced_p99" "$paced_p99") |"
