#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for SECONDS each, from the seed corpus,
# under libFuzzer's limits: a per-input timeout, an RSS cap and a malloc cap (an unbounded
# allocation is a finding), AddressSanitizer with leak detection. Targets run JOBS at a time
# (default: the core count), at nice 19 so that the machine stays usable.
#
#   fuzz/run-all.sh 600                 # every target, 10 minutes each
#   fuzz/run-all.sh 60 es9_http tlv     # two targets, a minute each
#
# Writes fuzz/out/<target>.log and appends one line per target to fuzz/out/summary.tsv:
# target, seconds, executions, edges covered (cov), features (ft), corpus size, result.
# Exits non-zero if any target found a crash, hang, leak or over-allocation; the input that
# did it is in fuzz/artifacts/<target>/ (reproduce: cargo fuzz run <target> <file>).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:?usage: run-all.sh SECONDS [TARGET...]}"
shift
JOBS="${JOBS:-$(nproc)}"
RSS_MB="${RSS_MB:-2048}"
TIMEOUT="${TIMEOUT:-10}"
export RUSTC_BOOTSTRAP=1

cargo fuzz build
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
python3 ../crates/rsp-asn1/tests/asn1tools/xcheck.py | python3 seed.py
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
mkdir -p out
[ -f out/summary.tsv ] || printf 'target\tseconds\texecs\tcov\tft\tcorpus\tresult\tcommit\n' > out/summary.tsv
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

run_one() {
  local t="$1" log="out/$1.log" result=ok
  mkdir -p "corpus/$t" "artifacts/$t"
  # The binary built above, run directly: a target started later in the run is the same
  # build as the first (cargo fuzz run would rebuild from whatever the tree holds then).
  # -malloc_limit_mb: one allocation larger than the RSS cap is reported, not attempted.
  if ! nice -n 19 "$bin/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
      -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" \
      -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" \
      -print_final_stats=1 >"$log" 2>&1; then
    result=FAILED
  fi
  local execs cov ft corp last
  execs="$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || true)"
  last="$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -n 1 || true)"
  cov="$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)"
  ft="$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)"
  corp="$(grep -oE 'corp: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$SECONDS_EACH" "${execs:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$result" "$commit" | tee -a out/summary.tsv
  [ "$result" = ok ]
}
export -f run_one
export SECONDS_EACH RSS_MB TIMEOUT commit bin

status=0
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} || status=1
if [ "$status" -ne 0 ]; then
  echo "run-all: a target failed; see fuzz/out/<target>.log and fuzz/artifacts/" >&2
fi
exit "$status"
