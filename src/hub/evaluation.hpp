// Measuring one model file on a task set, for the A/B gate and the canary monitor: a quality
// figure (perplexity of each task's reference after its prompt, or a `bantam eval` metric on
// greedy answers) and latency figures (time to first token, tokens/s, p95 time per answer).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "hub/catalog.hpp"

namespace bantam::hub {

struct EvaluationOptions {
  std::filesystem::path tasks_file;  // `bantam eval` JSONL: "prompt" or "messages", "reference"
  std::string metric = "perplexity";  // perplexity, exact, rouge-l, bleu or chrf
  int max_tokens = 32;                // tokens per greedy answer
  int64_t context = 512;
  int threads = 0;                    // 0: all cores
  // Passes over the tasks; each latency figure is the best pass's, so a cold first pass (page
  // faults, thread start-up) or a busy moment does not count as a regression.
  int repeat = 3;
};

// Whether a larger value of `metric` is better (everything but perplexity).
bool higher_is_better(const std::string& metric);
// Percent by which `candidate` is worse than `baseline` (negative when it is better).
double worse_percent(double baseline, double candidate, bool higher_better);

// Runs the tasks on the model at `model_path`. The run has kind "" (the caller names it), the
// task file's sha256, the metric, and the figures quality, ttft_ms_p50, ttft_ms_p95,
// latency_ms_p95 and tokens_per_s.
MetricRun evaluate_model(const std::filesystem::path& model_path, const EvaluationOptions& options);
// The same for several models, their passes interleaved (for comparisons); one run per path.
std::vector<MetricRun> evaluate_models(const std::vector<std::filesystem::path>& model_paths,
                                       const EvaluationOptions& options);

}  // namespace bantam::hub
