#!/usr/bin/env bash
# llama.cpp's speed on this machine, next to `bantam bench` (bench/RESULTS.md): pp512 and tg128 at
# the given thread counts. Uses llama-bench built natively (-march=native) when LLAMACPP_BIN names
# its folder (what ../shared/tools/llamacpp-native.sh prints) or build/llamacpp-native/bin has it;
# otherwise the prebuilt CPU llama.cpp of the npm package node-llama-cpp (installed on first use
# into build/llamacpp-bench with npm; needs Debian's nodejs and npm).
# Usage: scripts/llamacpp-bench.sh [-t 1,2] [-r 3] MODEL.gguf... (JSON lines on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=1,2
reps=3
while getopts "t:r:" opt; do
  case $opt in
    t) threads=$OPTARG ;;
    r) reps=$OPTARG ;;
    *) echo "usage: $0 [-t 1,2] [-r 3] MODEL.gguf..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-t 1,2] [-r 3] MODEL.gguf..." >&2; exit 2; }
native=${LLAMACPP_BIN:-build/llamacpp-native/bin}
if [ -x "$native/llama-bench" ]; then
  for model in "$@"; do
    echo "llama.cpp (native): $model" >&2
    "$native/llama-bench" -m "$model" -p 512 -n 128 -t "$threads" -r "$reps" -fa 1 -o jsonl 2>/dev/null
  done
  exit 0
fi
command -v node >/dev/null && command -v npm >/dev/null || { echo "error: needs node and npm (apt-get install nodejs npm)" >&2; exit 1; }
dir=build/llamacpp-bench
if [ ! -d "$dir/node_modules/node-llama-cpp" ]; then
  echo "installing node-llama-cpp 3.22.1 into $dir" >&2
  mkdir -p "$dir"
  (cd "$dir" && npm init -y >/dev/null && npm install --no-audit --no-fund node-llama-cpp@3.22.1 >&2)
fi
cp bench/llamacpp_bench.mjs "$dir/"
for model in "$@"; do
  echo "llama.cpp: $model" >&2
  node "$dir/llamacpp_bench.mjs" "$(realpath "$model")" "$threads" "$reps"
done
