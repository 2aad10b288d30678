#!/usr/bin/env bash
# Cluster benchmark, on one machine: PostgreSQL, Redis, three nodes and HAProxy (active health
# checks on /api/__health_check), started by scripts/cluster-local.
#   1. Propagation: 100 schema changes (collections:update of a title) made through node 1. The
#      call returns only when every live node has applied the change (each node's applied_epoch),
#      so its duration is the time for a change to be applied on all nodes: p50 and p99. Measured
#      twice: with Redis (the sync signal over PUBLISH/SUBSCRIBE), then on a PostgreSQL-only
#      cluster (no Redis: LISTEN/NOTIFY on the database, locks and worker ids in it).
#   2. Throughput: get and list (the data API benchmark's workloads, 10,000 rows) through HAProxy
#      with three nodes in rotation, then with one (the other two disabled through HAProxy's
#      runtime API), in the same run, on the Redis cluster.
#   bench/cluster.sh [duration]     (default 15s per workload; THROUGHPUT=0 skips part 2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
duration=${1:-15s}
changes=${CHANGES:-100}
rows=10000
"$BENCH_ROOT/scripts/build" >/dev/null
bench_init
cluster=$BENCH_DIR/cluster
trap 'for c in "$BENCH_DIR"/cluster*; do "$BENCH_ROOT/scripts/cluster-local" stop "$c" >/dev/null 2>&1 || true; done; bench_cleanup' EXIT
export PGPASSWORD=slipway
percentile() {  # p file -> milliseconds
  sort -n "$2" | awk -v p="$1" '{v[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] * 1000}'
}

# Starts a cluster in $1 (CLUSTER_REDIS as scripts/cluster-local reads it), seeds bench_items and
# makes $changes changes through node 1; appends "label p50 p99" to $BENCH_DIR/propagation.
propagation() {  # dir label
  local dir=$1 label=$2
  "$BENCH_ROOT/scripts/cluster-local" start "$dir" 3 >"$BENCH_DIR/cluster-local-$label.log"
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
  port_of() { awk -v n="$1" '$1 == n {print $2}' "$dir/ports"; }
  n1=$(port_of web-1) lb=$(port_of lb)
  token=$(sign_in "$n1")
  api() {  # port method action [body] -> body on stdout; fails on non-2xx
    curl -fsS -X "$2" "http://127.0.0.1:$1/api/$3" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' ${4:+-d "$4"}
  }
  api "$n1" POST collections:create '{"name":"bench_items","fields":[
    {"name":"title","type":"string"},{"name":"score","type":"integer"},{"name":"note","type":"text"}]}' >/dev/null
  psql -q -X -h 127.0.0.1 -p "$DB_PORT" -U slipway -d slipway -v ON_ERROR_STOP=1 <<SQL
INSERT INTO bench_items (title, score, note, "createdAt", "updatedAt", "createdById", "updatedById")
SELECT 'item ' || i, (i * 7919) % $rows, 'seeded', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1, 1
FROM generate_series(1, $rows) AS s(i);
ANALYZE bench_items;
SQL
  local times=$BENCH_DIR/changes-$label
  : >"$times"
  for i in $(seq 1 "$changes"); do
    [ -t 1 ] && printf '\rchanges (%s): %d/%d' "$label" "$i" "$changes"
    curl -fsS -o /dev/null -w '%{time_total}\n' -X POST \
      "http://127.0.0.1:$n1/api/collections:update?filterByTk=bench_items" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"title\":\"Items $i\"}" >>"$times"
  done
  [ -t 1 ] && echo
  # Each node must now show the last title (the call's own promise, checked once more here).
  for n in web-1 web-2 web-3; do
    api "$(port_of $n)" GET "collections:get?filterByTk=bench_items" | grep -q "\"Items $changes\"" ||
      { echo "bench: $n ($label) does not show the last change" >&2; exit 1; }
  done
  # Which sync bus the nodes used, as they report it.
  local bus
  bus=$(api "$n1" GET cluster:status | sed 's/.*"bus":{"backend":"\([a-z]*\)".*/\1/')
  echo "$label $bus $(percentile 50 "$times") $(percentile 99 "$times")" >>"$BENCH_DIR/propagation"
}

# --- 1. propagation: with Redis, then PostgreSQL alone ---
: >"$BENCH_DIR/propagation"
CLUSTER_REDIS=1 propagation "$cluster" redis
# --- 2. throughput through HAProxy: three nodes, then one ---
haproxy_cmd() { echo "$1" | socat stdio "unix-connect:$cluster/state/lb.sock" >/dev/null; }
export BENCH_TOKEN=$token BENCH_ROWS=$rows
: >"$BENCH_DIR/results"
run_set() {  # label
  for w in get list; do
    wrk -t2 -c32 -d3s -s "$BENCH_ROOT/bench/lua/$w.lua" "http://127.0.0.1:$lb" >/dev/null  # warm up
    read -r rps p50w p99w bad < <(run_wrk "http://127.0.0.1:$lb" "$duration" 32 -s "$BENCH_ROOT/bench/lua/$w.lua")
    echo "$1 $w $rps $p50w $p99w $bad" >>"$BENCH_DIR/results"
  done
}
if [ "${THROUGHPUT:-1}" != 0 ]; then
  run_set 3
  haproxy_cmd "disable server nodes/web-2"
  haproxy_cmd "disable server nodes/web-3"
  run_set 1
  haproxy_cmd "enable server nodes/web-2"
  haproxy_cmd "enable server nodes/web-3"
fi
"$BENCH_ROOT/scripts/cluster-local" stop "$cluster" >/dev/null
CLUSTER_REDIS=0 propagation "$BENCH_DIR/cluster-pg" postgres-only
"$BENCH_ROOT/scripts/cluster-local" stop "$BENCH_DIR/cluster-pg" >/dev/null

machine_info
echo "command: bench/cluster.sh $duration (PostgreSQL 15, Redis 7, HAProxy 2.6 roundrobin, nodes with default DB_POOL_MAX; wrk -t2 -c32 --latency through HAProxy)"
echo
echo "Change applied on all 3 nodes (collections:update through node 1, $changes changes; the call returns once every node applied it):"
echo
echo "| cluster | sync signal | p50 ms | p99 ms |"
echo "|---|---|---:|---:|"
while read -r label bus p50 p99; do
  case $label in
    redis) name="PostgreSQL + Redis" ;;
    *) name="PostgreSQL only" ;;
  esac
  case $bus in
    redis) signal="Redis PUBLISH/SUBSCRIBE" ;;
    postgres) signal="PostgreSQL LISTEN/NOTIFY" ;;
    *) signal=$bus ;;
  esac
  echo "| $name | $signal | $p50 | $p99 |"
done <"$BENCH_DIR/propagation"
echo
[ -s "$BENCH_DIR/results" ] || exit 0
echo "Throughput through HAProxy (PostgreSQL + Redis cluster):"
echo
echo "| workload | nodes behind HAProxy | req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
while read -r nodes w rps p50w p99w bad; do
  printf "| %s | %s | %.0f | %s | %s | %s |\n" "$w" "$nodes" "$rps" "$p50w" "$p99w" "$bad"
done < <(sort -k2,2 -k1,1r "$BENCH_DIR/results")
