// Speculative decoding's measurements for `bantam bench`: what verifying k tokens in one pass
// costs against one decode step (the physics that makes speculation pay), and generation with
// drafts against plain generation on the same prompt (acceptance rate, effective tokens/s).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "runtime/speculative.hpp"  // expected_tokens_per_pass

namespace bantam {

struct VerifyCostOptions {
  std::string model;
  int max_k = 16;        // k = 1..max_k tokens per pass
  int context_tokens = 64;  // cached tokens before the passes
  int repetitions = 5;
  int threads = 0;
};

// One row per k: seconds per pass (median) and its ratio to k = 1.
nlohmann::ordered_json run_verify_cost(const VerifyCostOptions& options);

struct SpecBenchOptions {
  std::string model;
  std::string prompt;        // text, tokenized with the model's tokenizer
  SpeculativeOptions speculative;
  int n_gen = 128;
  int repetitions = 3;
  int threads = 0;
};

// Plain and speculative greedy generation of the same prompt, alternated per repetition: tokens/s
// of each (median), the speed-up, the acceptance rate, tokens per pass, and whether the outputs
// were the same tokens.
nlohmann::ordered_json run_spec_bench(const SpecBenchOptions& options);

std::string format_verify_cost(const nlohmann::ordered_json& rows);
std::string format_spec_bench(const nlohmann::ordered_json& row);

}  // namespace bantam
