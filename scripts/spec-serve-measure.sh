#!/usr/bin/env bash
# Speculative decoding in `bantam serve` (issue 22): for each configuration a server with
# --parallel 3 answers ROUNDS rounds of 3 concurrent greedy /completion requests (a copy-heavy
# prompt and two free ones, 128 tokens each); prints wall seconds, generated tokens/s over all
# slots and the drafted/accepted counters of /metrics. Not part of ctest.
# Usage: scripts/spec-serve-measure.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
weights="$(dirname "$0")/../../shared/models/weights"
target="$weights/stories260K.gguf"
threads=${THREADS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
copy="Lily saw a big red ball in the park. She wanted to play with it, but a small dog took the ball and ran away. \
Lily saw a big red ball in the park. She wanted to play"
prompts=("$copy" "Once upon a time" "Tom and his dog went to the")

metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }

measure() {
  local name=$1
  shift
  "$build/bin/bantam" serve -m "$target" --port 0 --parallel 3 -c 512 -t "$threads" "$@" >"$work/out" 2>"$work/err" &
  local pid=$!
  local port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/out")
    [ -n "$port" ] && break
    sleep 0.1
  done
  local start tokens=0
  start=$(date +%s.%N)
  for _ in $(seq "$rounds"); do
    for i in 0 1 2; do
      jq -n --arg p "${prompts[$i]}" '{prompt: $p, n_predict: 128, temperature: 0}' |
        curl -s "http://127.0.0.1:$port/completion" -d @- >"$work/r$i" &
    done
    wait $(jobs -p | grep -v "^$pid$")
    for i in 0 1 2; do tokens=$((tokens + $(jq .tokens_predicted "$work/r$i"))); done
  done
  local seconds
  seconds=$(echo "$(date +%s.%N) - $start" | bc -l)
  printf '%-28s %6.2f s  %7.1f tok/s  drafted %s accepted %s\n' "$name" "$seconds" \
    "$(echo "$tokens / $seconds" | bc -l)" "$(metric "$port" bantam_draft_tokens_total)" \
    "$(metric "$port" bantam_draft_accepted_tokens_total)"
  kill "$pid"
  wait "$pid" || true
}

measure "plain"
measure "lookup 3 (adaptive)" --lookup 3
measure "lookup 3 (fixed)" --lookup 3 --draft-fixed
measure "draft Q8_0 (adaptive)" -md "$weights/stories260K-Q8_0.gguf"
measure "draft Q8_0 (fixed, max 4)" -md "$weights/stories260K-Q8_0.gguf" --draft-fixed --draft-max 4
