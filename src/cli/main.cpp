// `bantam SUBCOMMAND ...`: every subcommand is a thin client of the library. The commands over
// the hub, hybrid and serve layers (src/cli/services/) are registered only where the build has
// those layers (BANTAM_CLI_SERVICES, 0 in the engine-only build), in the same order as always.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bantam/error.hpp"
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"bantam: small language models on the devices people own"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bantam " BANTAM_VERSION);
  bantam::cli::add_inspect_command(app);
  bantam::cli::add_tokenize_commands(app);
#if BANTAM_CLI_SERVICES
  bantam::cli::add_hub_command(app);
  bantam::cli::add_pull_command(app);
  bantam::cli::add_store_commands(app);
  bantam::cli::add_monitor_commands(app);
#endif
  bantam::cli::add_synth_command(app);
  bantam::cli::add_quantize_command(app);
  bantam::cli::add_bench_command(app);
  bantam::cli::add_perplexity_command(app);
  bantam::cli::add_eval_command(app);
  bantam::cli::add_template_command(app);
  bantam::cli::add_run_command(app);
  bantam::cli::add_chat_command(app);
#if BANTAM_CLI_SERVICES
  bantam::cli::add_serve_command(app);
  bantam::cli::add_route_commands(app);
#endif
  bantam::cli::add_lora_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const bantam::Error& e) {
    fmt::print(stderr, "bantam: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bantam: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
