// `bantam chat -m MODEL [--system TEXT]`: a multi-turn conversation on the model's chat template.
// On a terminal it prompts for each turn and Ctrl-C cuts the current reply short; otherwise every
// non-empty line of stdin is one user turn and the replies go to stdout.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "cli/commands.hpp"
#include "cli/generation_options.hpp"

namespace bantam::cli {

namespace {

std::atomic<bool> g_generating{false};
std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  if (!g_generating.load()) _exit(130);  // at the input prompt Ctrl-C leaves
  g_interrupted.store(true);
}

}  // namespace

void add_chat_command(CLI::App& app) {
  struct Options {
    std::string model;
    std::string system;
    EngineOptions engine;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("chat", "Talk with a model on its chat template");
  cmd->add_option("-m,--model", opts->model, "GGUF model file")->required();
  cmd->add_option("--system", opts->system, "System message");
  add_engine_options(*cmd, opts->engine);
  cmd->callback([opts] {
    const bool interactive = isatty(STDIN_FILENO) != 0;
    const auto model = Model::load(opts->model);
    opts->engine.session.adapters = load_adapters(opts->engine.lora, *model);
    Session session(model, opts->engine.session);
    std::vector<ChatMessage> messages;
    if (!opts->system.empty()) messages.push_back({"system", opts->system});
    std::signal(SIGINT, on_sigint);

    std::string line;
    for (;;) {
      if (interactive) {
        fmt::print("> ");
        std::fflush(stdout);
      }
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      messages.push_back({"user", line});
      const std::vector<TokenId> prompt = model->chat_tokens(messages);
      g_interrupted.store(false);
      g_generating.store(true);
      const GenerateResult result = session.generate(prompt, opts->engine.generate, [](const TokenEvent& event) {
        fmt::print("{}", event.text);
        std::fflush(stdout);
        return !g_interrupted.load();
      });
      g_generating.store(false);
      fmt::print("\n");
      if (interactive) print_timings(result);
      messages.push_back({"assistant", result.text});
    }
  });
}

}  // namespace bantam::cli
