#!/usr/bin/env bash
# Static speed estimates (llvm-mca-19) of bantam's aarch64 kernels against llama.cpp's, per core.
#   scripts/arm-mca.sh [--json] [--keep DIR] LLAMA_CPP_SOURCE_DIR
# Compiles bantam's src/quant/kernels_neon*.cpp and int8_gemm_neon*.cpp and llama.cpp's ARM
# kernels (ggml-cpu/arch/arm/quants.c, repack.cpp, ggml-cpu/vec.cpp) with one compiler, clang-19
# --target=aarch64-linux-gnu -O3, once per instruction-set level, then scripts/arm_mca.py finds
# each listed kernel's hot loop and runs llvm-mca-19 on it. Prints a markdown table (or JSON) of
# cycles per 256 weight x token MACs. The kernels and cores are listed in scripts/arm_mca.py.
# Needs llvm-19 and clang-19 (scripts/deps.sh --mca); llama.cpp's tree is only read.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

json="" keep=""
while (($#)); do
  case "$1" in
    --json) json="--json"; shift ;;
    --keep) keep="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
if (($# != 1)); then
  echo "usage: scripts/arm-mca.sh [--json] [--keep DIR] LLAMA_CPP_SOURCE_DIR" >&2
  exit 2
fi
llama="$(cd "$1" && pwd)"
ggml_cpu="$llama/ggml/src/ggml-cpu"
[ -f "$ggml_cpu/arch/arm/quants.c" ] || { echo "arm-mca: $ggml_cpu/arch/arm/quants.c not found: not a llama.cpp tree" >&2; exit 2; }

for tool in clang-19 llvm-mca-19 llvm-mc-19 llvm-cxxfilt-19 python3; do
  command -v "$tool" >/dev/null || { echo "arm-mca: $tool missing: install llvm-19 and clang-19 (scripts/deps.sh --mca)" >&2; exit 2; }
done

work="${keep:-$(mktemp -d)}"
mkdir -p "$work"
[ -n "$keep" ] || trap 'rm -rf "$work"' EXIT

# The -march of each level comes from arm_mca.py's LEVELS, so the two never disagree.
levels="$(python3 -c "import sys; sys.path.insert(0, '$here'); import arm_mca; print(' '.join(f'{k}={v}' for k, v in arm_mca.LEVELS.items()))")"
bantam_sources=("$root"/src/quant/kernels_neon*.cpp)
shopt -s nullglob
bantam_sources+=("$root"/src/quant/int8_gemm_neon*.cpp)
shopt -u nullglob
common=(--target=aarch64-linux-gnu -O3 -S -w)
for level_march in $levels; do
  level="${level_march%%=*}" march="${level_march#*=}"
  mkdir -p "$work/$level"
  for source in "${bantam_sources[@]}"; do
    # clang ignores `#pragma GCC target("arch=...+ext")`, which switches a file to its extensions
    # under GCC (bantam's release compiler): add them to the level's -march instead.
    extensions="$(sed -n 's/^#pragma GCC target("arch=[^+"]*\(+[^"]*\)").*/\1/p' "$source" | head -n 1)"
    # bantam's own aarch64 flags (CMakeLists.txt): C++20, unfused x*scale + magic rounding.
    clang-19 "${common[@]}" -march="$march$extensions" -std=c++20 -ffp-contract=off -I"$root/src" -I"$root/include" \
      -o "$work/$level/$(basename "$source").s" "$source"
  done
  for source in arch/arm/quants.c arch/arm/repack.cpp vec.cpp; do
    std=-std=c11
    [[ "$source" == *.cpp ]] && std=-std=c++17
    clang-19 "${common[@]}" -march="$march" "$std" -D_GNU_SOURCE -I"$llama/ggml/include" -I"$llama/ggml/src" \
      -I"$ggml_cpu" -o "$work/$level/$(basename "$source").s" "$ggml_cpu/$source"
  done
done
python3 "$here/arm_mca.py" $json "$work"
