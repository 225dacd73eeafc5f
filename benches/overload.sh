#!/usr/bin/env bash
# Issue 18's overload measurement: throughput and error mix at 1×, 2× and 4× the server's
# capacity, then 2× followed by 1× on the same server (recovery). The load generator must not
# share the server's CPU, or it starves the server and itself alike; with one machine, the
# server runs on core 0 under a CPU quota and `lpa load` alone on core 1, so the client can
# offer several times what the server can do.
#
#   benches/overload.sh [QUOTA_PERCENT] [ARRIVAL_SECONDS]      from the repository root
#
# QUOTA_PERCENT (default 15) is the share of core 0 the server gets (a cgroup CPU quota over
# 10 ms periods; cgroup v1 or v2, so root). Capacity is measured first, closed loop; every
# run then uses `lpa load --rate` (open loop) with a new TCP and TLS connection per call (as
# lpac), `--session-timeout 10`, `--concurrency 4096`, ARRIVAL_SECONDS (default 10) of
# arrivals, 50 KiB profiles reserved beforehand, `--sqlite-synchronous normal`; SERVE_ARGS
# adds `smdp serve` flags (e.g. `--shed-lag-ms 100`), KEEP=1 keeps the logs and results.
set -euo pipefail
cd "$(dirname "$0")/.."
QUOTA="${1:-15}"
ARRIVALS="${2:-10}"
[ "$(nproc)" -ge 2 ] || { echo "overload.sh: needs two cores" >&2; exit 1; }

cargo build --release -q -p smdp -p lpa
SMDP="$PWD/target/release/smdp"
LPA="$PWD/target/release/lpa"
WORK="$(mktemp -d /tmp/smdp-overload.XXXXXX)"
SERVER=""

# The server's cgroup: QUOTA % of a 10 ms period.
if [ -d /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
  CG=/sys/fs/cgroup/cpu/smdp-overload
  mkdir -p "$CG"
  echo 10000 >"$CG/cpu.cfs_period_us"
  echo $((QUOTA * 100)) >"$CG/cpu.cfs_quota_us"
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  CG=/sys/fs/cgroup/smdp-overload
  echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  mkdir -p "$CG"
  echo "$((QUOTA * 100)) 10000" >"$CG/cpu.max"
else
  echo "overload.sh: no cgroup cpu controller" >&2; exit 1
fi

cleanup() {
  [ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true
  wait 2>/dev/null || true
  rmdir "$CG" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# serve NAME [smdp serve flags…]: a server on a fresh data folder, in the cgroup from its
# first instruction.
serve() {
  local name="$1"
  shift
  if (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null; then
    echo "overload.sh: something listens on 127.0.0.1:8443 already" >&2; exit 1
  fi
  if (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null; then
    echo "overload.sh: something listens on 127.0.0.1:8443 already" >&2; exit 1
  fi
  # shellcheck disable=SC2016
  RUST_LOG=warn,smdp_server=info sh -c 'echo $$ > "$0/cgroup.procs"; exec taskset -c 0 "$@"' \
    "$CG" "$SMDP" serve --data "$WORK/$name" --reservation-delay-ms 0 \
    --sqlite-synchronous normal "$@" ${SERVE_ARGS:-} >"$WORK/$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not start:"; cat "$WORK/$name.log"; exit 1
}

stop() {
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}

# load NAME PREFIX SESSIONS [lpa load flags…]: orders PREFIX1…, then downloads, on core 1.
load() {
  local name="$1" prefix="$2" n="$3"
  shift 3
  "$SMDP" profile add --data "$WORK/$name" --count "$n" --matching-id-prefix "$prefix" \
    --template minimal:50k >/dev/null
  taskset -c 1 "$LPA" --json load --reserve none --matching-id-prefix "$prefix" \
    --sessions "$n" --new-connection-per-call "$@"
}

open_loop() {
  local name="$1" prefix="$2" rate="$3"
  load "$name" "$prefix" $((rate * ARRIVALS)) --rate "$rate" --concurrency 4096 \
    --session-timeout 10 >"$WORK/$name-$prefix.json" || true  # non-zero: it had errors
}

# Capacity: what the server does flat out, so without shedding.
serve capacity --shed-lag-ms 0
load capacity CAP- 1500 --concurrency 64 >"$WORK/capacity.json"
stop
CAP="$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["sessions_per_second"]))' "$WORK/capacity.json")"

for m in 1 2 4; do
  serve "x$m"
  open_loop "x$m" R- $((CAP * m))
  stop
done
serve recovery
open_loop recovery A- $((CAP * 2))
open_loop recovery B- "$CAP"
stop

python3 - "$WORK" "$CAP" "$QUOTA" "$ARRIVALS" <<'EOF'
import json, sys, os
work, cap, quota, arrivals = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = json.load(open(f"{work}/capacity.json"))
print(f"\nServer: {quota} % of core 0 (cgroup quota); lpa load on core 1. Capacity, closed loop "
      f"(C = 64, new connection per call): {c['sessions_per_second']:.0f} downloads/s, "
      f"server CPU {c['server_cpu']['ms_per_session']} ms/session, "
      f"client CPU {c['client_cpu']['ms_per_session']} ms/session.\n")
def shed(log):
    text = open(f"{work}/{log}.log").read()
    return text.count("overloaded: shedding"), text.count("load back to normal")
print(f"| offered ({arrivals} s of arrivals) | downloads | ok | ok/s | errors | session p50 / p99 | shedding episodes |")
print("|---|---|---|---|---|---|---|")
def row(label, f, log):
    r = json.load(open(f"{work}/{f}.json"))
    errs = ", ".join(f"{n} {k}" for k, n in sorted(r["errors_by_kind"].items(), key=lambda kv: -kv[1])) or "none"
    lat = r["session_latency"]
    n = r["ok"] + r["errors"]
    print(f"| {label} | {n} | {r['ok']} | {r['sessions_per_second']:.0f} | {errs} | "
          f"{lat['p50_ms']:.0f} ms / {lat['p99_ms']:.0f} ms | {shed(log)[0]} |")
for m in (1, 2, 4):
    row(f"{m}×, {cap * m}/s", f"x{m}-R-", f"x{m}")
row(f"2×, {cap * 2}/s, then …", "recovery-A-", "recovery")
row(f"… 1×, {cap}/s, same server", "recovery-B-", "recovery")
EOF
