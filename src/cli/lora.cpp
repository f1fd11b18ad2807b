// `bantam lora merge BASE.gguf ADAPTER.gguf[:SCALE]... OUT.gguf [--type TYPE]`: a copy of the base
// with the adapters folded into its weights. `bantam lora synth BASE.gguf OUT.gguf [--rank R]
// [--targets attn_q,attn_v] [--alpha A] [--type T] [--seed S]`: a random adapter for benchmarks.
#include <fmt/format.h>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#include "cli/progress.hpp"
#include "model/lora_merge.hpp"
#include "model/lora_synth.hpp"
#include "model/tensor_table.hpp"

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

  auto synth_opts = std::make_shared<LoraSynthOptions>();
  auto synth_type = std::make_shared<std::string>("F16");
  auto* synth = lora->add_subcommand("synth", "Write a random LoRA adapter for a model (for benchmarks)");
  synth->add_option("base", synth_opts->base, "The model the adapter is for")->required();
  synth->add_option("out", synth_opts->output, "Output adapter GGUF")->required();
  synth->add_option("--rank", synth_opts->rank, "Rank")->check(CLI::Range(1, 4096));
  synth->add_option("--alpha", synth_opts->alpha, "adapter.lora.alpha");
  std::vector<std::string_view> kinds;
  for (const TensorRole role : per_layer_lora_targets()) kinds.push_back(role_name(role));
  synth->add_option("--targets", synth_opts->targets,
                    fmt::format("Matrix kinds adapted in every layer: {}", fmt::join(kinds, ", ")))
      ->delimiter(',')
      ->capture_default_str();
  synth->add_option("--type", *synth_type, "Tensor type (F32, F16, BF16)");
  synth->add_option("--seed", synth_opts->seed, "Random seed");
  synth->callback([synth_opts, synth_type] {
    const auto type = type_from_name(*synth_type);
    if (!type) throw Error(fmt::format("lora synth: unknown type {}", *synth_type));
    synth_opts->type = *type;
    const LoraSynthReport report = synth_lora(*synth_opts);
    fmt::print(stderr, "lora synth: {} pairs of rank {}, {} bytes -> {}\n", report.pairs, synth_opts->rank,
               report.bytes, synth_opts->output);
  });
}

}  // namespace bantam::cli
