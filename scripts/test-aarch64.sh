#!/usr/bin/env bash
# Cross-compiles bantam's engine for aarch64 (BANTAM_ENGINE_ONLY: bantam::core shared and static,
# bantam::eval and the `bantam` CLI with the engine's commands) against Debian's arm64 packages,
# with the quant kernel tests and the numerics contract's tests, and runs them under qemu-aarch64
# on three CPU models: max (dotprod and i8mm), neoverse-n1 (dotprod only) and cortex-a57 (neither:
# scalar and neon).
#  - kernel tests (test_quant) on all three, checking that each detected the expected ISA levels;
#  - the numerics contract's tests (test_numerics: float64 reference decoder; test_kl_contract:
#    ref/kld.json; test_generation_reference: ref/generation.json) on max and cortex-a57, in the
#    scope BANTAM_AARCH64_NUMERICS names (under qemu they run about 50x slower than natively, so
#    all of them take over an hour of CPU):
#      quick (default, CI)  on max: the reference decoder on stories260K (F32) and synth-qwen2-f16,
#                           KL on the three stories260K quantizations and synth-qwen2-Q4_K_M, every
#                           greedy regression entry; on cortex-a57 (the fallback levels): the
#                           reference decoder on stories260K, KL on stories260K-Q4_0, the greedy
#                           entries of stories260K. Bars unchanged, fewer files; the filters are
#                           printed.
#      full                 every test on both;
#  - the CLI (scripts/test-aarch64-cli.sh: help, run, perplexity and bench against the shared
#    references) on max and cortex-a57.
# Each stage prints its wall time. Needs what scripts/deps.sh installs: g++-aarch64-linux-gnu,
# qemu-user, googletest, CLI11 and the arm64 development packages of PCRE2, utf8proc and fmt.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BANTAM_AARCH64_BUILD:-$root/build-aarch64}"
jobs="${BANTAM_JOBS:-2}"
numerics_scope="${BANTAM_AARCH64_NUMERICS:-quick}"
case "$numerics_scope" in
  full | quick) ;;
  *) echo "error: BANTAM_AARCH64_NUMERICS is '$numerics_scope'; use quick or full" >&2; exit 1 ;;
esac

stage() {  # stage NAME COMMAND...: runs the command and prints its wall time
  local name="$1" start=$SECONDS
  shift
  echo "== $name"
  "$@"
  echo "   ($name: $((SECONDS - start)) s)"
}

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBANTAM_ENGINE_ONLY=ON \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" >/dev/null
stage "cross build" cmake --build "$build" -j"$jobs" --target bantam_core bantam_core_static bantam_cli \
  test_quant test_numerics test_kl_contract test_generation_reference
for binary in lib/libbantam_core.so bin/bantam; do
  machine="$(readelf -h "$build/$binary" | sed -n 's/ *Machine: *//p')"
  [[ "$machine" == "AArch64" ]] || { echo "error: $binary is built for '$machine'" >&2; exit 1; }
done

kernel_tests() {  # kernel_tests CPU_MODEL EXPECTED_ISAS
  local cpu="$1" expected="$2" xml="$build/test_quant-$1.xml"
  QEMU_CPU="$cpu" qemu-aarch64 -L / "$build/bin/test_quant" \
    --gtest_brief=1 --gtest_output="xml:$xml"
  local listed
  # dot_test records the detected levels as property "isas" (gtest >= 1.12 XML layout).
  listed="$(sed -n 's/.*<property name="isas" value="\([^"]*\)".*/\1/p' "$xml" | head -n1)"
  if [[ "$listed" != "$expected" ]]; then
    echo "error: qemu -cpu $cpu listed ISA levels '$listed', expected '$expected'" >&2
    exit 1
  fi
}

# One test executable as two gtest shards side by side, each pinned to one core (so the engine
# sees one core and runs single-threaded: a thread pool spinning against a second thread on a
# shared core is slow under emulation); the output of a failing shard is printed.
sharded_tests() {  # sharded_tests CPU_MODEL EXECUTABLE GTEST_FILTER
  local cpu="$1" executable="$2" filter="$3" pids=() shard failed=0
  echo "   gtest filter: $filter"
  for shard in 0 1; do
    QEMU_CPU="$cpu" GTEST_TOTAL_SHARDS=2 GTEST_SHARD_INDEX=$shard taskset -c "$((shard % $(nproc)))" \
      qemu-aarch64 -L / "$build/bin/$executable" --gtest_brief=1 --gtest_filter="$filter" \
      >"$build/$executable-$cpu-$shard.log" 2>&1 &
    pids+=($!)
  done
  for shard in 0 1; do
    if ! wait "${pids[$shard]}"; then
      cat "$build/$executable-$cpu-$shard.log"
      failed=1
    fi
  done
  if ((failed)); then
    echo "error: $executable failed under qemu -cpu $cpu (logs: $build/$executable-$cpu-*.log)" >&2
    exit 1
  fi
  grep -h "PASSED\|\[ kld \]\|\[ diverged \]" "$build/$executable-$cpu-"{0,1}.log || true
}

numerics() {  # numerics CPU_MODEL REFERENCE_FILTER KL_FILTER GENERATION_FILTER
  local cpu="$1"
  stage "test_numerics on qemu -cpu $cpu ($numerics_scope)" sharded_tests "$cpu" test_numerics "$2"
  stage "test_kl_contract on qemu -cpu $cpu ($numerics_scope)" sharded_tests "$cpu" test_kl_contract "$3"
  stage "test_generation_reference on qemu -cpu $cpu ($numerics_scope)" sharded_tests "$cpu" \
    test_generation_reference "$4"
}

stage "kernel tests on qemu -cpu max" kernel_tests max "scalar neon neon-dotprod neon-i8mm"
stage "kernel tests on qemu -cpu neoverse-n1" kernel_tests neoverse-n1 "scalar neon neon-dotprod"
stage "kernel tests on qemu -cpu cortex-a57" kernel_tests cortex-a57 "scalar neon"
if [[ "$numerics_scope" == full ]]; then
  numerics max "*" "*" "*"
  numerics cortex-a57 "*" "*" "*"
else
  numerics max "*/stories260K:*/synth_qwen2_f16" "*/stories260K_*:*/synth_qwen2_Q4_K_M:KlContractPairs.*" "*"
  numerics cortex-a57 "*/stories260K" "*/stories260K_Q4_0" "*/stories260K_*"
fi
stage "CLI on qemu -cpu max" "$root/scripts/test-aarch64-cli.sh" "$build" max neon-i8mm
stage "CLI on qemu -cpu cortex-a57" "$root/scripts/test-aarch64-cli.sh" "$build" cortex-a57 neon
echo "aarch64: engine cross-built; kernel tests, numerics ($numerics_scope) and CLI passed under qemu"
