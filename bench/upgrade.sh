#!/usr/bin/env bash
# The upgrade procedure's downtime (issue 15), on a database of SIZE_GB (default 1.0) GB:
# PostgreSQL and Redis here, three nodes behind HAProxy started by `slipway cluster up`, the data
# of bench/backup.sh (customers, orders, products and their links) seeded in SQL. Measured:
#   - the backup alone: `slipway backup create` by the release in place (the ceiling for the
#     procedure's own backup step);
#   - the migration alone: what the first upgraded node logs for its migrations;
#   - `slipway cluster upgrade --to slipway-next`: each step's time and the downtime seen through
#     the load balancer (first answer that is not 200 to the first 200 after it).
# Target: downtime <= backup + migration + 3 s.
#   bench/upgrade.sh          SIZE_GB=0.1 bench/upgrade.sh for a quick run
set -euo pipefail
source "$(dirname "$0")/lib.sh"
size_gb=${SIZE_GB:-1.0}
"$BENCH_ROOT/scripts/build" slipway slipway-next >/dev/null
next=$BENCH_ROOT/build/tests/slipway-next
slipway=$BENCH_ROOT/build/slipway
bench_init
start_bench_postgres
redis_port=$("$BENCH_ROOT/scripts/redis-server" start "$BENCH_DIR/redis")
spec=$BENCH_DIR/cluster.toml
trap '"$slipway" cluster --spec "$spec" down >/dev/null 2>&1 || true
      "$BENCH_ROOT/scripts/redis-server" stop "$BENCH_DIR/redis" >/dev/null 2>&1 || true
      "$BENCH_ROOT/scripts/pg-server" stop "$pg_dir" >/dev/null 2>&1 || true; bench_cleanup' EXIT
export PGPASSWORD=slipway
psql_q() { psql -q -X -h 127.0.0.1 -p "$pg_port" -U slipway -v ON_ERROR_STOP=1 "$@"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

read -r first lb < <(python3 - <<'PY'
import socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); base = s.getsockname()[1]; s.close()
    if base + 4 < 65000 and all(free(base + i) for i in range(4)):
        print(base, base + 3); break
PY
)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BENCH_DIR/app.key"
cat >"$spec" <<SPEC
[cluster]
name = "bench"
state_dir = "state"
release = "$slipway"
[env]
DB_DIALECT = "postgres"
DB_HOST = "127.0.0.1"
DB_PORT = $pg_port
DB_DATABASE = "slipway"
DB_USER = "slipway"
DB_PASSWORD = "slipway"
REDIS_URL = "redis://127.0.0.1:$redis_port"
APP_KEY_FILE = "app.key"
[storage]
path = "storage"
[[nodes]]
name = "web"
count = 3
port = $first
[load_balancer]
kind = "haproxy"
port = $lb
SPEC
"$slipway" cluster --spec "$spec" up >"$BENCH_DIR/up.log"
token=$(sign_in "$lb")
api() {
  curl -fsS -X POST "http://127.0.0.1:$lb/api/$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$2" >/dev/null
}
seed_shop_data "$size_gb"
db_bytes=$(psql_q -d slipway -At -c "SELECT pg_database_size('slipway')")
echo "database: $(mib "$db_bytes") MiB" >&2

# --- the backup alone, by the release in place, as the procedure runs it ---
env_of_spec() {
  env -i PATH="$PATH" HOME="${HOME:-/root}" DB_DIALECT=postgres DB_HOST=127.0.0.1 DB_PORT="$pg_port" \
    DB_DATABASE=slipway DB_USER=slipway DB_PASSWORD=slipway REDIS_URL="redis://127.0.0.1:$redis_port" \
    APP_KEY="$(cat "$BENCH_DIR/app.key")" STORAGE_PATH="$BENCH_DIR/storage" "$@"
}
start=$(date +%s%N)
env_of_spec "$slipway" backup create --output "$BENCH_DIR/alone.slwbak" >"$BENCH_DIR/backup-alone.log" 2>&1
end=$(date +%s%N)
backup_s=$(seconds "$start" "$end")
backup_bytes=$(stat -c %s "$BENCH_DIR/alone.slwbak")
rm -f "$BENCH_DIR/alone.slwbak"
echo "backup alone: $backup_s s ($(mib "$backup_bytes") MiB)" >&2

# --- the upgrade ---
"$slipway" cluster --spec "$spec" upgrade --to "$next" >"$BENCH_DIR/upgrade.log" 2>&1 ||
  { cat "$BENCH_DIR/upgrade.log" >&2; exit 1; }
# The migration alone: what the first upgraded node logged for its migrations.
migration_s=$(awk '/migration applied/ { for (i = 1; i <= NF; i++) if ($i ~ /^ms=/) { sub("ms=", "", $i); t += $i } }
                  END { printf "%.1f", t / 1000 }' "$BENCH_DIR/state/logs/web-1.log")
downtime_s=$(sed -n 's/^downtime seen through the load balancer: \([0-9.]*\) s.*/\1/p' "$BENCH_DIR/upgrade.log")
target_s=$(awk -v b="$backup_s" -v m="$migration_s" 'BEGIN { printf "%.1f", b + m + 3 }')

machine_info
echo "database: $(mib "$db_bytes") MiB on PostgreSQL 15, 3 nodes behind HAProxy; upgrade to $(basename "$next")"
echo
echo "| step of slipway cluster upgrade | seconds |"
echo "|---|---:|"
awk '/^  [a-z-]+ +done/ { printf "| %s | %s |\n", $1, $3 }' "$BENCH_DIR/upgrade.log"
echo
echo "| measure | seconds |"
echo "|---|---:|"
echo "| backup alone (slipway backup create, $(mib "$backup_bytes") MiB) | $backup_s |"
echo "| migration alone (the new node's migrations) | $migration_s |"
echo "| **downtime seen through HAProxy** | **$downtime_s** |"
echo "| target: backup + migration + 3 s | $target_s |"
