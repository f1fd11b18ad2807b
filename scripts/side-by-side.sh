#!/usr/bin/env bash
# bantam and llama.cpp on the same files in one run, model by model (the two engines alternate, so
# both see the same machine state): pp512 and tg128 at the given thread counts, JSON lines on
# stdout ({"engine", "model", "rows": [...]}) for scripts/side-by-side-table.py.
# llama.cpp is llama-bench from LLAMACPP_BIN (../shared/tools/llamacpp-native.sh prints it).
# Usage: LLAMACPP_BIN=DIR scripts/side-by-side.sh [-t 1,2] [-r 3] MODEL.gguf... > side.jsonl
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
bantam=${BANTAM_BIN:-build/bin/bantam}
llama=${LLAMACPP_BIN:?set LLAMACPP_BIN to the folder holding llama-bench}/llama-bench
for model in "$@"; do
  name=$(basename "$model" .gguf)
  echo "side-by-side: $name" >&2
  rows=$("$bantam" bench -m "$model" -p 512 -n 128 -t "$threads" -r "$reps" -o json)
  printf '{"engine": "bantam", "model": "%s", "rows": %s}\n' "$name" "$(echo "$rows" | tr -d '\n')"
  rows=$(LD_LIBRARY_PATH="$(dirname "$llama")" "$llama" -m "$model" -p 512 -n 128 -t "$threads" -r "$reps" -fa 1 -o json)
  printf '{"engine": "llama.cpp", "model": "%s", "rows": %s}\n' "$name" "$(echo "$rows" | tr -d '\n')"
done
