// `bantam quantize IN.gguf OUT.gguf TYPE [--threads N]`
#include <thread>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "quant/quantize_file.hpp"

namespace bantam::cli {

void add_quantize_command(CLI::App& app) {
  auto opts = std::make_shared<quant::QuantizeOptions>();
  opts->threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto* cmd = app.add_subcommand("quantize", "Quantize an F32/F16/BF16 GGUF model");
  cmd->add_option("input", opts->input, "Input GGUF (F32, F16 or BF16 weights)")->required();
  cmd->add_option("output", opts->output, "Output GGUF")->required();
  cmd->add_option("type", opts->file_type,
                  "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K, F16, ...")
      ->required();
  cmd->add_option("-t,--threads", opts->threads, "Threads");
  cmd->callback([opts] {
    // The bar lives in this scope so an error ends its line before the message is printed.
    ProgressBar bar("quantize " + opts->file_type);
    quant::QuantizeOptions run = *opts;
    run.progress = [&bar](uint64_t done, uint64_t total, const std::string&) { bar.bytes(done, total); };
    run.notice = [](const std::string& msg) { fmt::print(stderr, "note: {}\n", msg); };
    const auto report = quant::quantize_file(run);
    bar.finish(fmt::format("{} tensors, {:.2f} MiB -> {:.2f} MiB", report.tensors,
                            report.input_bytes / 1048576.0, report.output_bytes / 1048576.0));
  });
}

}  // namespace bantam::cli
