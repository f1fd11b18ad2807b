#!/usr/bin/env bash
# The aarch64 `bantam` CLI of the engine-only build (BANTAM_ENGINE_ONLY) under qemu-aarch64 on one
# CPU model, its results checked against the shared references:
#  - `bantam --help` lists the engine's commands and none of the services' (store, serve, ...);
#  - `bantam run --temp 0 --ids` gives llama.cpp's greedy ids of ref/generation.json on stories260K
#    (F32, long prompt, 200 tokens) and its Q8_0 and Q4_0 files (short prompt, 64 tokens), up to a
#    step where llama.cpp's top-2 margin is a coin toss (below 1e-3 for F32, 0.05 for quantized
#    files), the rule of tests/model/reference_test.cpp;
#  - `bantam perplexity` on the whole essay (ctx 128) within 0.1% of ref/perplexity.json on
#    stories260K, the bar of tests/eval/perplexity_test.cpp;
#  - `bantam bench` (pp32, tg8, one repetition) exits 0 and prints a table, and as JSON a positive
#    speed per test with the ISA level the CPU model should select.
# Usage: scripts/test-aarch64-cli.sh BUILD_DIR CPU_MODEL EXPECTED_ISA (run by scripts/test-aarch64.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$1" cpu="$2" expected_isa="$3"
shared="$root/../shared"
weights="$shared/models/weights"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() {
  echo "error: aarch64 bantam on qemu -cpu $cpu: $*" >&2
  exit 1
}
bantam() {  # bantam ARGS...: the aarch64 CLI on this CPU model, stderr kept for failure messages
  QEMU_CPU="$cpu" qemu-aarch64 -L / "$build/bin/bantam" "$@" 2>"$work/stderr" ||
    fail "'bantam $*' exited with $?: $(tail -n 5 "$work/stderr")"
}

bantam --help >"$work/help"
for command in run chat bench perplexity inspect tokenize; do
  grep -q "^  $command " "$work/help" || fail "--help does not list '$command'"
done
for command in serve pull hub list monitor route-eval; do
  ! grep -q "^  $command " "$work/help" || fail "--help of the engine-only build lists '$command'"
done

# `bantam run` on one entry of ref/generation.json, compared as tests/model/reference_test.cpp does.
check_greedy() {  # check_greedy MODEL PROMPT_NAME
  local model="$1" prompt_name="$2" entry="$work/entry.json"
  python3 - "$shared/ref/generation.json" "$model" "$prompt_name" >"$entry" <<'EOF'
import json, sys
path, model, prompt_name = sys.argv[1:]
entries = [e for e in json.load(open(path)) if e["model"] == model and e["prompt_name"] == prompt_name]
if len(entries) != 1:
    sys.exit(f"ref/generation.json has {len(entries)} entries for {model} {prompt_name}")
print(json.dumps(entries[0]))
EOF
  local prompt_ids count
  prompt_ids="$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["prompt_ids"])))' "$entry")"
  count="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["greedy_ids"]))' "$entry")"
  bantam run -m "$weights/$model" --prompt-ids "$prompt_ids" -n "$count" --temp 0 --ids -t 2 >"$work/run"
  python3 - "$entry" "$work/run" <<'EOF' || fail "bantam run on $model ($prompt_name prompt) left llama.cpp's greedy ids"
import json, sys
entry = json.load(open(sys.argv[1]))
got = [int(word) for word in open(sys.argv[2]).read().split()]
coin_toss = 0.05 if "-Q" in entry["model"] else 1e-3
for step, (want, margin) in enumerate(zip(entry["greedy_ids"], entry["top2_logit_margin"])):
    actual = got[step] if step < len(got) else None
    if actual == want:
        continue
    if margin < coin_toss:
        print(f"  {entry['model']}: diverged at step {step} where llama.cpp's top-2 margin is {margin} (accepted)")
        sys.exit(0)
    sys.exit(f"  step {step} gave {actual}, llama.cpp {want} with top-2 margin {margin} (bar {coin_toss})")
print(f"  {entry['model']} {entry['prompt_name']}: {len(entry['greedy_ids'])} greedy ids equal llama.cpp's")
EOF
}
check_greedy stories260K.gguf long
check_greedy stories260K-Q8_0.gguf short
check_greedy stories260K-Q4_0.gguf short

bantam perplexity -m "$weights/stories260K.gguf" -f "$shared/corpus/small-llms-essay.txt" -c 128 -t 2 \
  -o json >"$work/perplexity"
python3 - "$shared/ref/perplexity.json" "$work/perplexity" <<'EOF' || fail "bantam perplexity on stories260K is off llama.cpp's"
import json, sys
ref = next(r["ppl"] for r in json.load(open(sys.argv[1])) if r["model"] == "stories260K.gguf")
got = json.load(open(sys.argv[2]))
if got["chunks"] != 217 or abs(got["ppl"] - ref) > 0.001 * ref:
    sys.exit(f"  perplexity {got['ppl']} over {got['chunks']} chunks; llama.cpp {ref} over 217 (bar 0.1%)")
print(f"  stories260K perplexity {got['ppl']:.4f} (llama.cpp {ref}) over {got['chunks']} chunks")
EOF

bench_args=(bench -m "$weights/stories260K-Q4_0.gguf" -p 32 -n 8 -r 1 -t 1)
bantam "${bench_args[@]}" >"$work/bench-table"
grep -q "| *tg8 |" "$work/bench-table" || fail "bench printed no tg8 row: $(cat "$work/bench-table")"
bantam "${bench_args[@]}" -o json >"$work/bench"
python3 - "$work/bench" "$expected_isa" <<'EOF' || fail "bench JSON is not what it should be"
import json, sys
results = json.load(open(sys.argv[1]))
tests = sorted(f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}" for r in results)
if tests != ["pp32", "tg8"] or any(r["avg_ts"] <= 0 for r in results):
    sys.exit(f"  tests {tests}, speeds {[r['avg_ts'] for r in results]}")
if any(r["isa"] != sys.argv[2] for r in results):
    sys.exit(f"  ISA level {results[0]['isa']}, expected {sys.argv[2]}")
print(f"  bench pp32 {results[0]['avg_ts']:.1f} t/s, tg8 {results[1]['avg_ts']:.1f} t/s on {sys.argv[2]}")
EOF
echo "aarch64 bantam CLI on qemu -cpu $cpu: help, run, perplexity and bench as expected"
