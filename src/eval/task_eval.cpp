#include "eval/task_eval.hpp"

#include <algorithm>
#include <chrono>
#include <sstream>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "format/input_file.hpp"
#include "eval/metrics.hpp"
#include "format/json_input.hpp"

namespace bantam {
namespace {

using nlohmann::ordered_json;

}  // namespace

void for_each_task_line(const std::string& path,
                        const std::function<void(const nlohmann::json& line, const TaskLineError& fail)>& task) {
  std::istringstream in(read_input_file(path));
  std::string line;
  int tasks = 0;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const TaskLineError fail = [&](const std::string& what) { throw Error(fmt::format("{}:{}: {}", path, n, what)); };
    nlohmann::json j;
    try {
      j = parse_json(line, "the line");
    } catch (const JsonInputError& e) {
      fail(fmt::format("not a JSON object ({})", e.what()));
    }
    if (!j.is_object()) fail("not a JSON object");
    if (!j.contains("reference") || !j["reference"].is_string()) fail("needs a string \"reference\"");
    if (j.contains("stop")) {
      if (!j["stop"].is_array()) fail("\"stop\" must be an array of strings");
      for (const auto& s : j["stop"]) {
        if (!s.is_string()) fail("\"stop\" must be an array of strings");
      }
    }
    task(j, fail);
    ++tasks;
  }
  if (tasks == 0) throw Error(fmt::format("{}: no tasks", path));
}

std::vector<EvalTask> read_eval_tasks(const std::string& path, const Model& model) {
  std::vector<EvalTask> tasks;
  for_each_task_line(path, [&](const nlohmann::json& j, const TaskLineError& fail) {
    EvalTask t;
    t.reference = j["reference"];
    if (j.contains("messages")) {
      if (!j["messages"].is_array()) fail("\"messages\" must be an array");
      std::vector<ChatMessage> messages;
      for (const auto& m : j["messages"]) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
            !m["content"].is_string()) {
          fail("each message needs string \"role\" and \"content\"");
        }
        messages.push_back({m["role"], m["content"]});
      }
      t.prompt = model.chat_prompt(messages, true);
    } else if (j.contains("prompt") && j["prompt"].is_string()) {
      t.prompt = j["prompt"];
    } else {
      fail("needs a string \"prompt\" or a \"messages\" array");
    }
    if (j.contains("stop")) t.stop = j["stop"].get<std::vector<std::string>>();
    tasks.push_back(std::move(t));
  });
  return tasks;
}

namespace {

double percentile(std::vector<double> xs, double q) {
  std::sort(xs.begin(), xs.end());
  return xs[std::min(xs.size() - 1, static_cast<size_t>(q * static_cast<double>(xs.size() - 1) + 0.5))];
}

ordered_json summary(const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  return {{"mean", sum / static_cast<double>(xs.size())}, {"p50", percentile(xs, 0.5)},
          {"p95", percentile(xs, 0.95)}, {"max", *std::max_element(xs.begin(), xs.end())}};
}

}  // namespace

ordered_json run_task_eval(const TaskEvalOptions& o) {
  static const std::vector<std::string> kMetrics = {"exact", "rouge-l", "bleu", "chrf"};
  if (std::find(kMetrics.begin(), kMetrics.end(), o.metric) == kMetrics.end()) {
    throw Error(fmt::format("unknown metric '{}' (exact, rouge-l, bleu, chrf)", o.metric));
  }
  const auto model = Model::load(o.model);
  const auto tasks = read_eval_tasks(o.tasks_file, *model);
  Session session(model, {.context_length = o.context, .threads = o.threads});

  ordered_json items = ordered_json::array();
  std::vector<std::string> hypotheses, references;
  std::vector<double> ttft_ms, total_ms, tokens_per_s;
  double item_score_sum = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const EvalTask& t = tasks[i];
    session.reset();
    GenerateOptions g;
    g.max_tokens = o.max_tokens;
    g.sampling.temperature = 0;
    g.stop = t.stop;
    const auto start = std::chrono::steady_clock::now();
    const auto prompt = model->tokenize(t.prompt, true, true);
    if (static_cast<int64_t>(prompt.size()) >= o.context) {
      throw Error(fmt::format("{}: task {} has a {}-token prompt; the context is {}", o.tasks_file, i + 1,
                              prompt.size(), o.context));
    }
    const GenerateResult r = session.generate(prompt, g);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::string answer = r.text;
    // Leading/trailing whitespace is formatting, not content.
    answer.erase(0, answer.find_first_not_of(" \n\t"));
    answer.erase(answer.find_last_not_of(" \n\t") + 1);
    double score = 0;
    if (o.metric == "exact") score = metrics::exact_match(answer, t.reference) ? 1.0 : 0.0;
    if (o.metric == "rouge-l") score = metrics::rouge_l_f1(answer, t.reference);
    if (o.metric == "bleu") score = metrics::corpus_bleu({answer}, {{t.reference}});
    if (o.metric == "chrf") score = metrics::corpus_chrf({answer}, {{t.reference}});
    item_score_sum += score;
    hypotheses.push_back(answer);
    references.push_back(t.reference);
    ttft_ms.push_back(r.first_token_seconds * 1e3);
    total_ms.push_back(ms);
    if (r.generation_seconds > 0) tokens_per_s.push_back(static_cast<double>(r.tokens.size()) / r.generation_seconds);
    items.push_back({{"index", i},
                     {"output", answer},
                     {"reference", t.reference},
                     {"score", score},
                     {"prompt_tokens", r.prompt_tokens},
                     {"output_tokens", r.tokens.size()},
                     {"stop_reason", stop_reason_name(r.stop_reason)},
                     {"ttft_ms", r.first_token_seconds * 1e3},
                     {"latency_ms", ms}});
    if (o.progress) o.progress(i + 1, tasks.size());
  }
  ordered_json out;
  out["model"] = o.model;
  out["tasks"] = o.tasks_file;
  out["metric"] = o.metric;
  // BLEU and chrF are corpus statistics; exact match and ROUGE-L average over items.
  if (o.metric == "bleu") {
    out["score"] = metrics::corpus_bleu(hypotheses, {references});
  } else if (o.metric == "chrf") {
    out["score"] = metrics::corpus_chrf(hypotheses, {references});
  } else {
    out["score"] = item_score_sum / static_cast<double>(tasks.size());
  }
  out["n"] = tasks.size();
  out["latency"] = {{"ttft_ms", summary(ttft_ms)}, {"latency_ms", summary(total_ms)}};
  if (!tokens_per_s.empty()) out["latency"]["tokens_per_s"] = summary(tokens_per_s);
  out["items"] = items;
  return out;
}

}  // namespace bantam
