# Shared helpers for Slipway's benchmarks (sourced, not run). Every server is started on
# 127.0.0.1 with a free port and stopped by the PID recorded here.
#
# Servers (Slipway, nginx) start in a session of their own (setsid), as a service would. The
# kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled is 1 here) shares the
# CPUs between sessions first, and every PostgreSQL backend starts a session of its own; a server
# left in this script's session would share its part with wrk, the load generator.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_PIDS=()

bench_cleanup() {
  for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${BENCH_DIR:-}" ] && [ -z "${KEEP_BENCH_DIR:-}" ] && rm -rf "$BENCH_DIR"
}

bench_init() {
  BENCH_DIR=$(mktemp -d /tmp/slipway-bench.XXXXXX)
  chmod 755 "$BENCH_DIR"
  trap bench_cleanup EXIT
}

# Starts a PostgreSQL server (scripts/pg-server) in $BENCH_DIR/pg; sets pg_dir and pg_port and
# stops it on exit, before bench_cleanup.
start_bench_postgres() {
  pg_dir=$BENCH_DIR/pg
  mkdir -p "$pg_dir"
  pg_port=$("$BENCH_ROOT/scripts/pg-server" start "$pg_dir")
  trap '"$BENCH_ROOT/scripts/pg-server" stop "$pg_dir" >/dev/null 2>&1 || true; bench_cleanup' EXIT
}

sign_in() {  # port -> a token of the first administrator (the default credentials)
  curl -fs -X POST "http://127.0.0.1:$1/api/auth:signIn" -H 'X-Authenticator: basic' \
    -H 'Content-Type: application/json' -d '{"account":"admin@nocobase.com","password":"admin123"}' |
    sed 's/.*"token":"\([^"]*\)".*/\1/'
}

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
    shuf -i 20000-60000 -n 1
}

machine_info() {
  local cpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
  echo "machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
}

wait_http() {  # url [tries]
  local url=$1 tries=${2:-200}
  for _ in $(seq 1 "$tries"); do
    curl -fs -o /dev/null "$url" && return 0
    sleep 0.05
  done
  echo "bench: $url did not come up" >&2
  return 1
}

# Starts nginx serving a 3-byte static file; sets NGINX_PORT.
start_nginx_static() {
  local d=$BENCH_DIR/nginx
  mkdir -p "$d/conf" "$d/html" "$d/logs"
  printf 'ok\n' >"$d/html/static.txt"
  NGINX_PORT=$(free_port)
  cat >"$d/conf/nginx.conf" <<CONF
worker_processes auto;
pid $d/nginx.pid;
error_log $d/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d/client_body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { root $d/html; }
  }
}
CONF
  setsid nginx -p "$d/" -c conf/nginx.conf -e "$d/logs/error.log" -g 'daemon off;' &
  BENCH_PIDS+=($!)
  wait_http "http://127.0.0.1:$NGINX_PORT/static.txt"
}

# Starts `slipway serve` on SQLite in the bench directory; sets SLIPWAY_PORT and SLIPWAY_PID.
start_slipway() {
  SLIPWAY_PORT=$(free_port)
  STORAGE_PATH=$BENCH_DIR/storage setsid "$BENCH_ROOT/build/slipway" serve --host 127.0.0.1 \
    --port "$SLIPWAY_PORT" "$@" >"$BENCH_DIR/slipway.log" 2>&1 &
  SLIPWAY_PID=$!
  BENCH_PIDS+=($SLIPWAY_PID)
  wait_http "http://127.0.0.1:$SLIPWAY_PORT/api/__health_check"
}

rss_mb() {  # pid
  awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"
}

# Runs wrk and prints "req_per_s p50_ms p99_ms non2xx". Extra args go to wrk (e.g. -s script).
run_wrk() {  # url duration connections [wrk args...]
  local url=$1 duration=$2 conns=$3; shift 3
  local out
  out=$(wrk -t2 -c"$conns" -d"$duration" --latency "$@" "$url")
  echo "$out" >>"$BENCH_DIR/wrk.log"
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") ${non2xx:-0}"
}

to_ms() {  # wrk latency like 812.00us, 3.90ms, 1.02s
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
    else printf "%s", v }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# The data of the backup and upgrade benchmarks, about SIZE_GB (the argument) GB on PostgreSQL:
# customers (a unique email), orders belonging to them, products linked to orders through a join
# table; the collections made through the API (the caller's `api ACTION JSON`), the rows in SQL
# (the caller's `psql_q`).
seed_shop_data() {  # size_gb
  local size_gb=$1
  api collections:create '{"name":"customers","fields":[{"name":"name","type":"string"},
    {"name":"email","type":"string","unique":true},{"name":"city","type":"string"},
    {"name":"score","type":"integer"},{"name":"notes","type":"text"},{"name":"meta","type":"json"},
    {"name":"joined","type":"date"}]}'
  api collections:create '{"name":"products","fields":[{"name":"title","type":"string"},
    {"name":"price","type":"decimal","precision":12,"scale":2}]}'
  api collections:create '{"name":"orders","fields":[{"name":"customer","type":"belongsTo","target":"customers"},
    {"name":"amount","type":"decimal","precision":12,"scale":2},{"name":"status","type":"string"},
    {"name":"placed","type":"date"},{"name":"lines","type":"json"},
    {"name":"products","type":"belongsToMany","target":"products"}]}'

  # About 1 GB per 1.0: a customer row is ~420 bytes with its indexes, an order ~330, a link ~90.
  customers=$(awk -v s="$size_gb" 'BEGIN { printf "%d", s * 1000000 }')
  orders=$((customers * 2))
  products=10000
  echo "seeding $customers customers, $orders orders, $((orders * 2)) links..." >&2
  psql_q -d slipway <<SQL
INSERT INTO customers (name, email, city, score, notes, meta, joined, "createdAt", "updatedAt", "createdById", "updatedById")
SELECT 'Customer ' || i, 'c' || i || '@example.com', (ARRAY['Berlin','Lyon','Porto','Oslo','Turin'])[1 + i % 5],
  (i::bigint * 7919) % 100000, md5(i::text) || ' ' || md5((i * 3)::text) || ' ' || md5((i * 7)::text),
  json_build_object('tier', i % 4, 'tags', json_build_array('t' || i % 13, 't' || i % 17), 'ref', md5(i::text)),
  timestamptz '2020-01-01' + (i % 2000) * interval '1 day', now(), now(), 1, 1
FROM generate_series(1, $customers) i;
INSERT INTO products (title, price, "createdAt", "updatedAt", "createdById", "updatedById")
SELECT 'Product ' || i, (i % 9000) / 7.0, now(), now(), 1, 1 FROM generate_series(1, $products) i;
INSERT INTO orders ("customerId", amount, status, placed, lines, "createdAt", "updatedAt", "createdById", "updatedById")
SELECT 1 + (i * 31) % $customers, (i % 100000) / 3.0, (ARRAY['new','paid','shipped','returned'])[1 + i % 4],
  timestamptz '2021-01-01' + (i % 1500) * interval '1 hour',
  json_build_array(json_build_object('sku', md5(i::text), 'qty', i % 7)), now(), now(), 1, 1
FROM generate_series(1, $orders) i;
INSERT INTO "ordersProducts" ("orderId", "productId")
SELECT o, 1 + (o * 7 + k) % $products FROM generate_series(1, $orders) o, (VALUES (0), (5000)) v(k);
VACUUM ANALYZE;
SQL
}
