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
