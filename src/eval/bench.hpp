// `bantam bench`: prompt processing (pp) and generation (tg) speed like llama-bench, with
// llama-bench's JSON field names so tools that read its output read bantam's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "eval/svg_chart.hpp"

namespace bantam {

struct BenchOptions {
  std::vector<std::string> models;
  std::vector<std::pair<std::string, float>> adapters;  // LoRA files and scales, applied to every model
  std::vector<int> n_prompt = {512};
  std::vector<int> n_gen = {128};
  std::vector<int> threads = {1, 2};
  int repetitions = 5;
  int batch_size = 512;
  int64_t context = 0;  // 0: n_prompt + n_gen
  KvCacheTypes kv_types = {};
  std::function<void(const std::string&)> progress;
};

// One object per (model, test, threads), in llama-bench's shape plus bantam's own fields.
nlohmann::ordered_json run_bench(const BenchOptions& options);

std::string format_bench_table(const nlohmann::ordered_json& results);  // markdown-like table
std::string format_bench_csv(const nlohmann::ordered_json& results);

// tok/s of run_bench's results: a group of bars per test (pp512, tg128), a bar per thread count
// (and model, when there are several), titled with the model.
svg::BarChart bench_chart(const nlohmann::ordered_json& results);

// A warning for each result whose tok/s spread (stddev) exceeds `max_relative` of its mean: a
// noisy machine, too few repetitions, or too short a test.
std::vector<std::string> bench_spread_warnings(const nlohmann::ordered_json& results, double max_relative = 0.2);

// Facts about this machine for a self-contained result row.
std::string cpu_model_name();
uint64_t peak_rss_bytes();  // VmHWM of this process

}  // namespace bantam
