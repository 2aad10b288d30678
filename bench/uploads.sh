#!/usr/bin/env bash
# Upload benchmark: a file streamed to attachments:create with curl (multipart, over loopback,
# into <STORAGE_PATH>/uploads, fsynced and renamed by the server) against `cp` of the same file
# to the same disk followed by `sync`: the ceiling for writing those bytes there. Also the
# server's peak resident memory (VmHWM) before and after, which must not grow with the file.
#   bench/uploads.sh [size]   (default 2G; any size head -c takes, e.g. 512M)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
size=${1:-2G}
"$BENCH_ROOT/scripts/build" slipway >/dev/null
bench_init
start_slipway
token=$(sign_in "$SLIPWAY_PORT")
api="http://127.0.0.1:$SLIPWAY_PORT/api"
curl -fs -X POST "$api/pm:update?filterByTk=file-manager" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"options":{"maxFileSize":100000000000}}' >/dev/null

src=$BENCH_DIR/source.bin
head -c "$size" /dev/urandom >"$src"
bytes=$(stat -c %s "$src")
sync

now() { date +%s.%N; }
mb_per_s() { awk -v b="$bytes" -v a="$1" -v z="$2" 'BEGIN { printf "%.0f", b / 1048576 / (z - a) }'; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

t0=$(now)
cp "$src" "$BENCH_DIR/copy.bin"
sync
t1=$(now)
cp_rate=$(mb_per_s "$t0" "$t1")
rm -f "$BENCH_DIR/copy.bin"
sync

before=$(hwm_mb "$SLIPWAY_PID")
t0=$(now)
answer=$(curl -fsS -H "Authorization: Bearer $token" -F "file=@$src" "$api/attachments:create")
t1=$(now)
after=$(hwm_mb "$SLIPWAY_PID")
up_rate=$(mb_per_s "$t0" "$t1")
grep -q "\"size\":$bytes" <<<"$answer" || { echo "bench: unexpected answer: ${answer:0:300}" >&2; exit 1; }

machine_info
echo "command: bench/uploads.sh $size (curl -F file=@... attachments:create; cp + sync)"
echo
echo "| operation | MiB/s | ratio to cp |"
echo "|---|---:|---:|"
printf "| cp + sync, same file, same disk (ceiling) | %s | 1.00 |\n" "$cp_rate"
printf "| upload to attachments:create (SQLite) | %s | %s |\n" "$up_rate" "$(ratio "$up_rate" "$cp_rate")"
echo
echo "file: $bytes bytes; slipway peak RSS (VmHWM): ${before} MB before the upload, ${after} MB after"
