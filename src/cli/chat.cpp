// `bantam chat -m MODEL [--system TEXT] [-p TEXT]`: a multi-turn conversation on the model's chat
// template. On a terminal it prompts for each turn, with line editing and a history file when the
// build has libedit (src/cli/line_reader.hpp), and Ctrl-C cuts the current reply short; otherwise
// every non-empty line of stdin is one user turn and the replies go to stdout. Slash commands
// (/help, /bye, /clear, /system, /save) and """-delimited blocks work either way; -p asks one
// question and exits. When the conversation no longer fits the context, its oldest whole turns
// are dropped (the system prompt kept) with one line on stderr, unless a cloud route is there to
// take it whole. With routing flags (the ones
// `bantam serve` has) each turn, with the conversation so far, goes through the HybridRouter and
// gets its own route line on stderr; the conversation is resent every turn, so under `--sensitive
// keep-local` one that held personal data stays on the device from then on (not in the
// engine-only build, which has no hybrid layer).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "cli/chat_conversation.hpp"
#include "cli/commands.hpp"
#include "cli/generation_options.hpp"
#include "cli/line_reader.hpp"
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

struct ChatOptions {
  std::string model;
  std::string system;
  std::string prompt;
  EngineOptions engine;
#if BANTAM_CLI_SERVICES
  RouteFlags route;
#endif
};

// Tokens kept free for the reply when deciding whether the conversation still fits: -n (at most
// half the context), or a quarter of the context when the reply may run until done.
int64_t reply_room(int max_tokens, int64_t context) {
  return max_tokens > 0 ? std::min<int64_t>(max_tokens, context / 2) : context / 4;
}

class Chat {
 public:
  Chat(const ChatOptions& options, bool terminal)
      : options_(options),
        terminal_(terminal),
        model_(Model::load(model_file(options.model))),
        model_id_(std::filesystem::path(options.model).stem().string()) {
    options_.engine.session.adapters = load_adapters(options_.engine.lora, *model_);
    options_.engine.session.speculative = resolve_speculative(options_.engine.speculative, true);
    print_thread_choice(options_.engine);
    session_ = std::make_unique<Session>(model_, options_.engine.session);
#if BANTAM_CLI_SERVICES
    if (options_.route.any_given()) {
      hybrid::HybridOptions hybrid = resolve_route_options(options_.route);
      hybrid.router.local_context = options_.engine.session.context_length;
      router_ = std::make_unique<hybrid::HybridRouter>(std::move(hybrid));
    }
#endif
    conversation_.set_system(options_.system);
  }

  // The user's message `text` answered on stdout; a turn that gets no answer is dropped again.
  void ask(const std::string& text) {
    conversation_.add("user", text);
    if (!cloud_takes_long_turns() && !make_room()) {
      conversation_.drop_last();
      return;
    }
    const std::vector<TokenId> prompt = model_->chat_tokens(conversation_.messages());
    g_interrupted.store(false);
    g_generating.store(true);
    const std::optional<std::string> reply = generate(prompt);
    g_generating.store(false);
    if (reply) {
      conversation_.add("assistant", *reply);
    } else {
      conversation_.drop_last();
    }
  }

  // Runs one slash command; false when it ends the chat.
  bool run_command(const ChatCommand& command) {
    switch (command.kind) {
      case ChatCommandKind::Bye: return false;
      case ChatCommandKind::Help: fmt::print("{}", chat_help()); break;
      case ChatCommandKind::Clear:
        conversation_.clear();
        fmt::print(stderr, "bantam: conversation cleared{}\n",
                   conversation_.system().empty() ? "" : " (the system prompt is kept)");
        break;
      case ChatCommandKind::System:
        conversation_.set_system(command.argument);
        fmt::print(stderr, "bantam: {}\n", command.argument.empty() ? "no system prompt" : "system prompt set");
        break;
      case ChatCommandKind::Save:
        if (command.argument.empty()) {
          fmt::print(stderr, "bantam: /save needs a file name\n");
        } else {
          try {
            conversation_.save(command.argument, model_id_);
            fmt::print(stderr, "bantam: conversation saved to {}\n", command.argument);
          } catch (const Error& e) {
            fmt::print(stderr, "bantam: {}\n", e.what());
          }
        }
        break;
      case ChatCommandKind::Unknown: {
        const auto close = closest_chat_command(command.argument);
        fmt::print(stderr, "bantam: unknown command {}{}; /help lists them\n", command.argument,
                   close ? fmt::format(" (did you mean {}?)", *close) : "");
        break;
      }
      case ChatCommandKind::Message: break;
    }
    return true;
  }

 private:
  // With a cloud route the router sends a conversation the local context cannot hold to the
  // cloud (reason prompt-too-long), whole: nothing is dropped then.
  bool cloud_takes_long_turns() const {
#if BANTAM_CLI_SERVICES
    return router_ && router_->has_cloud();
#else
    return false;
#endif
  }

  // Drops the oldest turns until the conversation and room for a reply fit the context; false
  // (said on stderr) when even the newest message alone does not fit.
  bool make_room() {
    const int64_t context = session_->context_length();
    const int64_t room = reply_room(options_.engine.generate.max_tokens, context);
    int64_t tokens = 0;
    const size_t dropped = conversation_.drop_oldest_turns_until([&](const std::vector<ChatMessage>& messages) {
      tokens = static_cast<int64_t>(model_->chat_tokens(messages).size());
      return tokens + room <= context;
    });
    if (dropped > 0) {
      fmt::print(stderr,
                 "bantam: the context ({} tokens) is full: dropped the {} of the conversation (the system "
                 "prompt is kept)\n",
                 context, dropped == 1 ? "oldest turn" : fmt::format("{} oldest turns", dropped));
    }
    if (tokens < context) return true;
    fmt::print(stderr, "bantam: this message ({} tokens with the system prompt) does not fit the context of {}; "
               "it was not sent (a larger -c, or /system to shorten the system prompt)\n", tokens, context);
    return false;
  }

  // Leading tokens of `prompt` that render the system prompt: what a context shift keeps.
  int system_tokens(const std::vector<TokenId>& prompt) const {
    if (conversation_.system().empty()) return 0;
    // A stand-in user turn: formats that fold the system prompt into the first user turn (Llama
    // 2's [INST]) render it only with one; the common prefix ends where the user's words begin.
    const std::vector<ChatMessage> system{{"system", conversation_.system()}, {"user", "x"}};
    std::vector<TokenId> alone;
    try {
      alone = model_->chat_tokens(system, false);
    } catch (const Error&) {
      return 0;  // a template that renders no system turn alone: nothing is kept but the BOS
    }
    const auto common = std::mismatch(alone.begin(), alone.end(), prompt.begin(), prompt.end());
    return static_cast<int>(common.first - alone.begin());
  }

  // The reply streamed to stdout; nullopt when no route could answer.
  std::optional<std::string> generate(const std::vector<TokenId>& prompt) {
    const TokenCallback print_token = [](const TokenEvent& event) {
      fmt::print("{}", event.text);
      std::fflush(stdout);
      return !g_interrupted.load();
    };
    GenerateOptions generate_options = options_.engine.generate;
    generate_options.keep = std::max<int>(generate_options.keep, system_tokens(prompt));
    auto generate_local = [&](const TokenCallback& on_token) {
      return session_->generate(prompt, generate_options, on_token);
    };
#if BANTAM_CLI_SERVICES
    if (router_) {
      hybrid::HybridRequest request;
      request.body = hybrid::turn_request(conversation_.messages(), options_.engine.generate, options_.route.overrides);
      const GenerateOptions& generate = options_.engine.generate;  // with context shift any reply length fits
      request.prompt_tokens =
          static_cast<int64_t>(prompt.size()) + (generate.context_shift ? 1 : std::max(1, generate.max_tokens));
      try {
        const RoutedTurn turn = route_turn(*router_, request, model_id_, generate_local, print_token,
                                           [] { return !g_interrupted.load(); });
        fmt::print("\n");
        if (terminal_ && turn.local) print_timings(*turn.local);
        return turn.text;
      } catch (const hybrid::ClientGone&) {
        fmt::print("\n");  // interrupted before an answer was chosen: the turn is dropped
        return std::nullopt;
      } catch (const hybrid::RouteRefused& refused) {
        // No route may answer this turn (a safety rule, a blocked cloud request): say so and drop it.
        fmt::print(stderr, "bantam: turn refused: {}\n", refused.what());
        fmt::print("\n");
        return std::nullopt;
      }
    }
#endif
    const GenerateResult result = generate_local(print_token);
    fmt::print("\n");
    if (terminal_) print_timings(result);
    return result.text;
  }

  ChatOptions options_;
  bool terminal_;
  std::shared_ptr<const Model> model_;
  std::string model_id_;
  std::unique_ptr<Session> session_;
#if BANTAM_CLI_SERVICES
  std::unique_ptr<hybrid::HybridRouter> router_;
#endif
  ChatConversation conversation_;
};

}  // namespace

void add_chat_command(CLI::App& app) {
  auto opts = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand(
      "chat", line_editing_built_in() ? "Talk with a model on its chat template (/help lists the commands)"
                                      : "Talk with a model on its chat template (/help lists the commands; built "
                                        "without libedit: no line editing or history)");
  cmd->add_option("-m,--model", opts->model, kModelOptionHelp)->required();
  cmd->add_option("--system,--system-prompt", opts->system, "System message");
  auto* prompt = cmd->add_option("-p,--prompt", opts->prompt, "Ask this one question, print the answer and exit");
  add_engine_options(*cmd, opts->engine);
#if BANTAM_CLI_SERVICES
  add_route_options(*cmd, opts->route, "Hybrid routing", true);
#endif
  cmd->callback([opts, prompt] {
    const bool terminal = !*prompt && isatty(STDIN_FILENO) != 0;
    Chat chat(*opts, terminal);
    std::signal(SIGINT, on_sigint);
    if (*prompt) {
      chat.ask(opts->prompt);
      return;
    }
    LineReader reader(terminal, terminal ? chat_history_path() : std::nullopt);
    while (const std::optional<std::string> entry = read_chat_entry(reader)) {
      if (entry->empty()) continue;
      const ChatCommand command = parse_chat_command(*entry);
      if (command.kind == ChatCommandKind::Message) {
        chat.ask(*entry);
      } else if (!chat.run_command(command)) {
        return;
      }
    }
    if (terminal) fmt::print("\n");  // Ctrl-D leaves the cursor after the prompt
  });
}

}  // namespace bantam::cli
