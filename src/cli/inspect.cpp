// `bantam inspect MODEL [--json] [--tensors]`
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "format/gguf.hpp"
#include "format/inspect.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

void add_inspect_command(CLI::App& app) {
  struct Options {
    std::string model;
    bool json = false;
    bool tensors = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("inspect", "Show what a GGUF file holds");
  cmd->add_option("model", opts->model, kModelOptionHelp)->required();
  cmd->add_flag("--json", opts->json, "Print one JSON object");
  cmd->add_flag("--tensors", opts->tensors, "List every tensor (name, type, shape, offset)");
  cmd->callback([opts] {
    const auto file = gguf::File::open(model_file(opts->model));
    const auto summary = inspect_gguf(file, {.tensors = opts->tensors});
    if (opts->json) {
      fmt::print("{}\n", summary.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    } else {
      fmt::print("{}", format_inspect_text(summary));
    }
  });
}

}  // namespace bantam::cli
