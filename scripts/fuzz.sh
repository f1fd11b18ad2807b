#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for SECONDS (default 60).
# Seeds come from the shared test files; any finding fails the run and leaves crash-* files.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
scripts/deps.sh
build=build-fuzz
CC=clang CXX=clang++ cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBANTAM_FUZZ=ON -DBANTAM_TESTS=OFF >/dev/null
targets=$(ls fuzz/fuzz_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
cmake --build $build --parallel "$(nproc)" --target $targets
shared=${BANTAM_SHARED_DIR:-../shared}
for t in $targets; do
  corpus=$build/corpus/$t
  mkdir -p "$corpus"
  seeds=fuzz/seeds/$t
  [ -d "$seeds" ] || seeds=""
  case $t in
    fuzz_gguf) extra=("$shared/models/weights" "$shared/models/synthetic" "$shared/models/adapters") ;;
    *) extra=() ;;
  esac
  echo "fuzzing $t for ${seconds}s" >&2
  log=$build/$t.log
  status=0
  "$build/bin/$t" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$build/" "$corpus" $seeds "${extra[@]}" >"$log" 2>&1 || status=$?
  grep -E "stat::number_of_executed_units|ERROR|SUMMARY|deadly" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz target $t failed (exit $status)" >&2
    exit 1
  fi
done
