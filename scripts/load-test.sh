#!/usr/bin/env bash
# Load test of `bantam serve`: CLIENTS concurrent streaming chat clients for SECONDS against a
# server started with each --parallel value; prints errors and aggregate generated tokens/s.
# Usage: scripts/load-test.sh [BUILD_DIR] [MODEL] [SECONDS] [CLIENTS] [PARALLEL...]
# Not part of ctest (it takes minutes).
set -euo pipefail
build=${1:-build-serve}
model=${2:-../shared/models/weights/stories260K.gguf}
seconds=${3:-60}
clients=${4:-32}
shift $(( $# < 4 ? $# : 4 ))
parallels=("$@")
[ ${#parallels[@]} -eq 0 ] && parallels=(1 4)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }

for parallel in "${parallels[@]}"; do
  "$build/bin/bantam" serve -m "$model" --port 0 --parallel "$parallel" -c 1024 --max-queue 64 \
    >"$work/out" 2>"$work/err" &
  server=$!
  for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
  port=$(grep -o '[0-9]*$' "$work/out")
  until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.1; done
  before=$(metric "$port" bantam_completion_tokens_total)
  end=$(( $(date +%s) + seconds ))
  pids=()
  for c in $(seq "$clients"); do
    (
      ok=0; bad=0; i=0
      while [ "$(date +%s)" -lt "$end" ]; do
        i=$((i + 1))
        body="{\"messages\":[{\"role\":\"user\",\"content\":\"Tell story $c-$i\"}],\"max_tokens\":64,\"temperature\":0.8,\"seed\":$i,\"stream\":true}"
        if curl -sfN --max-time 120 "http://127.0.0.1:$port/v1/chat/completions" -d "$body" | grep -q '^data: \[DONE\]'; then
          ok=$((ok + 1))
        else
          bad=$((bad + 1))
        fi
      done
      echo "$ok $bad" >"$work/client.$c"
    ) &
    pids+=($!)
  done
  wait "${pids[@]}"
  after=$(metric "$port" bantam_completion_tokens_total)
  ttft=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1=="bantam_time_to_first_token_seconds_sum"{s=$2} $1=="bantam_time_to_first_token_seconds_count"{n=$2} END{if(n>0) printf "%.3f", s/n}')
  kill -TERM "$server"; wait "$server" || true
  alive=$(grep -c "stopped" "$work/err" || true)
  ok=$(cat "$work"/client.* | awk '{s+=$1} END{print s}')
  bad=$(cat "$work"/client.* | awk '{s+=$2} END{print s}')
  rm -f "$work"/client.*
  tokens=$(( ${after%.*} - ${before%.*} ))
  echo "parallel=$parallel clients=$clients seconds=$seconds requests_ok=$ok errors=$bad tokens=$tokens tokens_per_s=$(awk -v t="$tokens" -v s="$seconds" 'BEGIN{printf "%.1f", t/s}') mean_ttft_s=$ttft clean_shutdown=$alive"
done
