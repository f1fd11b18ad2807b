// `bantam eval`: greedy answers to a JSONL task set, scored with a standard metric, with
// latency statistics beside quality.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace bantam {

struct TaskEvalOptions {
  std::string model;
  std::string tasks_file;     // JSONL: {"prompt" | "messages", "reference", optional "stop"}
  std::string metric = "exact";  // exact | rouge-l | bleu | chrf
  int max_tokens = 128;
  int64_t context = 2048;
  int threads = 0;
  std::function<void(size_t done, size_t total)> progress;
};

// {"metric", "score", "items": [...per item...], "latency": {...}}; Error naming the line
// for malformed task files.
nlohmann::ordered_json run_task_eval(const TaskEvalOptions& options);

}  // namespace bantam
