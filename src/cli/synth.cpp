// `bantam synth --arch ARCH --preset NAME --type TYPE OUT.gguf [--vocab FILE]`
#include <thread>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "eval/synth.hpp"

namespace bantam::cli {

void add_synth_command(CLI::App& app) {
  auto opts = std::make_shared<SynthOptions>();
  opts->file_type = "F16";
  opts->threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string presets;
  for (const auto& p : synth_presets()) presets += (presets.empty() ? "" : ", ") + p.name;
  auto* cmd = app.add_subcommand("synth", "Write a random-weight model of a real model's shape");
  cmd->add_option("--preset", opts->preset, "Shape: " + presets)->required();
  cmd->add_option("--arch", opts->arch, "Architecture (checked against the preset)");
  cmd->add_option("--type", opts->file_type, "File type: F16, Q8_0, Q4_0, Q4_K_M, ...");
  cmd->add_option("--vocab", opts->vocab_file, "Copy the tokenizer from this GGUF");
  cmd->add_option("--seed", opts->seed, "Random seed");
  cmd->add_option("--layers", opts->layers, "Fewer layers of the same shape (for quick tests)");
  cmd->add_option("-t,--threads", opts->threads, "Threads");
  cmd->add_option("out", opts->out, "Output GGUF")->required();
  cmd->callback([opts] {
    auto bar = std::make_shared<ProgressBar>("synth " + opts->preset);
    opts->progress = [bar](size_t done, size_t total, const std::string& name) {
      bar->update(static_cast<double>(done) / static_cast<double>(total), name);
    };
    write_synthetic_model(*opts);
    bar->finish(opts->out);
  });
}

}  // namespace bantam::cli
