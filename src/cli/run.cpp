// `bantam run -m MODEL (-p PROMPT | -f FILE | --prompt-ids IDS) [options]`: one continuation,
// streamed to stdout as it is generated; timings on stderr. With routing flags (the ones `bantam
// serve` has) the prompt goes through the HybridRouter as one user message, and a route line on
// stderr says where it ran and why (not in the engine-only build, which has no hybrid layer).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#if BANTAM_CLI_SERVICES
#include "cli/services/route_options.hpp"
#endif
#include "format/input_file.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

namespace {

std::vector<TokenId> parse_ids(const std::string& text) {
  std::vector<TokenId> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long value = -1;
    try {
      value = std::stol(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || value < 0 || value > INT32_MAX) {
      throw Error(fmt::format("--prompt-ids: '{}' is not a token id", word));
    }
    ids.push_back(static_cast<TokenId>(value));
  }
  return ids;
}

}  // namespace

void add_run_command(CLI::App& app) {
  struct Options {
    std::string model;
    std::string prompt;
    std::string prompt_file;
    std::string prompt_ids;
    bool print_ids = false;
    EngineOptions engine;
#if BANTAM_CLI_SERVICES
    RouteFlags route;
#endif
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("run", "Continue a prompt with a model, streaming the text");
  cmd->add_option("-m,--model", opts->model, kModelOptionHelp)->required();
  auto* prompt = cmd->add_option("-p,--prompt", opts->prompt, "Prompt text");
  auto* file = cmd->add_option("-f,--file", opts->prompt_file, "Read the prompt from a file");
  auto* ids = cmd->add_option("--prompt-ids", opts->prompt_ids, "Prompt as token ids (\"1 2 3\"), used as is");
  prompt->excludes(file)->excludes(ids);
  file->excludes(ids);
  cmd->add_flag("--ids", opts->print_ids, "Print the generated token ids instead of text");
  add_engine_options(*cmd, opts->engine);
#if BANTAM_CLI_SERVICES
  add_route_options(*cmd, opts->route, "Hybrid routing", true);
#endif
  cmd->callback([opts, prompt, file, ids] {
    if (!*prompt && !*file && !*ids) throw Error("run: give a prompt with -p, -f or --prompt-ids");
    const auto model = Model::load(model_file(opts->model));
    std::vector<TokenId> tokens;
    std::string text;
    if (*ids) {
      tokens = parse_ids(opts->prompt_ids);
    } else {
      text = *file ? read_input_file(opts->prompt_file) : opts->prompt;
      tokens = model->tokenize(text, true, true);
    }
    opts->engine.session.adapters = load_adapters(opts->engine.lora, *model);
    opts->engine.session.speculative = resolve_speculative(opts->engine.speculative, true);
    print_thread_choice(opts->engine);
    Session session(model, opts->engine.session);
    const TokenCallback print_token = [&](const TokenEvent& event) {
      if (opts->print_ids) {
        if (event.id >= 0) fmt::print("{} ", event.id);
      } else {
        fmt::print("{}", event.text);
      }
      std::fflush(stdout);
      return true;
    };
    auto generate_local = [&](const TokenCallback& on_token) {
      return session.generate(tokens, opts->engine.generate, on_token);
    };
#if BANTAM_CLI_SERVICES
    if (opts->route.any_given()) {
      hybrid::HybridOptions hybrid = resolve_route_options(opts->route);
      hybrid.router.local_context = opts->engine.session.context_length;
      hybrid::HybridRouter router(std::move(hybrid));
      // Token ids have no meaning at another model, so they stay with the local one.
      if (router.has_cloud() && (*ids || opts->print_ids))
        throw Error("run: --prompt-ids and --ids work on local token ids and cannot be combined with a cloud route");
      if (*ids) text = model->detokenize(tokens);  // what the safety rules and the audit log see
      const std::vector<ChatMessage> messages{{"user", text}};
      hybrid::HybridRequest request;
      request.body = hybrid::turn_request(messages, opts->engine.generate, opts->route.overrides);
      const auto& generate = opts->engine.generate;  // with context shift any reply length fits
      request.prompt_tokens =
          static_cast<int64_t>(tokens.size()) + (generate.context_shift ? 1 : std::max(1, generate.max_tokens));
      const RoutedTurn turn = route_turn(router, request, std::filesystem::path(opts->model).stem().string(),
                                         generate_local, print_token, [] { return true; });
      fmt::print("\n");
      if (turn.local) print_timings(*turn.local);
      return;
    }
#endif
    const GenerateResult result = generate_local(print_token);
    fmt::print("\n");
    print_timings(result);
  });
}

}  // namespace bantam::cli
