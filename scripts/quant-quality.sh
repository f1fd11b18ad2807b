#!/usr/bin/env bash
# Quantizer quality on the synthetic models: KL divergence against each F16 parent of
# llama-quantize's file (in ../shared) and of `bantam quantize`'s file of the same type, on
# the shared corpus at context 128. Prints a markdown table. Usage: scripts/quant-quality.sh [CHUNKS]
set -euo pipefail
cd "$(dirname "$0")/.."
chunks=${1:-40}
shared=${BANTAM_SHARED_DIR:-../shared}
bin=${BANTAM_BIN:-build/bin/bantam}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
text="$shared/corpus/small-llms-essay.txt"
kl() {  # kl MODEL BASE_FILE -> "mean_kl top1"
  "$bin" perplexity -m "$1" --chunks "$chunks" --kl-divergence-base "$2" --kl-divergence -o json 2>/dev/null |
    sed -n 's/.*"\(kl_mean\|top1_agreement\)": \([-0-9.e]*\).*/\2/p' | paste -sd' '
}
echo "| model | type | KL llama-quantize | KL bantam | ratio | top-1 (llama-quantize / bantam) |"
echo "|---|---|---|---|---|---|"
for arch in llama3 nemo qwen2 phi3 gemma gemma2; do
  f16="$shared/models/synthetic/synth-$arch-f16.gguf"
  "$bin" perplexity -m "$f16" -f "$text" -c 128 --chunks "$chunks" --kl-divergence-base "$work/$arch.kld" >/dev/null 2>&1
  for type in Q8_0 Q4_0 Q4_K_M Q2_K; do
    "$bin" quantize "$f16" "$work/$arch-$type.gguf" "$type" >/dev/null 2>&1
    read -r ref_kl ref_top1 <<<"$(kl "$shared/models/synthetic/synth-$arch-$type.gguf" "$work/$arch.kld")"
    read -r our_kl our_top1 <<<"$(kl "$work/$arch-$type.gguf" "$work/$arch.kld")"
    ratio=$(awk -v a="$our_kl" -v b="$ref_kl" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 1) }')
    echo "| synth-$arch | $type | $ref_kl | $our_kl | $ratio | $ref_top1 / $our_top1 |"
  done
done
