// Options shared by `run` and `chat`: context, threads, KV cache type, the sampler and LoRA adapters.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "bantam/bantam.hpp"
#include "cli/speculative_options.hpp"

namespace bantam::cli {

struct EngineOptions {
  SessionOptions session;  // its kv_type and kv_type_v follow kv_types
  KvCacheTypes kv_types = {};
  GenerateOptions generate;
  std::vector<std::string> lora;  // FILE[:SCALE] specs: load_adapters makes session.adapters of them
  SpeculativeFlags speculative;   // resolve_speculative makes session.speculative of them
  bool verbose = false;
};

// With --verbose: the thread count chosen and the cores it was chosen from, on stderr.
void print_thread_choice(const EngineOptions& options);

void add_engine_options(CLI::App& cmd, EngineOptions& options);

// --kv-type (keys and values), --cache-type-k and --cache-type-v (llama.cpp's names) into
// `types`: f16, f32, q8_0 or q4_0; the specific ones win over --kv-type. `changed` runs after each.
void add_kv_type_options(CLI::App& cmd, KvCacheTypes& types, std::function<void()> changed = {});

// --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --frequency-penalty,
// --presence-penalty and --seed into `sampling`: run, chat and serve take the same names, checks
// and defaults.
void add_sampling_options(CLI::App& cmd, SamplingOptions& sampling);
// --context-shift and --keep N (llama.cpp's names) into `generate`.
void add_context_shift_options(CLI::App& cmd, GenerateOptions& generate);
// The tokens-to-generate option under `names` ("-n,--max-tokens,--n-predict" for run and chat).
void add_max_tokens_option(CLI::App& cmd, int& max_tokens, const std::string& names);

// llama.cpp's `--n-gpu-layers N` (and `--gpu-layers`), taken so that commands typed from habit
// work: the value is ignored, with a note on stderr that bantam runs on the CPU.
void add_gpu_layers_option(CLI::App& cmd);

// `--lora FILE[:SCALE]` (repeatable) collected into `specs`.
void add_lora_option(CLI::App& cmd, std::vector<std::string>& specs);
// FILE[:SCALE] as a path and a scale (1 when none is given); Error for a bad scale.
std::pair<std::string, float> parse_lora_spec(const std::string& spec);
// Each spec's adapter loaded and checked against `model`.
std::vector<AdapterUse> load_adapters(const std::vector<std::string>& specs, const Model& model);
// `requested` threads, or the cores available when it asks for more (said on stderr): workers
// that share a core spin against each other, and each one costs a stack.
int capped_threads(int requested);
// One line on stderr: prompt and generation speed, time to first token, why generation stopped.
void print_timings(const GenerateResult& result);

}  // namespace bantam::cli
