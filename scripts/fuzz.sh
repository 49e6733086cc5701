#!/bin/sh
# `make fuzz`: runs each libFuzzer target already built in BUILD_DIR/fuzz/ for SECONDS on a
# temporary copy of its seed corpus (tests/fuzz/corpus/<target>/), so the checked-in corpus
# never grows. Any crash, leak, sanitizer report or timeout fails, and the input is left in
# BUILD_DIR/crashes/<target>/. berth's own messages (the targets' stderr) are dropped.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS
set -eu
build=$1 seconds=$2

run_target() { # NAME
  t=$1
  corpus=$(mktemp -d) scratch=$(mktemp -d) crashes="$build/crashes/$t" log="$build/$t.log"
  mkdir -p "$crashes"
  cp -R "tests/fuzz/corpus/$t/." "$corpus/" 2>/dev/null || true
  rc=0
  TMPDIR=$scratch "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=25 \
    -print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1 ||
    rc=$?
  rm -rf "$corpus" "$scratch"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz $t: ${execs:-?} executions in $seconds s"
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz $t: failed (exit $rc), input in $crashes/"
    return 1
  fi
}

for src in tests/fuzz/fuzz_*.c; do
  t=$(basename "$src" .c)
  run_target "${t#fuzz_}"
done
