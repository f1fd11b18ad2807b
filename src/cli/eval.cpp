// `bantam eval -m MODEL --tasks FILE.jsonl [--metric exact|rouge-l|bleu|chrf] [-o json]`
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "eval/task_eval.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

void add_eval_command(CLI::App& app) {
  auto opts = std::make_shared<TaskEvalOptions>();
  auto output = std::make_shared<std::string>("text");
  auto* cmd = app.add_subcommand("eval", "Score greedy answers on a JSONL task set");
  cmd->add_option("-m,--model", opts->model, kModelOptionHelp)->required();
  cmd->add_option("--tasks", opts->tasks_file, "JSONL: prompt or messages, and reference")->required();
  cmd->add_option("--metric", opts->metric, "exact, rouge-l, bleu or chrf")
      ->check(CLI::IsMember({"exact", "rouge-l", "bleu", "chrf"}));
  cmd->add_option("-n,--max-tokens", opts->max_tokens, "Tokens per answer")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("-c,--ctx,--ctx-size", opts->context, "Context length")->check(CLI::Range(16, 1 << 22));
  cmd->add_option("-t,--threads", opts->threads, "Threads (0: all cores)");
  cmd->add_option("-o,--output", *output, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([opts, output] {
    auto bar = std::make_shared<ProgressBar>("eval");
    opts->progress = [bar](size_t done, size_t total) {
      bar->update(static_cast<double>(done) / static_cast<double>(total), fmt::format("{}/{}", done, total));
    };
    opts->model = model_file(opts->model);
    const auto result = run_task_eval(*opts);
    bar->finish();
    if (*output == "json") {
      fmt::print("{}\n", result.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return;
    }
    const auto& lat = result["latency"];
    fmt::print("{} = {:.4f} over {} items\n", result["metric"].get<std::string>(), result["score"].get<double>(),
               result["n"].get<size_t>());
    fmt::print("time to first token: mean {:.1f} ms, p50 {:.1f} ms, p95 {:.1f} ms\n",
               lat["ttft_ms"]["mean"].get<double>(), lat["ttft_ms"]["p50"].get<double>(),
               lat["ttft_ms"]["p95"].get<double>());
    fmt::print("latency per item: mean {:.1f} ms, p95 {:.1f} ms\n", lat["latency_ms"]["mean"].get<double>(),
               lat["latency_ms"]["p95"].get<double>());
  });
}

}  // namespace bantam::cli
