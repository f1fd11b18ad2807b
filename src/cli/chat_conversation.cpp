#include "cli/chat_conversation.hpp"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/line_reader.hpp"
#include "cli/suggest.hpp"

namespace bantam::cli {

namespace {

constexpr std::string_view kBlockQuote = R"(""")";

struct CommandName {
  std::string_view name;
  ChatCommandKind kind;
  std::string_view help;
};

constexpr CommandName kCommands[] = {
    {"/help", ChatCommandKind::Help, "/help          this list"},
    {"/bye", ChatCommandKind::Bye, "/bye           leave (Ctrl-D too)"},
    {"/clear", ChatCommandKind::Clear, "/clear         forget the conversation, keep the system prompt"},
    {"/system", ChatCommandKind::System, "/system TEXT   set the system prompt (no TEXT: none)"},
    {"/save", ChatCommandKind::Save, "/save FILE     write the conversation as JSON chat messages"},
};

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }
bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string trimmed(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

}  // namespace

void ChatConversation::set_system(std::string text) { system_ = std::move(text); }

void ChatConversation::clear() { turns_.clear(); }

void ChatConversation::add(std::string role, std::string content) {
  turns_.push_back({std::move(role), std::move(content)});
}

void ChatConversation::drop_last() {
  if (!turns_.empty()) turns_.pop_back();
}

std::vector<ChatMessage> ChatConversation::messages() const {
  std::vector<ChatMessage> all;
  all.reserve(turns_.size() + 1);
  if (!system_.empty()) all.push_back({"system", system_});
  all.insert(all.end(), turns_.begin(), turns_.end());
  return all;
}

size_t ChatConversation::drop_oldest_turns_until(const std::function<bool(const std::vector<ChatMessage>&)>& fits) {
  size_t dropped = 0;
  while (!fits(messages())) {
    // The oldest turn ends where the next user message starts; none after it: it is the newest.
    size_t next_turn = 1;
    while (next_turn < turns_.size() && turns_[next_turn].role != "user") ++next_turn;
    if (next_turn >= turns_.size()) break;
    turns_.erase(turns_.begin(), turns_.begin() + static_cast<std::ptrdiff_t>(next_turn));
    ++dropped;
  }
  return dropped;
}

void ChatConversation::save(const std::filesystem::path& path, const std::string& model_id) const {
  // ordered_json: the fields in the order people write them (model, messages; role, content).
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const ChatMessage& m : this->messages()) messages.push_back({{"role", m.role}, {"content", m.content}});
  const nlohmann::ordered_json body = {{"model", model_id}, {"messages", std::move(messages)}};
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << body.dump(2) << '\n';
  out.close();
  if (!out) throw Error(fmt::format("/save {}: cannot write the file", path.string()));
}

std::optional<std::string> read_chat_entry(LineReader& reader) {
  std::optional<std::string> line = reader.read("> ");
  if (!line || !starts_with(*line, kBlockQuote)) return line;
  std::string block = line->substr(kBlockQuote.size());
  if (block.size() >= kBlockQuote.size() && ends_with(block, kBlockQuote)) {
    return block.substr(0, block.size() - kBlockQuote.size());  // """one line"""
  }
  bool first = block.empty();  // `"""` alone: the text starts on the next line
  while (std::optional<std::string> more = reader.read("... ")) {
    const bool closes = ends_with(*more, kBlockQuote);
    if (closes) more->resize(more->size() - kBlockQuote.size());
    if (!(closes && more->empty())) {
      if (!first) block += '\n';
      block += *more;
      first = false;
    }
    if (closes) break;
  }
  return block;
}

ChatCommand parse_chat_command(const std::string& entry) {
  if (!starts_with(entry, "/")) return {};
  const size_t space = entry.find_first_of(" \t");
  const std::string name = entry.substr(0, space);
  if (name.size() < 2 || name.find('/', 1) != std::string::npos) return {};  // a path, not a command
  const std::string argument = space == std::string::npos ? std::string() : trimmed(entry.substr(space));
  for (const CommandName& command : kCommands) {
    if (name == command.name) return {command.kind, argument};
  }
  return {ChatCommandKind::Unknown, name};
}

std::string chat_help() {
  std::string text;
  for (const CommandName& command : kCommands) text += fmt::format("{}\n", command.help);
  text += R"(""" ... """    a message of several lines)";
  text += "\n";
  return text;
}

std::optional<std::string> closest_chat_command(const std::string& unknown) {
  std::vector<std::string> names;
  for (const CommandName& command : kCommands) names.emplace_back(command.name);
  return closest_name(unknown, names);
}

}  // namespace bantam::cli
