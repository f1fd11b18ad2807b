#!/usr/bin/env bash
# Cross-compiles all of bantam::core (shared and static) and the quant kernel tests for aarch64
# against Debian's arm64 packages, and runs the tests under qemu-aarch64, once on a CPU model with
# dotprod and i8mm (QEMU_CPU=max), once with dotprod only (neoverse-n1) and once with neither (cortex-a57:
# scalar and neon), checking that each run detected the expected levels.
# Needs what scripts/deps.sh installs: g++-aarch64-linux-gnu, qemu-user, googletest and the arm64
# development packages of PCRE2, utf8proc and fmt.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BANTAM_AARCH64_BUILD:-$root/build-aarch64}"
jobs="${BANTAM_JOBS:-2}"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBANTAM_CORE_ONLY=ON \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" >/dev/null
cmake --build "$build" -j"$jobs" --target bantam_core bantam_core_static test_quant
machine="$(readelf -h "$build/lib/libbantam_core.so" | sed -n 's/ *Machine: *//p')"
[[ "$machine" == "AArch64" ]] || { echo "error: libbantam_core.so is built for '$machine'" >&2; exit 1; }

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
run max "scalar neon neon-dotprod neon-i8mm"
run neoverse-n1 "scalar neon neon-dotprod"
run cortex-a57 "scalar neon"
echo "aarch64: bantam::core cross-built; quant tests passed on all three CPU models"
