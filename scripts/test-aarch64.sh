#!/usr/bin/env bash
# Cross-compiles the quant kernels and their tests for aarch64 and runs them under qemu-aarch64,
# once on a CPU model with dotprod (QEMU_CPU=max: scalar, neon and neon-dotprod kernels) and once
# without (cortex-a57: scalar and neon), checking that each run detected the expected levels.
# Needs the Debian packages g++-aarch64-linux-gnu, qemu-user, googletest and libfmt-dev.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BANTAM_AARCH64_BUILD:-$root/build-aarch64}"
jobs="${BANTAM_JOBS:-2}"

cmake -S "$root/cmake/quant-aarch64" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" >/dev/null
cmake --build "$build" -j"$jobs" --target test_quant

run() {  # run CPU_MODEL EXPECTED_ISAS
  local cpu="$1" expected="$2" xml="$build/test_quant-$1.xml"
  echo "== qemu-aarch64 -cpu $cpu (expecting ISA levels: $expected)"
  QEMU_CPU="$cpu" qemu-aarch64 -L /usr/aarch64-linux-gnu "$build/bin/test_quant" \
    --gtest_brief=1 --gtest_output="xml:$xml"
  local listed
  # dot_test records the detected levels as property "isas" (gtest >= 1.12 XML layout).
  listed="$(sed -n 's/.*<property name="isas" value="\([^"]*\)".*/\1/p' "$xml" | head -n1)"
  if [[ "$listed" != "$expected" ]]; then
    echo "error: qemu -cpu $cpu listed ISA levels '$listed', expected '$expected'" >&2
    exit 1
  fi
}
run max "scalar neon neon-dotprod"
run cortex-a57 "scalar neon"
echo "aarch64 quant tests passed on both CPU models"
