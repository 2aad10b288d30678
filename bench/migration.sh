#!/usr/bin/env bash
# Environment migration benchmark (issue 14), on PostgreSQL:
#   development: COLLECTIONS collections (default 100) of 5 fields made through the API, ROWS rows
#   (default 1,000,000) spread over ten of them, and an `events` collection; exported with every
#   collection made through the API `overwrite` except `events` (skip);
#   production: two nodes (a cluster) on another database, with `events` of its own, written to
#   through the second node (wrk, 4 connections) while the first imports the package.
# Prints the time to export, check (the dry run) and import, the time the import held the schema
# lock (its one change), and what the writes saw meanwhile: how many, how many failed, and the
# longest any of them waited. A second import of the same package shows the cost of finding
# nothing to change.
#   bench/migration.sh          ROWS=100000 COLLECTIONS=20 bench/migration.sh for a quick run
set -euo pipefail
source "$(dirname "$0")/lib.sh"
collections=${COLLECTIONS:-100}
rows=${ROWS:-1000000}
"$BENCH_ROOT/scripts/build" slipway >/dev/null
bench_init
start_bench_postgres
export PGPASSWORD=slipway
psql_q() { psql -q -X -h 127.0.0.1 -p "$pg_port" -U slipway -v ON_ERROR_STOP=1 "$@"; }
psql_q -d slipway -c "CREATE DATABASE dev OWNER slipway" -c "CREATE DATABASE prod OWNER slipway"
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

start_node() {  # database storage node_id; sets NODE_PORT (not in a subshell: the pid is recorded)
  local port
  port=$(free_port)
  env DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT="$pg_port" DB_USER=slipway DB_PASSWORD=slipway \
    DB_DATABASE="$1" STORAGE_PATH="$2" NODE_ID="$3" APP_KEY=bench-key-0123456789abcdef0123456789 \
    setsid "$BENCH_ROOT/build/slipway" serve --host 127.0.0.1 --port "$port" >"$BENCH_DIR/$3.log" 2>&1 &
  BENCH_PIDS+=($!)
  wait_http "http://127.0.0.1:$port/api/__health_check" 600
  NODE_PORT=$port
}
call() {  # port token action json -> the response
  curl -fs -X POST "http://127.0.0.1:$1/api/$3" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' -d "$4"
}
wait_task() {  # port token task -> the task, once it ended
  local t
  while :; do
    t=$(curl -fs "http://127.0.0.1:$1/api/asyncTasks:get?filterByTk=$3" -H "Authorization: Bearer $2")
    grep -q '"state":"\(succeeded\|failed\|cancelled\)"' <<<"$t" && break
    sleep 0.1
  done
  if ! grep -q '"state":"succeeded"' <<<"$t"; then echo "bench: task failed: $t" >&2; exit 1; fi
  echo "$t"
}
field() { sed 's/.*"'"$1"'":"\{0,1\}\([^",}]*\).*/\1/' <<<"$2"; }

# --- Development ---
start_node dev "$BENCH_DIR/dev" dev
dev_port=$NODE_PORT
dev_token=$(sign_in "$dev_port")
echo "making $collections collections..." >&2
for i in $(seq 1 "$collections"); do
  call "$dev_port" "$dev_token" collections:create "{\"name\":\"c$i\",\"fields\":[
    {\"name\":\"title\",\"type\":\"string\"},{\"name\":\"amount\",\"type\":\"decimal\",\"precision\":12,\"scale\":2},
    {\"name\":\"count\",\"type\":\"integer\"},{\"name\":\"notes\",\"type\":\"text\"},{\"name\":\"at\",\"type\":\"date\"}]}" >/dev/null
done
call "$dev_port" "$dev_token" collections:create '{"name":"events","fields":[{"name":"what","type":"string"}]}' >/dev/null
per=$((rows / 10))
echo "seeding $rows rows into c1..c10..." >&2
for i in $(seq 1 10); do
  psql_q -d dev -c "INSERT INTO c$i (title, amount, count, notes, at, \"createdAt\", \"updatedAt\", \"createdById\", \"updatedById\")
    SELECT 'row ' || g, (g % 100000) / 7.0, g % 1000, md5(g::text), timestamptz '2024-01-01' + g * interval '1 minute',
      now(), now(), 1, 1 FROM generate_series(1, $per) g"
done
rules='{"userDefined":"overwrite","tables":{"events":"skip"}}'
start=$(date +%s%N)
made=$(call "$dev_port" "$dev_token" migrations:create "{\"title\":\"bench\",\"rules\":$rules}")
wait_task "$dev_port" "$dev_token" "$(field taskId "$made")" >/dev/null
end=$(date +%s%N)
export_s=$(seconds "$start" "$end")
package=$(field name "$made")
package_bytes=$(stat -c %s "$BENCH_DIR/dev/migrations/$package")

# --- Production: two nodes, events written to through the second ---
start_node prod "$BENCH_DIR/prod" n1
n1=$NODE_PORT
start_node prod "$BENCH_DIR/prod" n2
n2=$NODE_PORT
t1=$(sign_in "$n1")
call "$n1" "$t1" collections:create '{"name":"events","fields":[{"name":"what","type":"string"}]}' >/dev/null
mkdir -p "$BENCH_DIR/prod/migrations"
cp "$BENCH_DIR/dev/migrations/$package" "$BENCH_DIR/prod/migrations/"
start=$(date +%s%N)
call "$n1" "$t1" migrations:check "{\"name\":\"$package\"}" >"$BENCH_DIR/diff.json"
end=$(date +%s%N)
check_s=$(seconds "$start" "$end")
grep -q '"ok":true' "$BENCH_DIR/diff.json" || { echo "bench: refused: $(head -c 600 "$BENCH_DIR/diff.json")" >&2; exit 1; }

cat >"$BENCH_DIR/write.lua" <<LUA
request = function()
  return wrk.format("POST", "/api/events:create", {["Authorization"] = "Bearer $(sign_in "$n2")",
    ["Content-Type"] = "application/json"}, '{"what":"write during the import"}')
end
LUA
import() {  # -> "task_s change_ms"
  local s e asked task
  s=$(date +%s%N)
  asked=$(call "$n1" "$t1" migrations:execute "{\"name\":\"$package\",\"skipBackup\":true}")
  task=$(wait_task "$n1" "$t1" "$(field taskId "$asked")")
  e=$(date +%s%N)
  echo "$(seconds "$s" "$e") $(field changeMs "$task")"
}
wrk -t1 -c4 -d600s --latency -s "$BENCH_DIR/write.lua" "http://127.0.0.1:$n2" >"$BENCH_DIR/writes.txt" &
wrk_pid=$!
sleep 2
read -r import_s change_ms < <(import)
sleep 1
kill -INT "$wrk_pid"
wait "$wrk_pid" || true
writes=$(awk '/requests in/ {print $1}' "$BENCH_DIR/writes.txt")
write_p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$BENCH_DIR/writes.txt")")
write_max=$(to_ms "$(awk '/Latency/ && !/Distribution/ {print $4}' "$BENCH_DIR/writes.txt")")
write_errors=$(awk '/Non-2xx/ {print $NF}' "$BENCH_DIR/writes.txt")
read -r again_s again_change_ms < <(import)
imported=$(psql_q -d prod -At -c "SELECT sum(n) FROM (SELECT count(*) n FROM c1 UNION ALL SELECT count(*) FROM c10) x")

machine_info
echo "package: $collections collections (+ events), $rows rows, $((package_bytes / 1048576)) MiB; production: two nodes on PostgreSQL 15"
echo
echo "| step | seconds |"
echo "|---|---:|"
echo "| export (migrations:create, a development node's task) | $export_s |"
echo "| dry run (migrations:check on production) | $check_s |"
echo "| import (migrations:execute, automatic backup skipped) | $import_s |"
echo "| of which the one change under the schema lock | $(awk -v m="$change_ms" 'BEGIN { printf "%.1f", m / 1000 }') |"
echo "| the same package again (nothing to change) | $again_s |"
echo
echo "Writes to events through the other node during the first import: $writes, ${write_errors:-0} failed; p99 $write_p99 ms, the longest $write_max ms."
echo "(rows in c1 and c10 after the import: $imported)"
