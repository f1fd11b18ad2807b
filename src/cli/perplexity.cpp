// `bantam perplexity -m MODEL -f TEXT [-c 512] [-b N] [--chunks K] [--kl-divergence-base FILE]
//                    [--lora FILE[:SCALE]]... [-o text|json]`
// `bantam perplexity -m MODEL --kl-divergence-base FILE --kl-divergence [...]`
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#include "eval/perplexity.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

void add_perplexity_command(CLI::App& app) {
  auto opts = std::make_shared<PerplexityOptions>();
  auto output = std::make_shared<std::string>("text");
  auto lora = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("perplexity", "Perplexity (and KL divergence) on a text file");
  cmd->add_option("-m,--model", opts->model, kModelOptionHelp)->required();
  auto* file = cmd->add_option("-f,--file", opts->text_file, "Text file");
  cmd->add_option("-c,--ctx,--ctx-size", opts->context, "Tokens per chunk")->check(CLI::Range(4, 1 << 20));
  cmd->add_option("-b,--batch-size", opts->batch_size, "Tokens per forward pass (default: ctx)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option_function<int>("-t,--threads", [opts](int n) { opts->threads = capped_threads(n); },
                                "Threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--chunks", opts->max_chunks, "Score at most this many chunks");
  cmd->add_option("--kl-divergence-base", opts->kl_divergence_base,
                  "llama-perplexity KL base file: written from this model, or read with --kl-divergence");
  auto* kl = cmd->add_flag("--kl-divergence", opts->kl_divergence,
                           "Score KL divergence against --kl-divergence-base (its tokens replace -f)");
  file->excludes(kl);
  cmd->add_option("-o,--output", *output, "text or json")->check(CLI::IsMember({"text", "json"}));
  add_kv_type_options(*cmd, opts->kv_types);
  add_lora_option(*cmd, *lora);
  cmd->callback([opts, output, lora, file] {
    if (!opts->kl_divergence && file->count() == 0) throw Error("perplexity needs -f TEXT (or --kl-divergence with a --kl-divergence-base file)");
    for (const std::string& spec : *lora) opts->adapters.push_back(parse_lora_spec(spec));
    opts->progress = [](int chunk, int n, double ppl) {
      fmt::print(stderr, "[{}/{}] ppl {:.4f}\n", chunk, n, ppl);
    };
    opts->model = model_file(opts->model);
    const auto r = compute_perplexity(*opts);
    if (*output == "json") {
      fmt::print("{}\n", perplexity_to_json(r).dump(2));
      return;
    }
    fmt::print("PPL = {:.4f} +/- {:.5f} ({} chunks of {} tokens, {} scored)\n", r.ppl, r.ppl_stderr,
               r.chunks, r.ctx, r.scored);
    if (r.has_kl) {
      fmt::print("KL divergence: mean {:.6f} +/- {:.6f}, median {:.6f}, p90 {:.6f}, p99 {:.6f}, max {:.6f}\n",
                 r.kl_mean, r.kl_stderr, r.kl_median, r.kl_p90, r.kl_p99, r.kl_max);
      fmt::print("top-1 agreement {:.2f}%, base PPL {:.4f}, delta PPL {:+.4f}\n", 100 * r.top1_agreement,
                 r.base_ppl, r.delta_ppl);
    }
  });
}

}  // namespace bantam::cli
