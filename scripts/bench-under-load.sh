#!/usr/bin/env bash
# Generation speed on a busy device, bantam beside llama.cpp: a busy loop pinned to the last core
# (taskset) runs while each engine generates; then the same quietly. Prints a markdown table.
# llama.cpp is llama-bench from LLAMACPP_BIN (../shared/tools/llamacpp-native.sh prints it).
# Usage: LLAMACPP_BIN=DIR scripts/bench-under-load.sh [-n 128] [-r 3] MODEL.gguf...
set -euo pipefail
cd "$(dirname "$0")/.."
n=128
reps=3
while getopts "n:r:" opt; do
  case $opt in
    n) n=$OPTARG ;;
    r) reps=$OPTARG ;;
    *) echo "usage: $0 [-n 128] [-r 3] MODEL.gguf..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-n 128] [-r 3] MODEL.gguf..." >&2; exit 2; }
bantam=${BANTAM_BIN:-build/bin/bantam}
llama=${LLAMACPP_BIN:?set LLAMACPP_BIN to the folder holding llama-bench}/llama-bench
cores=$(nproc)
busy_pid=""
stop_busy() { [ -z "$busy_pid" ] || kill "$busy_pid" 2>/dev/null || true; busy_pid=""; }
trap stop_busy EXIT
start_busy() { taskset -c $((cores - 1)) sh -c 'while :; do :; done' & busy_pid=$!; sleep 1; }
# t/s of tg$n per thread count: bantam's default (0), then 1..cores.
bantam_tg() {
  "$bantam" bench -m "$1" -p 0 -n "$n" -t "$2" -r "$reps" -o json 2>/dev/null |
    sed -n 's/.*"avg_ts": *\([0-9.]*\).*/\1/p' | head -1 | awk '{ printf "%.1f", $1 }'
}
llama_tg() {
  "$llama" -m "$1" -p 0 -n "$n" -t "$2" -r "$reps" -fa 1 -o jsonl 2>/dev/null |
    sed -n 's/.*"avg_ts": *\([0-9.]*\).*/\1/p' | head -1 | awk '{ printf "%.1f", $1 }'
}
echo "| model | load | threads | bantam tg$n | llama.cpp tg$n |"
echo "|---|---|---|---|---|"
for model in "$@"; do
  for load in quiet busy; do
    [ $load = busy ] && start_busy
    echo "| $(basename "$model" .gguf) | $load | default | $(bantam_tg "$model" 0) | |"
    for t in $(seq 1 "$cores"); do
      echo "| $(basename "$model" .gguf) | $load | $t | $(bantam_tg "$model" "$t") | $(llama_tg "$model" "$t") |"
    done
    stop_busy
  done
done
