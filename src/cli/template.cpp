// `bantam template (-m MODEL | --template FILE) --messages FILE.json [--tools FILE.json]
//   [--add-generation-prompt] [--bos S] [--eos S] [--now DATE]`: prints the rendered prompt
// exactly, with no newline added.
#include <fmt/format.h>

#include <cstdio>

#include "bantam/error.hpp"
#include "cli/commands.hpp"
#include "format/gguf.hpp"
#include "format/input_file.hpp"
#include "format/json_input.hpp"
#include "text/chat_template.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {
namespace {

nlohmann::ordered_json read_json(const std::string& path, std::string_view what) {
  try {
    return read_json_file<nlohmann::ordered_json>(path);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", what, e.what()));
  }
}

}  // namespace

void add_template_command(CLI::App& app) {
  struct Options {
    std::string model;
    std::string template_file;
    std::string messages;
    std::string tools;
    std::string bos;
    std::string eos;
    std::string now;
    bool add_generation_prompt = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("template", "Render a chat prompt with a model's chat template");
  auto* model = cmd->add_option("-m,--model", opts->model, kModelOptionHelp);
  auto* file = cmd->add_option("--template", opts->template_file, "Jinja template file");
  model->excludes(file);
  cmd->add_option("--messages", opts->messages, "JSON file with the messages array")->required();
  cmd->add_option("--tools", opts->tools, "JSON file with the tools array");
  cmd->add_flag("--add-generation-prompt", opts->add_generation_prompt,
                "End with the header of the assistant's turn");
  auto* bos = cmd->add_option("--bos", opts->bos, "BOS token text (default: the model's)");
  auto* eos = cmd->add_option("--eos", opts->eos, "EOS token text (default: the model's)");
  cmd->add_option("--now", opts->now, "Date for strftime_now, YYYY-MM-DD[ HH:MM[:SS]]");
  cmd->callback([opts, model, file, bos, eos] {
    if (model->count() == 0 && file->count() == 0) {
      throw Error("template: give a model (-m) or a template file (--template)");
    }
    std::optional<ChatTemplate> chat;
    if (model->count() > 0) {
      bool fallback = false;
      chat.emplace(ChatTemplate::from_gguf(gguf::File::open(model_file(opts->model)), &fallback));
      if (fallback) {
        fmt::print(stderr, "bantam: {} has no chat template; using the built-in {} format\n",
                   opts->model, chat->fallback_format());
      }
    } else {
      chat.emplace(read_input_file(opts->template_file), opts->template_file);
    }
    check_chat_template(*chat);
    ChatRenderOptions options;
    options.add_generation_prompt = opts->add_generation_prompt;
    if (!opts->tools.empty()) options.tools = read_json(opts->tools, "tools file");
    if (bos->count() > 0) options.bos_token = opts->bos;
    if (eos->count() > 0) options.eos_token = opts->eos;
    options.now = opts->now;
    const std::string prompt = chat->render(read_json(opts->messages, "messages file"), options);
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  });
}

}  // namespace bantam::cli
