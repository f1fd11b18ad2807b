// `bantam lora merge BASE.gguf ADAPTER.gguf[:SCALE]... OUT.gguf [--type TYPE]`: a copy of the base
// with the adapters folded into its weights.
#include <fmt/format.h>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#include "cli/progress.hpp"
#include "model/lora_merge.hpp"

namespace bantam::cli {

void add_lora_command(CLI::App& app) {
  auto* lora = app.add_subcommand("lora", "LoRA adapters");
  lora->require_subcommand(1);
  struct Options {
    std::vector<std::string> files;  // BASE, ADAPTER[:SCALE]..., OUT
    std::string type;
  };
  auto opts = std::make_shared<Options>();
  auto* merge = lora->add_subcommand("merge", "Fold adapters into a copy of the base model's weights");
  merge->add_option("files", opts->files, "BASE.gguf ADAPTER.gguf[:SCALE]... OUT.gguf")->required()->expected(3, -1);
  merge->add_option("--type", opts->type, "Type of the merged matrices (F32, F16, Q8_0, ...; default: as in BASE)");
  merge->callback([opts] {
    LoraMergeOptions options;
    options.base = opts->files.front();
    options.output = opts->files.back();
    for (size_t i = 1; i + 1 < opts->files.size(); ++i) options.adapters.push_back(parse_lora_spec(opts->files[i]));
    if (!opts->type.empty()) {
      options.type = type_from_name(opts->type);
      if (!options.type) throw Error(fmt::format("lora merge: unknown type {}", opts->type));
    }
    auto bar = std::make_shared<ProgressBar>("lora merge");
    options.progress = [bar](size_t done, size_t total, const std::string& name) {
      bar->update(static_cast<double>(done) / static_cast<double>(total), name);
    };
    const LoraMergeReport report = merge_lora(options);
    for (const auto& f : report.fallbacks) {
      fmt::print(stderr, "lora merge: {} rows are no whole number of {} blocks; written as {}\n", f.tensor,
                 type_name(f.wanted), type_name(f.written));
    }
    bar->finish(fmt::format("{} tensors, {} merged -> {}", report.tensors, report.merged_tensors, options.output));
  });
}

}  // namespace bantam::cli
