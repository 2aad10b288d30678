#!/usr/bin/env bash
# Lists at 10k, 100k and 1M rows (issue 16), on PostgreSQL and on SQLite, with wrk -t2 -c32
# against a real node with its default settings (DB_STATEMENT_TIMEOUT=5000: a list past it is
# a 503, counted in "errors"). For each size: page 1 in the default order, a page sorted by a
# field without an index and by one with an index (`index: true`), a range filter on each, and
# a page in the middle of the table by offset (page=N) and by cursor. Then 1,000 collections of
# five fields created one after another on PostgreSQL: the time of the first and last 20
# creates, and the node's RSS after them against its RSS after a restart with the same schema.
# Prints Markdown tables for the README.
#   bench/scale.sh [duration]     (default 5s per workload, after 1s of warm-up)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
duration=${1:-5s}
sizes=${SCALE_SIZES:-"10000 100000 1000000"}
collections=${SCALE_COLLECTIONS:-1000}
"$BENCH_ROOT/scripts/build" slipway >/dev/null
bench_init
start_bench_postgres
export PGPASSWORD=slipway
psql_q() { psql -q -X -h 127.0.0.1 -p "$pg_port" -U slipway -d slipway -v ON_ERROR_STOP=1 "$@"; }

start_node() {  # label env... ; sets NODE_PORT NODE_PID
  local label=$1; shift
  NODE_PORT=$(free_port)
  env "$@" STORAGE_PATH="$BENCH_DIR/storage-$label" APP_KEY=bench-key-0123456789abcdef0123456789 \
    setsid "$BENCH_ROOT/build/slipway" serve --host 127.0.0.1 --port "$NODE_PORT" \
    >>"$BENCH_DIR/slipway-$label.log" 2>&1 &
  NODE_PID=$!
  BENCH_PIDS+=($NODE_PID)
  wait_http "http://127.0.0.1:$NODE_PORT/api/__health_check" 600
}
stop_node() { kill -TERM "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true; }

api() {  # action json
  curl -fsS -X POST "http://127.0.0.1:$NODE_PORT/api/$1" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$2" >/dev/null
}
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
cursor_after() {  # id -> the cursor of the default order (by id) after that record
  printf '["id",%d]' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# Rows from+1..to of the same data on both dialects: score is a fixed permutation (no index),
# rank the same values (indexed).
seed_sql() {  # from to
  cat <<SQL
INSERT INTO scale_items (title, score, rank, note, "createdAt", "updatedAt", "createdById", "updatedById")
SELECT 'item ' || i, (i * 7919) % 1000003, (i * 7919) % 1000003, 'seeded row number ' || i,
  '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1, 1
FROM generate_series($1::bigint, $2::bigint) AS s(i);
SQL
}
seed() {  # dialect from to
  if [ "$1" = postgres ]; then
    seed_sql "$2" "$3" | psql_q
    psql_q -c 'ANALYZE scale_items'
  else
    { echo 'BEGIN;'; seed_sql "$2" "$3" |
        sed 's/FROM generate_series(\([0-9]*\)::bigint, \([0-9]*\)::bigint) AS s(i);/FROM (WITH RECURSIVE c(i) AS (SELECT \1 UNION ALL SELECT i + 1 FROM c WHERE i < \2) SELECT i FROM c);/'
      echo 'COMMIT;'; } | sqlite3 -cmd '.timeout 10000' "$BENCH_DIR/storage-sqlite/db/slipway.sqlite"
  fi
}

workloads() {  # dialect size
  local base="http://127.0.0.1:$NODE_PORT/api/scale_items:list?pageSize=20" size=$2 mid id
  mid=$((size / 2))
  local range_lo=400000 range_hi=$((400000 + 1000003 / size * 200))  # about 200 rows match
  echo "page1 $base"
  echo "sort_plain $base&sort=score"
  echo "sort_indexed $base&sort=rank"
  echo "range_plain $base&filter=$(urlencode "{\"score\":{\"\$gte\":$range_lo,\"\$lt\":$range_hi}}")"
  echo "range_indexed $base&filter=$(urlencode "{\"rank\":{\"\$gte\":$range_lo,\"\$lt\":$range_hi}}")"
  echo "deep_offset $base&page=$((mid / 20))"
  echo "deep_cursor $base&cursor=$(cursor_after "$mid")"
}

run_dialect() {  # dialect env...
  local dialect=$1; shift
  start_node "$dialect" "$@"
  TOKEN=$(sign_in "$NODE_PORT")
  api collections:create '{"name":"scale_items","fields":[{"name":"title","type":"string"},
    {"name":"score","type":"integer"},{"name":"rank","type":"integer","index":true},
    {"name":"note","type":"text"}]}'
  local have=0
  for size in $sizes; do
    echo "$dialect: seeding to $size rows..." >&2
    seed "$dialect" $((have + 1)) "$size"
    have=$size
    while read -r name url; do
      wrk -t2 -c32 -d1s -H "Authorization: Bearer $TOKEN" "$url" >/dev/null
      read -r rps p50 p99 bad < <(run_wrk "$url" "$duration" 32 -H "Authorization: Bearer $TOKEN")
      echo "$dialect $size $name $rps $p50 $p99 $bad" >>"$BENCH_DIR/results"
      echo "  $size $name: $rps req/s, p50 $p50 ms, errors $bad" >&2
    done < <(workloads "$dialect" "$size")
  done
  stop_node
}

machine_info
run_dialect postgres DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT="$pg_port" DB_DATABASE=slipway \
  DB_USER=slipway DB_PASSWORD=slipway
run_dialect sqlite

# --- 1,000 collections on PostgreSQL ---
psql_q -c 'DROP DATABASE IF EXISTS schema_scale' -d postgres
psql_q -c 'CREATE DATABASE schema_scale OWNER slipway' -d postgres
pg_env=(DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT="$pg_port" DB_DATABASE=schema_scale
  DB_USER=slipway DB_PASSWORD=slipway)
start_node schema "${pg_env[@]}"
TOKEN=$(sign_in "$NODE_PORT")
echo "creating $collections collections..." >&2
: >"$BENCH_DIR/creates"
for i in $(seq 1 "$collections"); do
  curl -fsS -o /dev/null -w '%{time_total}\n' -X POST "http://127.0.0.1:$NODE_PORT/api/collections:create" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"c$i\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"integer\"},
      {\"name\":\"c\",\"type\":\"text\"},{\"name\":\"d\",\"type\":\"date\"},{\"name\":\"e\",\"type\":\"boolean\"}]}" \
    >>"$BENCH_DIR/creates"
done
curl -fs -o /dev/null "http://127.0.0.1:$NODE_PORT/api/c1:list" -H "Authorization: Bearer $TOKEN"
rss_after=$(rss_mb "$NODE_PID")
stop_node
start_node schema "${pg_env[@]}"
TOKEN=$(sign_in "$NODE_PORT")
curl -fs -o /dev/null "http://127.0.0.1:$NODE_PORT/api/c1:list" -H "Authorization: Bearer $TOKEN"
rss_restart=$(rss_mb "$NODE_PID")
stop_node
first=$(head -20 "$BENCH_DIR/creates" | awk '{ s += $1 } END { printf "%.1f", s / NR * 1000 }')
last=$(tail -20 "$BENCH_DIR/creates" | awk '{ s += $1 } END { printf "%.1f", s / NR * 1000 }')

# --- Tables ---
for dialect in postgres sqlite; do
  echo
  echo "Lists on $dialect (wrk -t2 -c32, $duration each; req/s, p50 ms in brackets, errors after a slash when any):"
  echo
  echo "| rows | page 1 | sorted, no index | sorted, indexed | range, no index | range, indexed | middle page by offset | middle page by cursor |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
  for size in $sizes; do
    row="| $size"
    for name in page1 sort_plain sort_indexed range_plain range_indexed deep_offset deep_cursor; do
      cell=$(awk -v d="$dialect" -v s="$size" -v n="$name" '$1==d && $2==s && $3==n {
        printf "%.0f (%s)", $4, $5; if ($7 > 0) printf " / %d errors", $7 }' "$BENCH_DIR/results")
      row="$row | $cell"
    done
    echo "$row |"
  done
done
echo
echo "1,000 collections of five fields on PostgreSQL, created one after another:"
echo
echo "| first 20 creates | last 20 creates | ratio | RSS after the creates | RSS after a restart | ratio |"
echo "|---:|---:|---:|---:|---:|---:|"
echo "| $first ms | $last ms | $(ratio "$last" "$first") | $rss_after MB | $rss_restart MB | $(ratio "$rss_after" "$rss_restart") |"
