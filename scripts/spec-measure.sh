#!/usr/bin/env bash
# Speculative decoding's measurements for bench/RESULTS.md (issue 22):
#  (1) verify cost of k = 1..16 tokens against one decode step on the shape models;
#  (2) acceptance on the trained pairs (stories260K targets, its quantized copies as drafts) and
#      prompt lookup on copy-heavy prompts;
#  (4) adaptive speculation against plain decoding where acceptance is low.
# Usage: scripts/spec-measure.sh [BUILD_DIR] [SHAPE_MODELS_DIR] > out.txt  (JSON rows per step)
set -euo pipefail
build=${1:-build}
shapes=${2:-/work/models}
bantam="$build/bin/bantam"
weights="$(dirname "$0")/../../shared/models/weights"
threads=${THREADS:-2}
copy_prompt="Repeat this story word for word. Story: Lily saw a big red ball in the park. She wanted to play with it, \
but a small dog took the ball and ran away. Lily ran after the dog and laughed. The dog dropped the ball and Lily \
threw it for him. They played all day and became friends. Story again:"
edit_prompt="Fix the spelling: Once upn a time, there was a littl girl named Lily. She lovd to play outside in the \
sun. One day she saw a big red bal in the park. Fixed: Once upon a time, there was a little girl named Lily."
free_prompt="Once upon a time"

echo "## (1) verify cost"
for m in qwen2-0.5b-Q4_0 llama-3.2-1b-Q4_0; do
  [ -f "$shapes/$m.gguf" ] && "$bantam" bench -m "$shapes/$m.gguf" --verify-cost 16 -t "$threads" -r 5
done
echo "## (2) acceptance, fixed draft length 4, greedy, 128 tokens"
for target in stories260K stories260K-Q8_0; do
  for draft in stories260K-Q8_0 stories260K-Q4_0; do
    [ "$target" = "$draft" ] && continue
    for prompt in "$free_prompt" "$copy_prompt"; do
      "$bantam" bench -m "$weights/$target.gguf" -md "$weights/$draft.gguf" --lookup 0 --draft-max 4 \
        --draft-p-min 0 --draft-fixed --spec-prompt "$prompt" -n 128 -t "$threads" -r 3 -o json
    done
  done
done
for prompt in "$copy_prompt" "$edit_prompt" "$free_prompt"; do
  "$bantam" bench -m "$weights/stories260K.gguf" --lookup 3 --draft-max 4 --draft-fixed --spec-prompt "$prompt" \
    -n 128 -t "$threads" -r 3 -o json
done
echo "## (4) adaptive (the defaults) where acceptance is low; shape models have random weights"
for prompt in "$free_prompt" "$copy_prompt" "$edit_prompt"; do
  "$bantam" bench -m "$weights/stories260K.gguf" --spec auto --spec-prompt "$prompt" -n 256 -t 1 -r 7 -o json
done
for pair in "stories260K-Q8_0 stories260K" "stories260K-Q4_0 stories260K" "stories260K stories260K-Q8_0" \
  "stories260K stories260K-Q4_0"; do
  set -- $pair
  "$bantam" bench -m "$weights/$1.gguf" -md "$weights/$2.gguf" --spec-prompt "$free_prompt" -n 256 -t 1 -r 7 -o json
done
for m in qwen2-0.5b-Q4_0 qwen2-0.5b-Q8_0; do
  [ -f "$shapes/$m.gguf" ] && "$bantam" bench -m "$shapes/$m.gguf" --spec auto --spec-prompt "$copy_prompt" -n 128 \
    -t "$threads" -r 3 -o json
done
[ -f "$shapes/qwen2-0.5b-Q4_0.gguf" ] && "$bantam" bench -m "$shapes/qwen2-0.5b-Q8_0.gguf" \
  -md "$shapes/qwen2-0.5b-Q4_0.gguf" --spec-prompt "$copy_prompt" -n 128 -t "$threads" -r 3 -o json
