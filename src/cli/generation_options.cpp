#include "cli/generation_options.hpp"

#include <cmath>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "ops/thread_pool.hpp"
#include "runtime/generation_params.hpp"

namespace bantam::cli {
namespace {

// Values checked against the table the server checks requests with, so both refuse the same.
CLI::Validator param_check(std::string_view name) {
  const GenerationParam& p = generation_param(name);
  return CLI::Validator([&p](std::string& text) { return check_cli_value(p, text); }, range_text(p));
}

}  // namespace

void add_engine_options(CLI::App& cmd, EngineOptions& options) {
  SessionOptions& s = options.session;
  add_max_tokens_option(cmd, options.generate.max_tokens, "-n,--max-tokens,--n-predict");
  cmd.add_option("-c,--ctx-size", s.context_length, "Context length in tokens")->check(CLI::Range(1, 1 << 24));
  cmd.add_flag("--verbose", options.verbose, "Say the thread count chosen (on stderr)");
  cmd.add_option_function<int>("-t,--threads", [&s](int n) { s.threads = capped_threads(n); }, "Threads (0: all cores)")
      ->check(CLI::Range(0, 1024))
      ->default_str("0");
  cmd.add_option("-b,--batch-size", s.batch_size, "Prompt tokens per forward pass")->check(CLI::Range(1, 1 << 16));
  add_kv_type_options(cmd, options.kv_types, [&options] {
    options.session.kv_type = options.kv_types.keys;
    options.session.kv_type_v = options.kv_types.values;
  });
  add_context_shift_options(cmd, options.generate);
  add_sampling_options(cmd, options.generate.sampling);
  cmd.add_option("--stop", options.generate.stop, "Stop before this string (repeatable)");
  add_lora_option(cmd, options.lora);
  add_speculative_options(cmd, options.speculative);
}

void add_kv_type_options(CLI::App& cmd, KvCacheTypes& types, std::function<void()> changed) {
  const std::map<std::string, KvCacheType> names{{"f16", KvCacheType::F16},
                                                 {"f32", KvCacheType::F32},
                                                 {"q8_0", KvCacheType::Q8_0},
                                                 {"q4_0", KvCacheType::Q4_0}};
  // CLI11 runs option callbacks in the order the options are added: --kv-type first, so that
  // --cache-type-k/-v given with it override it for their half.
  const auto add = [&](const std::string& flag, const std::string& help, auto set) {
    cmd.add_option_function<KvCacheType>(flag, [&types, changed, set](KvCacheType type) {
         set(types, type);
         if (changed) changed();
       }, help)
        ->transform(CLI::CheckedTransformer(names, CLI::ignore_case))
        ->default_str("f16");
  };
  add("--kv-type", "KV cache type for keys and values: f16, f32, q8_0 or q4_0 (q8_0 halves the cache, q4_0 quarters it)",
      [](KvCacheTypes& t, KvCacheType type) { t.keys = t.values = type; });
  add("--cache-type-k", "Keys' KV cache type (as llama.cpp names it): f16, f32, q8_0 or q4_0",
      [](KvCacheTypes& t, KvCacheType type) { t.keys = type; });
  add("--cache-type-v", "Values' KV cache type (as llama.cpp names it): f16, f32, q8_0 or q4_0",
      [](KvCacheTypes& t, KvCacheType type) { t.values = type; });
}

void add_sampling_options(CLI::App& cmd, SamplingOptions& sampling) {
  cmd.add_option("--temp", sampling.temperature, "Temperature (0: greedy)")->check(param_check("temperature"));
  cmd.add_option("--top-k", sampling.top_k, "Keep the k most likely tokens (0: off)")->check(param_check("top_k"));
  cmd.add_option("--top-p", sampling.top_p, "Keep the smallest set with this probability (1: off)")
      ->check(param_check("top_p"));
  cmd.add_option("--min-p", sampling.min_p, "Drop tokens below min-p times the best (0: off)")
      ->check(param_check("min_p"));
  cmd.add_option("--repeat-penalty", sampling.repeat_penalty, "Penalty for repeated tokens (1: off)")
      ->check(param_check("repeat_penalty"));
  cmd.add_option("--repeat-last-n", sampling.penalty_last_n, "Tokens the penalties look back on (-1: all)")
      ->check(param_check("repeat_last_n"));
  cmd.add_option("--frequency-penalty", sampling.frequency_penalty, "Subtract count times this")
      ->check(param_check("frequency_penalty"));
  cmd.add_option("--presence-penalty", sampling.presence_penalty, "Subtract this from seen tokens")
      ->check(param_check("presence_penalty"));
  cmd.add_option("--seed", sampling.seed, "Sampling seed (0: random)")->check(param_check("seed"));
}

void add_context_shift_options(CLI::App& cmd, GenerateOptions& generate) {
  cmd.add_flag("--context-shift", generate.context_shift,
               "When the context fills, drop the oldest half of the tokens after --keep and go on");
  cmd.add_option("--keep", generate.keep, "Tokens at the start that --context-shift never drops (-1: the prompt)")
      ->check(CLI::Range(-1, 1 << 24));
}

void add_max_tokens_option(CLI::App& cmd, int& max_tokens, const std::string& names) {
  cmd.add_option(names, max_tokens, "Tokens to generate (-1: until done)")->check(param_check("max_tokens"));
}

void add_gpu_layers_option(CLI::App& cmd) {
  cmd.add_option_function<std::string>(
         "--n-gpu-layers,--gpu-layers",
         [](const std::string&) {
           fmt::print(stderr, "bantam: note: --n-gpu-layers is ignored: bantam runs on the CPU\n");
         },
         "Accepted from llama.cpp habit and ignored: bantam runs on the CPU")
      ->group("llama.cpp compatibility");
}

void add_lora_option(CLI::App& cmd, std::vector<std::string>& specs) {
  cmd.add_option("--lora", specs, "LoRA adapter FILE[:SCALE] applied beside the weights (repeatable)");
}

std::pair<std::string, float> parse_lora_spec(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos) return {spec, 1.0f};
  const std::string scale_text = spec.substr(colon + 1);
  char* end = nullptr;
  const float scale = std::strtof(scale_text.c_str(), &end);
  // A colon without a number after it belongs to the path.
  if (scale_text.empty() || end != scale_text.c_str() + scale_text.size()) return {spec, 1.0f};
  if (!std::isfinite(scale)) throw Error(fmt::format("--lora {}: the scale is not a finite number", spec));
  return {spec.substr(0, colon), scale};
}

std::vector<AdapterUse> load_adapters(const std::vector<std::string>& specs, const Model& model) {
  std::vector<AdapterUse> adapters;
  for (const std::string& spec : specs) {
    const auto [path, scale] = parse_lora_spec(spec);
    adapters.push_back({Adapter::load(path, model), scale});
  }
  return adapters;
}

void print_thread_choice(const EngineOptions& options) {
  if (!options.verbose) return;
  const int cores = ops::available_cores();
  fmt::print(stderr,
             "bantam: threads: {} ({} cores available; work is claimed in pieces and a thread whose core "
             "is busy with another process is left out while it is)\n",
             options.session.threads > 0 ? options.session.threads : cores, cores);
}

int capped_threads(int requested) {
  const int cores = ops::available_cores();
  if (requested <= cores) return requested;
  fmt::print(stderr, "bantam: note: {} threads requested but {} cores are available; using {}\n", requested, cores,
             cores);
  return cores;
}

void print_timings(const GenerateResult& result) {
  const int64_t evaluated = result.prompt_tokens - result.reused_tokens;
  const double prompt_rate = result.prompt_seconds > 0 ? evaluated / result.prompt_seconds : 0.0;
  const size_t generated = result.tokens.size();
  const double generation_rate = result.generation_seconds > 0 ? generated / result.generation_seconds : 0.0;
  fmt::print(stderr,
             // On a terminal the streamed text has no newline of its own yet.
             "\nprompt: {} tokens ({} reused), {:.1f} tok/s | generation: {} tokens, {:.1f} tok/s | "
             "first token: {:.1f} ms | stop: {}{}\n",
             result.prompt_tokens, result.reused_tokens, prompt_rate, generated, generation_rate,
             result.first_token_seconds * 1000.0, stop_reason_name(result.stop_reason),
             result.context_shifts > 0 ? fmt::format(" | context shifts: {}", result.context_shifts) : "");
  if (result.drafted_tokens > 0) {
    fmt::print(stderr, "speculative: {} of {} drafted tokens accepted ({:.0f}%), {} passes for {} tokens\n",
               result.accepted_tokens, result.drafted_tokens, 100.0 * result.accepted_tokens / result.drafted_tokens,
               result.forward_passes, generated);
  }
}

}  // namespace bantam::cli
