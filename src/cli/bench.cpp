// `bantam bench -m MODEL [-m MODEL2 ...] [-p 512] [-n 128] [-t 1,2] [-r 5] [--lora FILE[:SCALE]]...
//               [-o table|json|csv|md] [--plot FILE.svg]`
// Speculative decoding instead: `--verify-cost K` (passes of 1..K tokens against one) or
// `--spec-prompt TEXT` (greedy generation with drafts against without: -md, --lookup, ...).
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#include "eval/bench.hpp"
#include "eval/spec_bench.hpp"
#include "format/input_file.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

namespace {

// --verify-cost and --spec-prompt: for each model and thread count, a table (or JSON).
void run_speculative_bench(BenchOptions& opts, int verify_cost, const std::string& spec_prompt,
                           const SpeculativeFlags& spec, bool json) {
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const std::string& name : opts.models) {
    for (const int threads : opts.threads) {
      if (verify_cost > 0) {
        const auto rows = run_verify_cost({.model = model_file(name), .max_k = verify_cost,
                                           .repetitions = opts.repetitions, .threads = capped_threads(threads)});
        if (!json) fmt::print("{}", format_verify_cost(rows));
        for (const auto& row : rows) results.push_back(row);
        continue;
      }
      const std::string prompt = spec_prompt.starts_with('@') ? read_input_file(spec_prompt.substr(1)) : spec_prompt;
      const auto row = run_spec_bench({.model = model_file(name), .prompt = prompt,
                                       .speculative = resolve_speculative(spec, true), .n_gen = opts.n_gen.front(),
                                       .repetitions = opts.repetitions, .threads = capped_threads(threads)});
      if (!json) fmt::print("{} t={}: {}", name, threads, format_spec_bench(row));
      results.push_back(row);
    }
  }
  if (json) fmt::print("{}\n", results.dump(2));
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto opts = std::make_shared<BenchOptions>();
  auto output = std::make_shared<std::string>("table");
  auto lora = std::make_shared<std::vector<std::string>>();
  auto plot = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("bench", "Measure prompt and generation speed (like llama-bench)");
  cmd->add_option("-m,--model", opts->models, fmt::format("{} (repeatable)", kModelOptionHelp))->required();
  cmd->add_option("-p,--n-prompt", opts->n_prompt, "Prompt lengths (comma-separated)")->delimiter(',');
  cmd->add_option("-n,--n-gen", opts->n_gen, "Generation lengths (comma-separated)")->delimiter(',');
  cmd->add_option("-t,--threads", opts->threads, "Thread counts (comma-separated)")->delimiter(',');
  cmd->add_option("-r,--repetitions", opts->repetitions, "Repetitions per test")->check(CLI::Range(1, 1000));
  cmd->add_option("-b,--batch-size", opts->batch_size, "Prompt tokens per forward pass")->check(CLI::Range(1, 65536));
  cmd->add_option("--ctx", opts->context, "KV cache size (default: what the tests need)");
  cmd->add_option("-o,--output", *output, "table, json, csv or md")
      ->check(CLI::IsMember({"table", "json", "csv", "md"}));
  cmd->add_option("--plot", *plot, "Also draw tok/s by test and thread count as an SVG chart into this file");
  add_kv_type_options(*cmd, opts->kv_types);
  add_lora_option(*cmd, *lora);
  auto verify_cost = std::make_shared<int>(0);
  auto spec_prompt = std::make_shared<std::string>();
  auto spec = std::make_shared<SpeculativeFlags>();
  cmd->add_option("--verify-cost", *verify_cost, "Time passes of 1..K tokens against one decode step instead")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--spec-prompt", *spec_prompt,
                  "Generate -n tokens from this prompt (@FILE: from a file) with and without speculation instead");
  add_speculative_options(*cmd, *spec);
  cmd->callback([opts, output, lora, plot, verify_cost, spec_prompt, spec] {
    if (*verify_cost > 0 || !spec_prompt->empty()) {
      run_speculative_bench(*opts, *verify_cost, *spec_prompt, *spec, *output == "json");
      return;
    }
    for (const std::string& spec : *lora) opts->adapters.push_back(parse_lora_spec(spec));
    for (int& threads : opts->threads) threads = capped_threads(threads);
    opts->progress = [](const std::string& what) { fmt::print(stderr, "bench: {}\n", what); };
    for (std::string& model : opts->models) model = model_file(model);
    const auto results = run_bench(*opts);
    for (const std::string& warning : bench_spread_warnings(results)) fmt::print(stderr, "warning: {}\n", warning);
    if (!plot->empty()) svg::write_svg_file(*plot, svg::render(bench_chart(results)));
    if (*output == "json") {
      fmt::print("{}\n", results.dump(2));
    } else if (*output == "csv") {
      fmt::print("{}", format_bench_csv(results));
    } else {
      fmt::print("{}", format_bench_table(results));
    }
  });
}

}  // namespace bantam::cli
