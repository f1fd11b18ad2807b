#!/usr/bin/env bash
# Long context in bounded memory: for each context length and KV cache type, one `bantam run`
# fills the context with a prompt of token ids (ctx - n - 8 of them) and generates n tokens
# greedily. Prints a markdown table: prompt and decode tok/s as `run` reports them, the KV
# cache's bytes (from bench's kv_cache_bytes), the process's peak RSS (GNU time) and what the
# peak holds beyond the mapped weights and the KV cache. A random-weight model keeps greedy
# decoding from stopping early (bantam synth --preset qwen2-0.5b ...).
# Activations grow with the batch (-b, prompt tokens per forward pass: about 77 KiB a token on
# qwen2-0.5b), not with the context.
# Usage: scripts/long-context.sh [-t 2] [-n 32] [-b 512] [-k "f16 q8_0 q4_0"] MODEL.gguf [CTX...]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2
n=32
batch=512
kv_types="f16 q8_0 q4_0"
while getopts "t:n:b:k:" opt; do
  case $opt in
    t) threads=$OPTARG ;;
    n) n=$OPTARG ;;
    b) batch=$OPTARG ;;
    k) kv_types=$OPTARG ;;
    *) echo "usage: $0 [-t 2] [-n 32] [-b 512] [-k TYPES] MODEL.gguf [CTX...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: $0 [-t 2] [-n 32] [-b 512] [-k TYPES] MODEL.gguf [CTX...]" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "long-context.sh: needs GNU time (apt-get install time)" >&2; exit 1; }
model=$1
shift
contexts=("$@")
[ ${#contexts[@]} -gt 0 ] || contexts=(4096 16384 32768)
bantam=${BANTAM_BIN:-build/bin/bantam}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
weights=$(stat -c %s "$model")
echo "| context | KV type | KV MiB | prompt tok/s | decode tok/s | peak RSS MiB | RSS - weights - KV MiB |"
echo "|---|---|---|---|---|---|---|"
for ctx in "${contexts[@]}"; do
  # Two-digit ids: 32k of them stay under the kernel's 128 KiB limit on one argument.
  ids=$(python3 -c "import sys; print(' '.join(str(10 + i * 7 % 90) for i in range(int(sys.argv[1]))))" $((ctx - n - 8)))
  for kv in $kv_types; do
    kv_bytes=$("$bantam" bench -m "$model" -p 1 -n 0 -r 1 -t 1 --ctx "$ctx" --kv-type "$kv" -o json 2>/dev/null |
      python3 -c "import json, sys; print(json.load(sys.stdin)[0]['kv_cache_bytes'])")
    /usr/bin/time -f "%M" -o "$work/rss" "$bantam" run -m "$model" --prompt-ids "$ids" -c "$ctx" -n "$n" --temp 0 \
      -b "$batch" -t "$threads" --kv-type "$kv" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    python3 - "$work/err" "$work/rss" "$ctx" "$kv" "$kv_bytes" "$weights" <<'PY'
import re, sys
err = open(sys.argv[1]).read()
m = re.search(r"prompt: (\d+) tokens \(\d+ reused\), ([\d.]+) tok/s \| generation: (\d+) tokens, ([\d.]+) tok/s", err)
if not m:
    sys.exit(f"long-context.sh: no timings in:\n{err}")
rss = int(open(sys.argv[2]).read().split()[-1]) * 1024
ctx, kv, kv_bytes, weights = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
mib = lambda b: b / (1024 * 1024)
print(f"| {ctx} | {kv} | {mib(kv_bytes):.0f} | {float(m.group(2)):.1f} | {float(m.group(4)):.2f} | {mib(rss):.0f} | "
      f"{mib(rss - weights - kv_bytes):.0f} |")
PY
  done
done
