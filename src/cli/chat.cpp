// `bantam chat -m MODEL [--system TEXT]`: a multi-turn conversation on the model's chat template.
// On a terminal it prompts for each turn and Ctrl-C cuts the current reply short; otherwise every
// non-empty line of stdin is one user turn and the replies go to stdout. With routing flags (the
// ones `bantam serve` has) each turn, with the conversation so far, goes through the HybridRouter
// and gets its own route line on stderr; the conversation is resent every turn, so under
// `--sensitive keep-local` one that held personal data stays on the device from then on (not in
// the engine-only build, which has no hybrid layer).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#if BANTAM_CLI_SERVICES
#include "cli/services/route_options.hpp"
#endif
#include "cli/model_file.hpp"

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
#if BANTAM_CLI_SERVICES
    RouteFlags route;
#endif
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("chat", "Talk with a model on its chat template");
  cmd->add_option("-m,--model", opts->model, kModelOptionHelp)->required();
  cmd->add_option("--system", opts->system, "System message");
  add_engine_options(*cmd, opts->engine);
#if BANTAM_CLI_SERVICES
  add_route_options(*cmd, opts->route, "Hybrid routing", true);
#endif
  cmd->callback([opts] {
    const bool interactive = isatty(STDIN_FILENO) != 0;
    const auto model = Model::load(model_file(opts->model));
    opts->engine.session.adapters = load_adapters(opts->engine.lora, *model);
    print_thread_choice(opts->engine);
    Session session(model, opts->engine.session);
#if BANTAM_CLI_SERVICES
    std::unique_ptr<hybrid::HybridRouter> router;
    if (opts->route.any_given()) {
      hybrid::HybridOptions hybrid = resolve_route_options(opts->route);
      hybrid.router.local_context = opts->engine.session.context_length;
      router = std::make_unique<hybrid::HybridRouter>(std::move(hybrid));
    }
    const std::string model_id = std::filesystem::path(opts->model).stem().string();
#endif
    const TokenCallback print_token = [](const TokenEvent& event) {
      fmt::print("{}", event.text);
      std::fflush(stdout);
      return !g_interrupted.load();
    };
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
      auto generate_local = [&](const TokenCallback& on_token) {
        return session.generate(prompt, opts->engine.generate, on_token);
      };
#if BANTAM_CLI_SERVICES
      if (router) {
        hybrid::HybridRequest request;
        request.body = hybrid::turn_request(messages, opts->engine.generate, opts->route.overrides);
        request.prompt_tokens = static_cast<int64_t>(prompt.size()) + std::max(1, opts->engine.generate.max_tokens);
        try {
          const RoutedTurn turn = route_turn(*router, request, model_id, generate_local, print_token,
                                             [] { return !g_interrupted.load(); });
          g_generating.store(false);
          fmt::print("\n");
          if (interactive && turn.local) print_timings(*turn.local);
          messages.push_back({"assistant", turn.text});
        } catch (const hybrid::ClientGone&) {
          // Interrupted before an answer was chosen: the turn is dropped, the conversation goes on.
          g_generating.store(false);
          fmt::print("\n");
          messages.pop_back();
        } catch (const hybrid::RouteRefused& refused) {
          // No route may answer this turn (a safety rule, a blocked cloud request): say so and drop it.
          g_generating.store(false);
          fmt::print(stderr, "bantam: turn refused: {}\n", refused.what());
          fmt::print("\n");
          messages.pop_back();
        }
        continue;
      }
#endif
      const GenerateResult result = generate_local(print_token);
      g_generating.store(false);
      fmt::print("\n");
      if (interactive) print_timings(result);
      messages.push_back({"assistant", result.text});
    }
  });
}

}  // namespace bantam::cli
