#!/usr/bin/env bash
# Data API benchmark: get by id (random ids), list (a random page of 20 out of 10,000 rows,
# sorted by a non-indexed integer field) and create, with wrk -t2 -c32 against a real node on
# PostgreSQL and on SQLite. In the same run, the ceiling: pgbench running the same SQL the
# server issues for each request (checked against PostgreSQL's statement log), prepared, best of
# 4, 8 and 16 clients, on the same PostgreSQL. Prints a Markdown table for the README.
#   bench/data_api.sh [duration]      (default 15s per workload)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
duration=${1:-15s}
pgbench_seconds=${PGBENCH_SECONDS:-10}
rows=10000
"$BENCH_ROOT/scripts/build" >/dev/null
bench_init

# --- PostgreSQL, durable settings (the server and pgbench share it) ---
start_bench_postgres
export PGPASSWORD=slipway
psql_q() { psql -q -X -h 127.0.0.1 -p "$pg_port" -U slipway -d slipway -v ON_ERROR_STOP=1 "$@"; }

create_collection() {  # port token
  curl -fs -X POST "http://127.0.0.1:$1/api/collections:create" -H "Authorization: Bearer $2" \
    -H 'Content-Type: application/json' -d '{"name":"bench_items","fields":[
      {"name":"title","type":"string"},{"name":"score","type":"integer"},{"name":"note","type":"text"}]}' >/dev/null
}

seed_sql() {  # the same rows on both dialects: scores are a fixed permutation, not sorted by id
  cat <<SQL
INSERT INTO bench_items (title, score, note, "createdAt", "updatedAt", "createdById", "updatedById")
SELECT 'item ' || i, (i * 7919) % $rows, 'seeded', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1, 1
FROM generate_series(1, $rows) AS s(i);
SQL
}

# Runs the three workloads against the node on $1; appends "name rps p50 p99 non2xx rss" lines.
run_workloads() {  # port pid label
  local port=$1 pid=$2 label=$3 token
  token=$(sign_in "$port")
  export BENCH_TOKEN=$token BENCH_ROWS=$rows
  for w in get list create; do
    wrk -t2 -c32 -d3s -s "$BENCH_ROOT/bench/lua/$w.lua" "http://127.0.0.1:$port" >/dev/null  # warm up
    read -r rps p50 p99 bad < <(run_wrk "http://127.0.0.1:$port" "$duration" 32 -s "$BENCH_ROOT/bench/lua/$w.lua")
    echo "$label $w $rps $p50 $p99 $bad $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status)" >>"$BENCH_DIR/results"
  done
}

start_node() {  # label env... ; sets NODE_PORT NODE_PID
  local label=$1; shift
  NODE_PORT=$(free_port)
  env "$@" STORAGE_PATH="$BENCH_DIR/storage-$label" APP_KEY=bench-key-0123456789abcdef0123456789 \
    setsid "$BENCH_ROOT/build/slipway" serve --host 127.0.0.1 --port "$NODE_PORT" >"$BENCH_DIR/slipway-$label.log" 2>&1 &
  NODE_PID=$!
  BENCH_PIDS+=($NODE_PID)
  wait_http "http://127.0.0.1:$NODE_PORT/api/__health_check" 400
}

# --- Slipway on PostgreSQL ---
start_node postgres DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT="$pg_port" DB_DATABASE=slipway \
  DB_USER=slipway DB_PASSWORD=slipway DB_POOL_MAX="${DB_POOL_MAX:-4}"
pg_node_port=$NODE_PORT pg_node_pid=$NODE_PID
token=$(sign_in "$pg_node_port")
create_collection "$pg_node_port" "$token"
seed_sql | psql_q
psql_q -c 'ANALYZE bench_items'

# The SQL the server issues, read from PostgreSQL's statement log for one request of each kind.
psql_q -c "ALTER SYSTEM SET log_statement = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
sleep 0.5
log_from=$(wc -c <"$pg_dir/postgres.log")
curl -fs "http://127.0.0.1:$pg_node_port/api/bench_items:get?filterByTk=42" -H "Authorization: Bearer $token" >/dev/null
curl -fs "http://127.0.0.1:$pg_node_port/api/bench_items:list?sort=score&pageSize=20&page=7" -H "Authorization: Bearer $token" >/dev/null
curl -fs -X POST "http://127.0.0.1:$pg_node_port/api/bench_items:create" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"title":"probe","score":1,"note":"probe"}' >/dev/null
sleep 0.5
psql_q -c 'ALTER SYSTEM RESET log_statement' -c 'SELECT pg_reload_conf()' >/dev/null
tail -c +"$((log_from + 1))" "$pg_dir/postgres.log" | grep -oE '(execute|statement)[^:]*: .*' |
  sed -E 's/^(execute|statement)[^:]*: //' | grep -vE '^(SELECT pg_reload_conf|ALTER SYSTEM|BEGIN|COMMIT|SELECT 1 FROM "users"|SELECT "token"|SELECT "roleName")' \
  >"$BENCH_DIR/server.sql"

statement() {  # pattern -> the first server statement matching it
  grep -m1 -E "$1" "$BENCH_DIR/server.sql" || { echo "bench: the server issued no statement like /$1/; see $BENCH_DIR/server.sql" >&2; exit 1; }
}
get_sql=$(statement '^SELECT .* FROM "bench_items" AS "t" WHERE "t"."id" = \$1')
count_sql=$(statement '^SELECT count\(\*\) FROM "bench_items"')
page_sql=$(statement '^SELECT .* FROM "bench_items" AS "t" ORDER BY "t"."score"')
insert_sql=$(statement '^INSERT INTO "bench_items"')

# pgbench scripts: the same statements, with the parameters the requests bind.
cat >"$BENCH_DIR/get.sql" <<SQL
\\set p1 random(1, $rows)
${get_sql//\$1/:p1};
SQL
cat >"$BENCH_DIR/list.sql" <<SQL
\\set p2 random(0, $((rows / 20 - 1))) * 20
$count_sql;
$(sed -e 's/\$1/20/' -e 's/\$2/:p2/' <<<"$page_sql");
SQL
cat >"$BENCH_DIR/create.sql" <<SQL
\\set score random(1, 1000000)
$(sed -e "s/\\\$1/'item'/" -e 's/\$2/:score/' -e "s/\\\$3/'created by pgbench'/" \
      -e "s/\\\$4/'2026-11-25T00:00:00.000Z'/" -e "s/\\\$5/'2026-11-25T00:00:00.000Z'/" \
      -e 's/\$6/1/' -e 's/\$7/1/' <<<"$insert_sql");
SQL

pgbench_best() {  # script -> best TPS over 4, 8, 16 clients
  local best=0 tps
  for c in 4 8 16; do
    tps=$(pgbench -n -f "$1" -M prepared -c "$c" -j 2 -T "$pgbench_seconds" -h 127.0.0.1 -p "$pg_port" \
            -U slipway slipway 2>/dev/null | awk '/^tps = / {print $3}')
    echo "pgbench $(basename "$1") c=$c tps=$tps" >>"$BENCH_DIR/pgbench.log"
    best=$(awk -v a="$best" -v b="${tps:-0}" 'BEGIN {print (b > a) ? b : a}')
  done
  echo "$best"
}

: >"$BENCH_DIR/results"
run_workloads "$pg_node_port" "$pg_node_pid" postgres
# The ceiling runs with the node stopped (it takes no CPU from pgbench), on the same rows the
# get and list workloads saw: the create workload's rows are removed first.
kill -TERM "$pg_node_pid"; wait "$pg_node_pid" 2>/dev/null || true
psql_q -c "DELETE FROM bench_items WHERE id > $rows" -c 'VACUUM ANALYZE bench_items'
ceiling_get=$(pgbench_best "$BENCH_DIR/get.sql")
ceiling_list=$(pgbench_best "$BENCH_DIR/list.sql")
ceiling_create=$(pgbench_best "$BENCH_DIR/create.sql")

# --- Slipway on SQLite (same collection, same rows) ---
start_node sqlite DB_POOL_MAX="${DB_POOL_MAX:-4}"
sqlite_port=$NODE_PORT sqlite_pid=$NODE_PID
create_collection "$sqlite_port" "$(sign_in "$sqlite_port")"
seed_sql | sed 's/FROM generate_series(1, '"$rows"') AS s(i)/FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < '"$rows"') SELECT i FROM s)/' |
  sqlite3 "$BENCH_DIR/storage-sqlite/db/slipway.sqlite"
run_workloads "$sqlite_port" "$sqlite_pid" sqlite

machine_info
echo "command: bench/data_api.sh $duration (wrk -t2 -c32 --latency; pgbench -M prepared -j2 -T$pgbench_seconds, best of -c 4/8/16; DB_POOL_MAX=${DB_POOL_MAX:-4}; request logging on)"
echo
echo "| dialect | workload | req/s | p50 ms | p99 ms | pgbench ceiling (same SQL) | ratio | target | non-2xx | server RSS MB (peak) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
while read -r dialect w rps p50 p99 bad rss; do
  case $w in get) ceil=$ceiling_get target=0.4 ;; list) ceil=$ceiling_list target=0.7 ;; create) ceil=$ceiling_create target=0.5 ;; esac
  if [ "$dialect" = postgres ]; then
    printf "| %s | %s | %.0f | %s | %s | %.0f | %s | %s | %s | %s |\n" "$dialect" "$w" "$rps" "$p50" "$p99" "$ceil" "$(ratio "$rps" "$ceil")" "$target" "$bad" "$rss"
  else
    printf "| %s | %s | %.0f | %s | %s | n/a | n/a | n/a | %s | %s |\n" "$dialect" "$w" "$rps" "$p50" "$p99" "$bad" "$rss"
  fi
done <"$BENCH_DIR/results"
echo
echo "statements (from PostgreSQL's log):"
printf '  get:    %s\n  list:   %s\n          %s\n  create: %s\n' "$get_sql" "$count_sql" "$page_sql" "$insert_sql"
