// Fine-tuning data: plain text packed into context windows (causal LM, every token after a
// window's first is a target) or chat JSONL ({"messages": [...]} per line, rendered with the
// model's chat template, only the assistant's tokens as targets), split into training and
// held-out examples by a seeded shuffle, and visited in a seeded order per epoch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "text/chat_template.hpp"
#include "text/tokenizer.hpp"

namespace bantam::train {

// One sequence of at most `context` tokens. target[i] != 0: tokens[i] is scored as the prediction
// made at position i - 1 (so target[0] is always 0). The loss of an example is the sum over its
// targets of -log p(tokens[i] | tokens[0..i-1]).
struct Example {
  std::vector<TokenId> tokens;
  std::vector<uint8_t> target;
  size_t target_count() const;
};

enum class DataFormat { Auto, Text, ChatJsonl };  // Auto: ".jsonl" names chat data, else text

struct DataOptions {
  int context = 512;        // -c: tokens per window
  double eval_split = 0.1;  // share of examples held out (0: none)
  uint64_t seed = 1;        // the held-out draw and the epoch orders
  DataFormat format = DataFormat::Auto;
};

struct Dataset {
  std::vector<Example> train, held_out;
  size_t truncated = 0;     // chat conversations cut at `context` tokens
  size_t dropped = 0;       // conversations with no assistant token left within `context`
  uint64_t content_hash = 0;  // over every example's tokens and targets, in file order
};

// Plain text: the file's tokens (with BOS where the tokenizer adds one) in windows of `context`
// tokens, consecutive windows sharing one token so that every token but the first is a target
// exactly once; a last window shorter than `context` is kept when it has a target.
std::vector<Example> pack_text(std::span<const TokenId> tokens, int context);

// One conversation's tokens and assistant targets (see docs/FINETUNE.md for the method): each
// assistant message k is found by rendering messages [0, k) with the generation prompt (P_k) and
// messages [0, k] without it (F_k); its targets are the tokens of the whole rendering R from the
// longest common token prefix of P_k and R to that of F_k and R (so the end-of-turn token the
// template writes after the message is learned too, the assistant's header never). Error when the
// template renders a prefix that is not a prefix of R.
Example chat_example(const nlohmann::ordered_json& messages, const ChatTemplate& chat, const Tokenizer& tokenizer);

// Reads `path` in `options.format`; Error naming the file (and for JSONL the line) on unreadable
// input, a line that is not a JSON object with a "messages" array of {"role": string, "content":
// string} objects, no assistant message, or no training example at all.
Dataset load_dataset(const std::string& path, const Tokenizer& tokenizer, const ChatTemplate* chat,
                     const DataOptions& options);

// Moves round(eval_split * n) examples (at least one when eval_split > 0 and n >= 2, never all)
// chosen by a shuffle seeded with `seed` to held_out, keeping file order in both parts.
void split_held_out(Dataset& data, double eval_split, uint64_t seed);

// The visiting order of `count` examples in `epoch`: a Fisher-Yates shuffle driven by splitmix64
// from (seed, epoch), the same on every platform and standard library.
std::vector<size_t> epoch_order(size_t count, uint64_t seed, int epoch);

// splitmix64: the small portable generator behind the shuffles.
uint64_t splitmix64(uint64_t& state);

}  // namespace bantam::train
