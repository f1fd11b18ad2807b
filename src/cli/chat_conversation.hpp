// What `bantam chat` keeps between turns and how it reads them: the system prompt and the turns
// after it, trimmed by whole turns when the context fills; one entry of input (a line, or a
// """-delimited block of lines); and the slash commands typed in place of a message.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bantam/bantam.hpp"

namespace bantam::cli {

class LineReader;

class ChatConversation {
 public:
  void set_system(std::string text);  // empty: no system prompt
  const std::string& system() const { return system_; }
  void clear();                       // forgets the turns, keeps the system prompt
  void add(std::string role, std::string content);
  void drop_last();                   // the user message of a turn that got no answer
  std::vector<ChatMessage> messages() const;  // the system prompt first, when there is one

  // While `fits` says the messages do not fit, drops the oldest whole turn (a user message and
  // the replies after it), never the system prompt nor the newest turn; returns the turns dropped.
  size_t drop_oldest_turns_until(const std::function<bool(const std::vector<ChatMessage>&)>& fits);

  // The messages as a JSON chat request body ({"model": ..., "messages": [...]}, OpenAI's shape),
  // written to `path`; Error naming the path when it cannot be written.
  void save(const std::filesystem::path& path, const std::string& model_id) const;

 private:
  std::string system_;
  std::vector<ChatMessage> turns_;
};

// One entry: a line, or the lines from one starting with """ to one ending with """ (the quotes
// left out, the lines joined by newlines; end of input closes an open block). nullopt at end of
// input.
std::optional<std::string> read_chat_entry(LineReader& reader);

enum class ChatCommandKind { Message, Help, Bye, Clear, System, Save, Unknown };

struct ChatCommand {
  ChatCommandKind kind = ChatCommandKind::Message;
  std::string argument;  // /system's text, /save's file, the unknown command's name
};

// An entry starting with '/' and a known command name is that command, with the rest of the
// entry as its argument; another word after '/' is Unknown; anything else is a message.
ChatCommand parse_chat_command(const std::string& entry);
// The /help text: one command a line.
std::string chat_help();
// The command closest to an unknown one ("/clera" -> "/clear"), if one is close.
std::optional<std::string> closest_chat_command(const std::string& unknown);

}  // namespace bantam::cli
