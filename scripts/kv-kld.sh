#!/usr/bin/env bash
# KL divergence of quantized KV caches against the F16 cache on the same model and text: one
# chunk of CTX tokens (default 4096) of the shared essay (repeated to length), scored by
# `bantam perplexity --kl-divergence` against a base written with the F16 cache. Prints a
# markdown table: mean KLD, p99, max, same top-1 and PPL of each cache type per model.
# Usage: scripts/kv-kld.sh [-c 4096] [-t 2] MODEL.gguf...
set -euo pipefail
cd "$(dirname "$0")/.."
ctx=4096
threads=2
while getopts "c:t:" opt; do
  case $opt in
    c) ctx=$OPTARG ;;
    t) threads=$OPTARG ;;
    *) echo "usage: $0 [-c 4096] [-t 2] MODEL.gguf..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-c 4096] [-t 2] MODEL.gguf..." >&2; exit 2; }
bantam=${BANTAM_BIN:-build/bin/bantam}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The essay repeated until it holds two chunks of tokens whatever the tokenizer.
for _ in $(seq 1 $(( ctx / 2048 + 2 ))); do cat ../shared/corpus/small-llms-essay.txt; done >"$work/text.txt"
echo "| model | KV keys/values | mean KLD | p99 KLD | max KLD | same top-1 | PPL (F16 cache) |"
echo "|---|---|---|---|---|---|---|"
for model in "$@"; do
  name=$(basename "$model" .gguf)
  "$bantam" perplexity -m "$model" -f "$work/text.txt" -c "$ctx" --chunks 1 -t "$threads" \
    --kl-divergence-base "$work/base.kld" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  for types in "q8_0 q8_0" "q4_0 q4_0" "q8_0 q4_0" "f16 q4_0"; do
    set -- $types
    "$bantam" perplexity -m "$model" --kl-divergence-base "$work/base.kld" --kl-divergence -c "$ctx" -t "$threads" \
      --cache-type-k "$1" --cache-type-v "$2" -o json >"$work/out.json" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    python3 - "$work/out.json" "$name" "$1/$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['kl_mean']:.3g} | {r['kl_p99']:.3g} | {r['kl_max']:.3g} | "
      f"{100 * r['top1_agreement']:.2f}% | {r['base_ppl']:.4f} |")
PY
  done
  rm -f "$work/base.kld"
done
