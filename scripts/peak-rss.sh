#!/usr/bin/env bash
# Peak resident memory of bantam beside llama.cpp on the same files and work (pp512 + tg128, one
# repetition, one thread): the maximum RSS that GNU time reports for each whole process, mapped
# weights and any repacked copies included. Prints a markdown table.
# llama.cpp is llama-bench from LLAMACPP_BIN (../shared/tools/llamacpp-native.sh prints it).
# Usage: LLAMACPP_BIN=DIR scripts/peak-rss.sh [-p 512] [-n 128] MODEL.gguf...
set -euo pipefail
cd "$(dirname "$0")/.."
p=512
n=128
while getopts "p:n:" opt; do
  case $opt in
    p) p=$OPTARG ;;
    n) n=$OPTARG ;;
    *) echo "usage: $0 [-p 512] [-n 128] MODEL.gguf..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-p 512] [-n 128] MODEL.gguf..." >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "peak-rss.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
bantam=${BANTAM_BIN:-build/bin/bantam}
llama=${LLAMACPP_BIN:?set LLAMACPP_BIN to the folder holding llama-bench}/llama-bench
# Maximum resident set size of a command, in MiB.
peak_mib() {
  /usr/bin/time -f "%M" -o /tmp/peak-rss.$$ "$@" >/dev/null 2>&1
  awk '{ printf "%.0f", $1 / 1024 }' /tmp/peak-rss.$$
  rm -f /tmp/peak-rss.$$
}
echo "| model | file MiB | bantam peak RSS MiB | llama.cpp peak RSS MiB | ratio |"
echo "|---|---|---|---|---|"
for model in "$@"; do
  size=$(du -m "$model" | cut -f1)
  ours=$(peak_mib "$bantam" bench -m "$model" -p "$p" -n "$n" -t 1 -r 1)
  theirs=$(LD_LIBRARY_PATH="$(dirname "$llama")" peak_mib "$llama" -m "$model" -p "$p" -n "$n" -t 1 -r 1 -fa 1)
  echo "| $(basename "$model" .gguf) | $size | $ours | $theirs | $(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }') |"
done
