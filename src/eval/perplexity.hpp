// Perplexity the way llama.cpp's perplexity tool computes it (so numbers compare): the text is
// tokenized once (BOS first), cut into chunks of n_ctx tokens whose first token becomes BOS,
// and only the second half of each chunk is scored. Optionally saves the base model's
// distributions in llama-perplexity's KL base format, or scores KL divergence against such a file.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"

namespace bantam {

struct PerplexityOptions {
  std::string model;
  std::string text_file;
  std::vector<std::pair<std::string, float>> adapters;  // LoRA files and their scales
  int64_t context = 512;
  int batch_size = 0;  // 0: the context
  int threads = 0;
  KvCacheTypes kv_types = {};
  int max_chunks = -1;           // < 0: all
  // Without kl_divergence: the distributions of this model on text_file are written here.
  // With it: the tokens and distributions are read from here (text_file unused) and compared.
  std::string kl_divergence_base;
  bool kl_divergence = false;
  std::function<void(int chunk, int n_chunks, double running_ppl)> progress;
};

struct PerplexityResult {
  double ppl = 0, ppl_stderr = 0;
  int chunks = 0;
  int64_t ctx = 0, tokens = 0, scored = 0;
  bool has_kl = false;
  double kl_mean = 0, kl_stderr = 0, kl_median = 0, kl_p90 = 0, kl_p99 = 0, kl_max = 0;
  double top1_agreement = 0;  // share of scored tokens where both models' argmax agree
  double base_ppl = 0, delta_ppl = 0;
};

PerplexityResult compute_perplexity(const PerplexityOptions& options);
nlohmann::ordered_json perplexity_to_json(const PerplexityResult& result);

}  // namespace bantam
