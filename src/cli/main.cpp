// `bantam SUBCOMMAND ...`: every subcommand is a thin client of the library. The commands over
// the hub, hybrid and serve layers (src/cli/services/) are registered only where the build has
// those layers (BANTAM_CLI_SERVICES, 0 in the engine-only build). `bantam --help` lists the
// commands in the order they are registered: the ones people start with (run, chat, serve, pull)
// first.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#include "cli/suggest.hpp"

namespace {

// llama.cpp's --n-gpu-layers on every command that runs a model, for commands typed from habit.
void add_gpu_layers_options(CLI::App& app) {
  for (const char* name : {"run", "chat", "serve", "bench", "perplexity", "eval"}) {
    for (CLI::App* command : app.get_subcommands([name](const CLI::App* sub) { return sub->get_name() == name; })) {
      bantam::cli::add_gpu_layers_option(*command);
    }
  }
}

// An empty list as a default says nothing ("=[]"): those options are repeatable, empty unless given.
void hide_empty_list_defaults(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_default_str() == "[]") option->default_str("");
  }
  for (CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) hide_empty_list_defaults(*sub);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bantam: small language models on the devices people own"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "bantam " BANTAM_VERSION);
  app.option_defaults()->always_capture_default();  // --help shows each option's default
  bantam::cli::add_run_command(app);
  bantam::cli::add_chat_command(app);
#if BANTAM_CLI_SERVICES
  bantam::cli::add_serve_command(app);
  bantam::cli::add_pull_command(app);
#endif
  bantam::cli::add_inspect_command(app);
  bantam::cli::add_tokenize_commands(app);
#if BANTAM_CLI_SERVICES
  bantam::cli::add_hub_command(app);
  bantam::cli::add_store_commands(app);
  bantam::cli::add_monitor_commands(app);
#endif
  bantam::cli::add_synth_command(app);
  bantam::cli::add_quantize_command(app);
  bantam::cli::add_bench_command(app);
  bantam::cli::add_perplexity_command(app);
  bantam::cli::add_eval_command(app);
  bantam::cli::add_template_command(app);
#if BANTAM_CLI_SERVICES
  bantam::cli::add_route_commands(app);
#endif
  bantam::cli::add_lora_command(app);
  bantam::cli::add_finetune_command(app);
  add_gpu_layers_options(app);
  hide_empty_list_defaults(app);
  try {
    std::vector<char*> args = bantam::cli::with_long_draft_flag(argc, argv);
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    // A mistyped name gets the closest known one in place of CLI11's message.
    const auto explained = e.get_exit_code() == 0 ? std::nullopt : bantam::cli::explain_unknown_name(app);
    if (!explained) return app.exit(e);
    fmt::print(stderr, "{}\nRun with --help for more information.\n", *explained);
    return e.get_exit_code();
  } catch (const bantam::Error& e) {
    fmt::print(stderr, "bantam: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bantam: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
