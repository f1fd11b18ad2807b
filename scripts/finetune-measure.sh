#!/usr/bin/env bash
# Fine-tuning measurements of README and bench/RESULTS.md (issue 23), outside CI:
#  1. quality: stories260K fine-tuned on the first half of ../shared/corpus/gpl-3.txt at ranks
#     4, 8 and 16 (targets q, k, v, output, gate, up, down), perplexity on the second half before
#     and after (`bantam perplexity --lora`);
#  2. speed and memory: a llama-3.2-1b-shaped model with a Q4_0 base (`bantam synth`, or MODEL_1B),
#     rank 8 on attn_q and attn_v, -c CTX (default 128), at 1 and 2 threads: training tokens/s from
#     finetune's progress and peak RSS from /usr/bin/time, beside the trainer's memory formula.
# Usage: scripts/finetune-measure.sh [quality|speed|all]   (build/bin/bantam must exist)
set -euo pipefail
cd "$(dirname "$0")/.."
bantam=build/bin/bantam
what=${1:-all}
work=${WORK:-$(mktemp -d)}
shared=../shared
ctx=${CTX:-128}

split_corpus() {
  local text=$shared/corpus/gpl-3.txt
  local lines half
  lines=$(wc -l <"$text")
  half=$((lines / 2))
  head -n "$half" "$text" >"$work/train.txt"
  tail -n +"$((half + 1))" "$text" >"$work/test.txt"
}

perplexity() {  # MODEL [ADAPTER]
  local args=(perplexity -m "$1" -f "$work/test.txt" -c 128 -o json)
  [ $# -gt 1 ] && args+=(--lora "$2")
  "$bantam" "${args[@]}" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'
}

if [ "$what" = quality ] || [ "$what" = all ]; then
  split_corpus
  model=$shared/models/weights/stories260K.gguf
  echo "stories260K, gpl-3 second half, perplexity before: $(perplexity "$model")"
  for rank in 4 8 16; do
    start=$(date +%s)
    "$bantam" finetune -m "$model" --data "$work/train.txt" -o "$work/r$rank.gguf" --rank "$rank" \
      --alpha $((2 * rank)) --targets attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down \
      --epochs "${EPOCHS:-8}" --lr "${LR:-2e-3}" -c 128 -b 4 -t 2 --eval-split 0.1 2>"$work/r$rank.log"
    echo "rank $rank: perplexity after $(perplexity "$model" "$work/r$rank.gguf")" \
         "($(( $(date +%s) - start )) s; adapter $(stat -c %s "$work/r$rank.gguf") bytes)"
  done
fi

if [ "$what" = speed ] || [ "$what" = all ]; then
  model=${MODEL_1B:-$work/llama-3.2-1b-Q4_0.gguf}
  if [ ! -f "$model" ]; then
    "$bantam" synth --preset llama-3.2-1b --type Q4_0 --vocab "$shared/models/vocab-derived/ggml-vocab-llama-bpe.gguf" "$model" >&2
  fi
  split_corpus
  # Enough text for a few windows of -c tokens, one epoch, one sequence per update.
  head -c $((ctx * 16)) "$work/train.txt" >"$work/speed-data.txt"
  for threads in 1 2; do
    /usr/bin/time -f "peak RSS %M KB, user %U s, wall %e s" \
      "$bantam" finetune -m "$model" --data "$work/speed-data.txt" -o "$work/speed-t$threads.gguf" --rank 8 \
      --targets attn_q,attn_v --epochs 1 -c "$ctx" -b 1 -t "$threads" --eval-split 0 \
      2>"$work/speed-t$threads.log" || true
    echo "threads $threads: $(grep -o '[0-9.]* tok/s' "$work/speed-t$threads.log" | tail -1)," \
         "$(grep 'peak RSS' "$work/speed-t$threads.log")"
    grep -i "memory" "$work/speed-t$threads.log" | head -2 || true
  done
fi
echo "work folder: $work" >&2
