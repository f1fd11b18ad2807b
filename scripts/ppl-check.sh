#!/usr/bin/env bash
# Every row of ../shared/ref/perplexity.json (llama.cpp's llama-perplexity, -c 128, whole file)
# against `bantam perplexity`: prints a markdown table with the relative difference and the
# tolerance of the format (0.1% F32/F16/Q8_0, 1% 4-bit, 3% 2-bit). Usage: scripts/ppl-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${BANTAM_SHARED_DIR:-../shared}
bin=${BANTAM_BIN:-build/bin/bantam}
echo "| model | llama.cpp | bantam | difference | tolerance |"
echo "|---|---|---|---|---|"
sed -n 's/.*"model":"\([^"]*\)".*"ctx":\([0-9]*\).*"ppl":\([0-9.]*\).*/\1 \2 \3/p' "$shared/ref/perplexity.json" |
while read -r row ctx ref; do
  model=${row%%+*}
  args=()
  if [[ "$row" == *+* ]]; then
    adapter=${row#*+}
    args=(--lora "$shared/models/adapters/${adapter%@*}:${adapter#*@}")
  fi
  dir=weights
  [[ "$model" == synth-* ]] && dir=synthetic
  ours=$("$bin" perplexity -m "$shared/models/$dir/$model" -f "$shared/corpus/small-llms-essay.txt" \
           -c "$ctx" "${args[@]}" -o json 2>/dev/null | sed -n 's/.*"ppl": \([-0-9.e+]*\).*/\1/p')
  case "$model" in
    *Q2_K*) tol=3 ;;
    *Q4_*|*Q5_*) tol=1 ;;
    *) tol=0.1 ;;
  esac
  awk -v m="$row" -v r="$ref" -v o="$ours" -v t="$tol" 'BEGIN {
    d = (o - r) / r * 100; a = d < 0 ? -d : d;
    printf "| %s | %s | %s | %+.4f%% | %s%% %s |\n", m, r, o, d, t, (a <= t ? "ok" : "OVER") }'
done
