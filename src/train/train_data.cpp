#include "train/train_data.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/input_file.hpp"
#include "format/json_input.hpp"

namespace bantam::train {

namespace {

// hash_bytes' mixing, kept local so the data layer needs nothing from checkpoints.
uint64_t mix(uint64_t h, uint64_t value) {
  h ^= value + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 31);
}

uint64_t hash_example(uint64_t h, const Example& e) {
  h = mix(h, e.tokens.size());
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    h = mix(h, (static_cast<uint64_t>(static_cast<uint32_t>(e.tokens[i])) << 1) | (e.target[i] ? 1u : 0u));
  }
  return h;
}

size_t common_prefix(std::span<const TokenId> a, std::span<const TokenId> b) {
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<size_t>(ia - a.begin());
}

// The template's tokens for `text`: special token texts recognized, BOS added only where the
// vocabulary wants one and the template did not write it (as Model::chat_tokens does).
std::vector<TokenId> chat_tokens(const std::string& text, const Tokenizer& tokenizer) {
  std::vector<TokenId> tokens = tokenizer.encode(text, false, true);
  if (tokenizer.add_bos() && tokenizer.bos() >= 0 && (tokens.empty() || tokens.front() != tokenizer.bos())) {
    tokens.insert(tokens.begin(), tokenizer.bos());
  }
  return tokens;
}

std::string render(const ChatTemplate& chat, const nlohmann::ordered_json& messages, size_t count,
                   bool generation_prompt) {
  nlohmann::ordered_json prefix = nlohmann::ordered_json::array();
  for (size_t i = 0; i < count; ++i) prefix.push_back(messages[i]);
  ChatRenderOptions options;
  options.add_generation_prompt = generation_prompt;
  return chat.render(prefix, options);
}

// Error unless `messages` is an array of {"role": string, "content": string} objects with at
// least one assistant message; `fail` names the file and line.
template <class Fail>
void check_messages(const nlohmann::ordered_json& line, const Fail& fail) {
  if (!line.is_object()) fail("not a JSON object");
  const auto it = line.find("messages");
  if (it == line.end() || !it->is_array()) fail("needs a \"messages\" array");
  bool has_assistant = false;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& m = (*it)[i];
    if (!m.is_object()) fail(fmt::format("messages[{}] is not an object", i));
    const auto role = m.find("role");
    const auto content = m.find("content");
    if (role == m.end() || !role->is_string()) fail(fmt::format("messages[{}] needs a string \"role\"", i));
    if (content == m.end() || !content->is_string()) fail(fmt::format("messages[{}] needs a string \"content\"", i));
    has_assistant = has_assistant || role->get<std::string>() == "assistant";
  }
  if (!has_assistant) fail("no \"assistant\" message to learn from");
}

DataFormat resolve_format(const std::string& path, DataFormat format) {
  if (format != DataFormat::Auto) return format;
  return path.ends_with(".jsonl") ? DataFormat::ChatJsonl : DataFormat::Text;
}

}  // namespace

size_t Example::target_count() const {
  return static_cast<size_t>(std::count_if(target.begin(), target.end(), [](uint8_t t) { return t != 0; }));
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::vector<size_t> epoch_order(size_t count, uint64_t seed, int epoch) {
  std::vector<size_t> order(count);
  for (size_t i = 0; i < count; ++i) order[i] = i;
  uint64_t state = seed ^ (0x5851f42d4c957f2dull * (static_cast<uint64_t>(epoch) + 1));
  for (size_t i = count; i > 1; --i) {
    // Multiply-shift keeps the draw unbiased enough for ordering and free of the library's
    // unspecified uniform_int_distribution.
    const auto j = static_cast<size_t>((static_cast<unsigned __int128>(splitmix64(state)) * i) >> 64);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<Example> pack_text(std::span<const TokenId> tokens, int context) {
  if (context < 2) throw Error(fmt::format("context {} is too small to train on (at least 2 tokens)", context));
  std::vector<Example> windows;
  const auto step = static_cast<size_t>(context - 1);
  for (size_t start = 0; start + 1 < tokens.size(); start += step) {
    const size_t end = std::min(tokens.size(), start + static_cast<size_t>(context));
    Example e;
    e.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(start), tokens.begin() + static_cast<std::ptrdiff_t>(end));
    e.target.assign(e.tokens.size(), 1);
    e.target[0] = 0;
    windows.push_back(std::move(e));
  }
  return windows;
}

Example chat_example(const nlohmann::ordered_json& messages, const ChatTemplate& chat, const Tokenizer& tokenizer) {
  const std::string whole = render(chat, messages, messages.size(), false);
  Example e;
  e.tokens = chat_tokens(whole, tokenizer);
  e.target.assign(e.tokens.size(), 0);
  for (size_t k = 0; k < messages.size(); ++k) {
    if (messages[k]["role"].get<std::string>() != "assistant") continue;
    const std::string before = render(chat, messages, k, true);
    const std::string through = render(chat, messages, k + 1, false);
    if (!whole.starts_with(through) || !through.starts_with(before)) {
      throw Error(fmt::format(
          "the chat template does not render messages[{}] as a continuation of the conversation before it "
          "(its rendering of a prefix is not a prefix of the whole), so its tokens cannot be found",
          k));
    }
    const size_t begin = common_prefix(chat_tokens(before, tokenizer), e.tokens);
    const size_t end = common_prefix(chat_tokens(through, tokenizer), e.tokens);
    for (size_t i = std::max<size_t>(begin, 1); i < end; ++i) e.target[i] = 1;
  }
  return e;
}

void split_held_out(Dataset& data, double eval_split, uint64_t seed) {
  if (!(eval_split >= 0 && eval_split < 1)) {
    throw Error(fmt::format("--eval-split {} must be at least 0 and below 1", eval_split));
  }
  std::vector<Example> all = std::move(data.train);
  data.train.clear();
  const size_t n = all.size();
  auto held = static_cast<size_t>(std::llround(eval_split * static_cast<double>(n)));
  if (eval_split > 0 && n >= 2) held = std::clamp<size_t>(held, 1, n - 1);
  if (n < 2) held = 0;
  std::vector<uint8_t> is_held(n, 0);
  const std::vector<size_t> order = epoch_order(n, seed, -1);
  for (size_t i = 0; i < held; ++i) is_held[order[i]] = 1;
  for (size_t i = 0; i < n; ++i) (is_held[i] ? data.held_out : data.train).push_back(std::move(all[i]));
}

Dataset load_dataset(const std::string& path, const Tokenizer& tokenizer, const ChatTemplate* chat,
                     const DataOptions& options) {
  if (options.context < 2) throw Error(fmt::format("-c {} is too small to train on (at least 2 tokens)", options.context));
  const std::string text = read_input_file(path);
  Dataset data;
  if (resolve_format(path, options.format) == DataFormat::Text) {
    if (text.empty()) throw Error(fmt::format("{}: the file is empty", path));
    data.train = pack_text(tokenizer.encode(text, true, false), options.context);
  } else {
    if (!chat) throw Error(fmt::format("{}: chat data needs a chat template, and the model has none", path));
    std::istringstream in(text);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto fail = [&](const std::string& what) { throw Error(fmt::format("{}:{}: {}", path, n, what)); };
      nlohmann::ordered_json j;
      try {
        j = parse_json<nlohmann::ordered_json>(line, "the line");
      } catch (const JsonInputError& e) {
        fail(fmt::format("not a JSON object ({})", e.what()));
      }
      check_messages(j, fail);
      Example e;
      try {
        e = chat_example(j["messages"], *chat, tokenizer);
      } catch (const Error& error) {
        fail(error.what());
      }
      if (e.tokens.size() > static_cast<size_t>(options.context)) {
        e.tokens.resize(static_cast<size_t>(options.context));
        e.target.resize(static_cast<size_t>(options.context));
        ++data.truncated;
      }
      if (e.target_count() == 0) {
        ++data.dropped;
        continue;
      }
      data.train.push_back(std::move(e));
    }
  }
  if (data.train.empty()) {
    throw Error(fmt::format("{}: no training example (a text needs at least 2 tokens; a conversation an "
                            "assistant token within -c {})",
                            path, options.context));
  }
  for (const Example& e : data.train) data.content_hash = hash_example(data.content_hash, e);
  split_held_out(data, options.eval_split, options.seed);
  return data;
}

}  // namespace bantam::train
