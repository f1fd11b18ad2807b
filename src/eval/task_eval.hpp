// `bantam eval`: greedy answers to a JSONL task set, scored with a standard metric, with
// latency statistics beside quality.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bantam {

class Model;

// One line of a task file: {"prompt" | "messages", "reference", optional "stop"}.
struct EvalTask {
  std::string prompt;  // rendered with the model's chat template when the line had "messages"
  std::string reference;
  std::vector<std::string> stop;
};

// Every task of a JSONL file; Error naming the file and line for a malformed one, or no tasks.
std::vector<EvalTask> read_eval_tasks(const std::string& path, const Model& model);

// Throws an Error naming the task file and line, with what is wrong there.
using TaskLineError = std::function<void(const std::string& what)>;
// The task files' shared reading (read_eval_tasks, route-eval): each non-blank line of the file
// (read with read_input_file's bounds), checked to be a JSON object with a string "reference" and,
// when present, a "stop" array of strings, handed to `task` with its error. Error: no tasks.
void for_each_task_line(const std::string& path,
                        const std::function<void(const nlohmann::json& line, const TaskLineError& fail)>& task);

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
