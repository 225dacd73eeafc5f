#!/usr/bin/env bash
# Issue 17's benchmark: sessions/s of one node on SQLite, one node on PostgreSQL and two nodes
# on one PostgreSQL, side by side, in one run, with `lpa load` (complete downloads over TLS on
# loopback; 50 KiB profiles, keep-alive, concurrency 64 unless told).
#
#   benches/nodes.sh [SESSIONS] [extra lpa load flags…]      from the repository root
#
# Uses DATABASE_URL (a role that may create databases) or starts a throwaway cluster with
# .ci/postgres.sh. The server CPU column is the smdp processes' (summed over nodes); the
# PostgreSQL column is the database server's own processes, on the same two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS="${1:-5000}"
shift || true
EXTRA=("$@")

cargo build --release -q -p smdp -p lpa
SMDP=target/release/smdp
LPA=target/release/lpa
WORK="$(mktemp -d /tmp/smdp-nodes.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "${STARTED_PG:-}" ] || pg_stop
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  # shellcheck source=../.ci/postgres.sh
  source .ci/postgres.sh
  pg_start
  STARTED_PG=1
fi

# CPU seconds of the PostgreSQL server's processes (the postmaster and its children).
pg_cpu() {
  local master dir
  dir="$(psql "$DATABASE_URL" -Atc 'SHOW data_directory')"
  master="$(head -n 1 "$dir/postmaster.pid" 2>/dev/null || true)"
  [ -n "$master" ] || { echo 0; return; }
  local tick; tick="$(getconf CLK_TCK)"
  # The postmaster's own time and its reaped children's (backends that exited), plus the
  # children alive now.
  {
    awk '{print $14 + $15 + $16 + $17}' "/proc/$master/stat"
    for p in $(pgrep -P "$master"); do
      awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true
    done
  } | awk -v t="$tick" '{s += $1} END {printf "%.2f", s / t}'
}

fresh_pg() {
  local name="smdp_nodes_$1"
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
  echo "${DATABASE_URL%/*}/$name"
}

# serve STORE PORT RESTPORT: one node, in the background.
serve() {
  RUST_LOG=warn "$SMDP" serve --store "$1" --listen "127.0.0.1:$2" --rest-listen "127.0.0.1:$3" \
    --address localhost:8443 >"$WORK/serve-$2.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "node on port $2 did not start:"; cat "$WORK/serve-$2.log"; exit 1
}

stop_nodes() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

# run LABEL STORE NODES: orders, nodes, lpa load; one result row.
ROWS=()
run() {
  local label="$1" store="$2" nodes="$3" connect="" c0 c1
  for i in $(seq 0 $((nodes - 1))); do
    serve "$store" $((8443 + i)) $((8080 + i))
    connect="$connect${connect:+,}127.0.0.1:$((8443 + i))"
  done
  # The orders first (smdp profile add), so the columns measure the downloads alone.
  "$SMDP" profile add --store "$store" --count "$SESSIONS" --matching-id-prefix "$label-" \
    --template minimal:50k >/dev/null
  c0="$(pg_cpu)"
  "$LPA" --json load --smdp localhost:8443 --connect "$connect" --reserve none \
    --matching-id-prefix "$label-" --sessions "$SESSIONS" --concurrency 64 \
    --profile-size 50k "${EXTRA[@]}" >"$WORK/$label.json"
  c1="$(pg_cpu)"
  stop_nodes
  ROWS+=("$(python3 - "$WORK/$label.json" "$label" "$c0" "$c1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
label, c0, c1 = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
n = max(r["ok"], 1)
pg = (c1 - c0) * 1000 / n if label != "sqlite-1-node" else None
srv = r.get("server_cpu") or {}
print("| {} | {} | {} | {:.1f} | {:.1f} | {} | {} | {:.3f} |".format(
    label, r["ok"], r["errors"], r["sessions_per_second"], r["session_latency"]["p99_ms"],
    "%.3f" % srv["ms_per_session"] if srv else "-",
    "%.3f" % pg if pg is not None else "-",
    r["client_cpu"]["ms_per_session"]))
EOF
)")
}

run sqlite-1-node "sqlite:$WORK/data" 1
run postgres-1-node "$(fresh_pg one)" 1
run postgres-2-nodes "$(fresh_pg two)" 2

echo
echo "lpa load, $SESSIONS sessions, 50 KiB profiles, C=64, keep-alive, this machine ($(nproc) cores):"
echo
echo "| store | ok | errors | sessions/s | session p99 (ms) | smdp CPU ms/session | PostgreSQL CPU ms/session | client CPU ms/session |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
