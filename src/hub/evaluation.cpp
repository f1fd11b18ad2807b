#include "hub/evaluation.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bantam/bantam.hpp"
#include "bantam/error.hpp"
#include "eval/task_eval.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

std::string prompt_then_reference(const EvalTask& t) {
  const bool prompt_ends_blank = t.prompt.empty() || std::isspace(static_cast<unsigned char>(t.prompt.back()));
  const bool reference_starts_word =
      !t.reference.empty() && std::isalnum(static_cast<unsigned char>(t.reference.front()));
  return t.prompt + (!prompt_ends_blank && reference_starts_word ? " " : "") + t.reference;
}

// exp(mean negative log-likelihood) of every reference token given the prompt and the reference
// tokens before it.
double reference_perplexity(const EvaluationOptions& o, const std::filesystem::path& model_path) {
  const auto model = Model::load(model_path.string());
  const auto tasks = read_eval_tasks(o.tasks_file, *model);
  Session session(model, {.context_length = o.context, .threads = o.threads});
  const auto n_vocab = static_cast<size_t>(model->info().n_vocab);
  double nll = 0;
  size_t scored = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto prompt = model->tokenize(tasks[i].prompt, true, true);
    const auto joint = model->tokenize(prompt_then_reference(tasks[i]), true, true);
    if (static_cast<int64_t>(joint.size()) >= o.context) {
      throw Error(fmt::format("{}: task {} has {} tokens with its reference; the context is {}",
                              o.tasks_file.string(), i + 1, joint.size(), o.context));
    }
    // Tokens shared with the prompt alone are context; the rest is the reference.
    size_t first = 0;
    while (first < prompt.size() && first < joint.size() && prompt[first] == joint[first]) ++first;
    first = std::max<size_t>(first, 1);
    if (first >= joint.size()) continue;
    session.reset();
    const std::vector<float> logits = session.evaluate(joint);
    for (size_t pos = first; pos < joint.size(); ++pos) {
      const float* row = logits.data() + (pos - 1) * n_vocab;
      const float top = *std::max_element(row, row + n_vocab);
      double sum = 0;
      for (size_t v = 0; v < n_vocab; ++v) sum += std::exp(static_cast<double>(row[v] - top));
      nll -= static_cast<double>(row[joint[pos]] - top) - std::log(sum);
      ++scored;
    }
  }
  if (scored == 0) throw Error(fmt::format("{}: no reference has any token to score", o.tasks_file.string()));
  return std::exp(nll / static_cast<double>(scored));
}

// Greedy answers to every task, timed; latency figures merge into `run` keeping the best seen.
void answer_pass(const std::filesystem::path& model_path, const EvaluationOptions& o, bool score, MetricRun& run) {
  TaskEvalOptions answers;
  answers.model = model_path.string();
  answers.tasks_file = o.tasks_file.string();
  // Perplexity needs no answers, but latency does; exact match is the cheapest score beside them.
  answers.metric = o.metric == "perplexity" ? "exact" : o.metric;
  answers.max_tokens = o.max_tokens;
  answers.context = o.context;
  answers.threads = o.threads;
  const auto result = run_task_eval(answers);
  // Greedy answers are the same every pass.
  if (score && o.metric != "perplexity") run.values[figure::kQuality] = result["score"].get<double>();
  const auto keep = [&run](const char* key, double value, bool higher_better) {
    const auto it = run.values.find(key);
    if (it == run.values.end() || (higher_better ? value > it->second : value < it->second)) run.values[key] = value;
  };
  const auto& latency = result["latency"];
  keep(figure::kTtftP50, latency["ttft_ms"]["p50"].get<double>(), false);
  keep(figure::kTtftP95, latency["ttft_ms"]["p95"].get<double>(), false);
  keep(figure::kLatencyP95, latency["latency_ms"]["p95"].get<double>(), false);
  // Over all answers together: a per-answer rate of a few tokens is mostly timer noise.
  double generating_ms = 0, tokens_after_first = 0;
  for (const auto& item : result["items"]) {
    const auto tokens = item["output_tokens"].get<double>();
    if (tokens < 2) continue;
    generating_ms += item["latency_ms"].get<double>() - item["ttft_ms"].get<double>();
    tokens_after_first += tokens - 1;
  }
  if (generating_ms > 0) keep(figure::kTokensPerSecond, 1000.0 * tokens_after_first / generating_ms, true);
}

}  // namespace

bool higher_is_better(const std::string& metric) { return metric != "perplexity"; }

double worse_percent(double baseline, double candidate, bool higher_better) {
  const double diff = higher_better ? baseline - candidate : candidate - baseline;
  return 100.0 * diff / std::max(std::abs(baseline), 1e-9);
}

std::vector<MetricRun> evaluate_models(const std::vector<std::filesystem::path>& model_paths,
                                       const EvaluationOptions& o) {
  static const std::vector<std::string> kMetrics = {"perplexity", "exact", "rouge-l", "bleu", "chrf"};
  if (std::find(kMetrics.begin(), kMetrics.end(), o.metric) == kMetrics.end()) {
    throw Error(fmt::format("unknown quality metric '{}' (perplexity, exact, rouge-l, bleu, chrf)", o.metric));
  }
  std::vector<MetricRun> runs(model_paths.size());
  const std::string tasks_sha256 = sha256_file(o.tasks_file);
  for (auto& run : runs) {
    run.tasks_sha256 = tasks_sha256;
    run.quality_metric = o.metric;
  }
  // Passes alternate between the models, so a busy moment of the machine hits them alike.
  for (int pass = 0; pass < std::max(o.repeat, 1); ++pass) {
    for (size_t m = 0; m < model_paths.size(); ++m) answer_pass(model_paths[m], o, pass == 0, runs[m]);
  }
  if (o.metric == "perplexity") {
    for (size_t m = 0; m < model_paths.size(); ++m) runs[m].values[figure::kQuality] = reference_perplexity(o, model_paths[m]);
  }
  return runs;
}

MetricRun evaluate_model(const std::filesystem::path& model_path, const EvaluationOptions& o) {
  return evaluate_models({model_path}, o).front();
}

}  // namespace bantam::hub
