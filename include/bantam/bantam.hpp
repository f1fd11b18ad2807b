// bantam's public C++ API: load a GGUF model once, open any number of sessions on it (each with
// its own KV cache), and generate with a callback per token.
//
//   auto model = bantam::Model::load("model.gguf");
//   bantam::Session session(model, {.context_length = 2048});
//   session.generate(model->tokenize("Once upon a time"), {.max_tokens = 64},
//                    [](const bantam::TokenEvent& e) { std::cout << e.text; return true; });
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bantam/error.hpp"
#include "bantam/export.h"

namespace bantam {

using TokenId = int32_t;

struct ModelInfo {
  std::string path;
  std::string architecture;
  std::string name;
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_layer = 0;
  int n_embd = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int64_t n_params = 0;            // elements of every tensor in the file
  bool has_chat_template = false;  // the file holds tokenizer.chat_template
};

// Called while a model loads with the fraction done (0 to 1); return false to cancel, and the
// load throws Cancelled. With a callback the weights are also read in (paged from disk) during
// the load, which is the part that takes time, instead of on first use.
using LoadProgress = std::function<bool(float)>;

struct LoadOptions {
  LoadProgress progress = {};
};

struct ChatOptions {
  bool add_generation_prompt = true;
  std::string tools_json = {};       // OpenAI-style tool list (JSON array text) given to the template; "": none
  std::string template_source = {};  // a Jinja chat template used instead of the model's; "": the model's
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class BANTAM_API Model {
 public:
  // Maps the file and checks every tensor the architecture needs; Error naming what is wrong.
  // A path only: names of installed models are resolved above the library (bantam's CLI).
  static std::shared_ptr<const Model> load(const std::string& path, const LoadOptions& options = {});
  // A GGUF image in memory, used in place: `bytes` must outlive the model and its sessions.
  // `name` stands for the path in messages and info().path.
  static std::shared_ptr<const Model> load_from_memory(std::span<const uint8_t> bytes, const std::string& name,
                                                       const LoadOptions& options = {});
  // The file open on `fd` (mapped; the descriptor stays the caller's and may be closed after).
  static std::shared_ptr<const Model> load_from_fd(int fd, const std::string& name, const LoadOptions& options = {});
  ~Model();

  const ModelInfo& info() const;

  // Text. These throw Error when the file's tokenizer could not be built.
  // add_special: BOS/EOS as the vocabulary asks; parse_special: control tokens written as text.
  std::vector<TokenId> tokenize(std::string_view text, bool add_special = true,
                                bool parse_special = false) const;
  std::string detokenize(std::span<const TokenId> tokens, bool skip_special = true) const;
  bool is_end_of_generation(TokenId token) const;
  // The conversation rendered with the model's chat template (or its family's known format).
  std::string chat_prompt(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;
  // chat_prompt tokenized with special tokens recognized and exactly one BOS where one is due.
  std::vector<TokenId> chat_tokens(std::span<const ChatMessage> messages, bool add_generation_prompt = true) const;
  // The same with tools and/or another template; Error when the template cannot render them.
  std::string chat_prompt(std::span<const ChatMessage> messages, const ChatOptions& options) const;
  std::vector<TokenId> chat_tokens(std::span<const ChatMessage> messages, const ChatOptions& options) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  // Fills in a model whose file is open: config, weights, text, info.
  static std::shared_ptr<const Model> finish_load(std::unique_ptr<Impl> impl, const std::string& path,
                                                  const LoadOptions& options);
  std::unique_ptr<Impl> impl_;
};

// Mean of the model's final normalized hidden states over `tokens`, scaled to unit length
// (n_embd values): the embedding `serve` answers /v1/embeddings with.
BANTAM_API std::vector<float> embed(const std::shared_ptr<const Model>& model, std::span<const TokenId> tokens,
                                   int threads = 0);

// A LoRA adapter (GGUF with general.type "adapter", adapter.type "lora") checked against one
// model. Sessions apply it beside the base weights (never merged), each with its own scale:
//   auto lora = bantam::Adapter::load("style.gguf", *model);
//   bantam::Session session(model, {.adapters = {{lora, 0.5f}}});
class BANTAM_API Adapter {
 public:
  // Error naming the file and the tensor when the adapter does not fit `model` (architecture,
  // target tensors, shapes, ranks); the model is untouched either way.
  static std::shared_ptr<const Adapter> load(const std::string& path, const Model& model);
  ~Adapter();

  const std::string& path() const;
  float alpha() const;          // adapter.lora.alpha (0: none given)
  size_t tensor_pairs() const;  // adapted matrices

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Adapter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct AdapterUse {
  std::shared_ptr<const Adapter> adapter;
  float scale = 1.0f;  // the low-rank term is scale * alpha / rank * B A x
};

// Q8_0 and Q4_0 hold keys or values in 8.5 and 4.5 bits (F16: 16), read by attention as stored;
// heads whose size is not a multiple of 32 keep F16 (said once on stderr).
enum class KvCacheType { F16, F32, Q8_0, Q4_0 };

// Keys' and values' types, chosen apart as llama.cpp's --cache-type-k and --cache-type-v.
struct KvCacheTypes {
  KvCacheType keys = KvCacheType::F16;
  KvCacheType values = KvCacheType::F16;
  bool operator==(const KvCacheTypes&) const = default;
};

// Speculative decoding: tokens drafted cheaply (by prompt lookup or a small draft model) and
// verified by the model in one forward pass, so that one pass over the weights can emit several
// tokens. The output is the model's own: greedy decoding gives the same tokens, sampling the
// same distribution (rejection sampling).
struct SpeculativeOptions {
  std::shared_ptr<const Model> draft = nullptr;  // a draft model sharing the vocabulary; null: none
  int lookup = 0;             // > 0: prompt lookup, matching n-grams of up to this many tokens
  int draft_max = 8;          // most tokens drafted per pass
  float draft_p_min = 0.75f;  // the draft model stops drafting below this probability of its token
  bool adaptive = true;       // the draft length follows acceptance; speculation pauses when it does not pay
  bool enabled() const { return draft != nullptr || lookup > 0; }
};

struct SessionOptions {
  int64_t context_length = 4096;  // positions the KV cache holds
  int threads = 0;                // 0: all cores
  KvCacheType kv_type = KvCacheType::F16;  // keys, and values unless kv_type_v is set
  std::optional<KvCacheType> kv_type_v = std::nullopt;  // the values' own type
  int batch_size = 512;           // prompt tokens per forward pass
  std::vector<AdapterUse> adapters = {};  // LoRA adapters loaded for this session's model
  SpeculativeOptions speculative = {};
  KvCacheTypes kv_types() const { return {kv_type, kv_type_v.value_or(kv_type)}; }
};

struct SamplingOptions {
  float temperature = 0.8f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;     // 1: off
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int penalty_last_n = 64;         // tokens the penalties look back on
  uint64_t seed = 0;               // 0: random
};

struct GenerateOptions {
  int max_tokens = -1;  // < 0: until end of generation or a full context
  SamplingOptions sampling;
  std::vector<std::string> stop;  // generation ends before any of these strings
  // Non-empty: the output is compact JSON matching this JSON Schema (text); stop strings are
  // ignored then. Error naming the keyword when the schema cannot be enforced.
  std::string json_schema;
  // When the context fills: false ends generation (StopReason::ContextFull); true drops the
  // oldest half of the tokens after the first `keep` (< 0: the whole prompt; a leading BOS is
  // always kept) and goes on, as llama.cpp's --context-shift. What was dropped is forgotten.
  bool context_shift = false;
  int keep = 0;
};

struct TokenEvent {
  TokenId id;
  std::string_view text;  // the new complete UTF-8 text (may be empty while a character is split)
  float logprob;          // log-probability of `id` under the model's distribution
};
// Return false to stop generating.
using TokenCallback = std::function<bool(const TokenEvent&)>;

// Why generation ended; the CLI, the library and the server share it (the server's finish_reason
// is "length" for MaxTokens and ContextFull, "stop" for the other endings).
enum class StopReason { EndOfGeneration, MaxTokens, StopString, ContextFull, Cancelled, GrammarComplete, Error };
BANTAM_API std::string_view stop_reason_name(StopReason reason);

struct GenerateResult {
  std::vector<TokenId> tokens;  // generated ids (a stop string's tokens included)
  std::string text;             // generated text, without the stop string
  StopReason stop_reason = StopReason::MaxTokens;
  int64_t prompt_tokens = 0;    // prompt length
  int64_t reused_tokens = 0;    // prompt tokens already in the KV cache from earlier calls
  double prompt_seconds = 0;    // evaluating the new prompt tokens
  double generation_seconds = 0;
  double first_token_seconds = 0;  // from the call until the first token was sampled
  int context_shifts = 0;          // times the context was shifted (GenerateOptions::context_shift)
  int64_t drafted_tokens = 0;      // speculative decoding: tokens drafted and verified
  int64_t accepted_tokens = 0;     // of those, the ones the model kept
  int64_t forward_passes = 0;      // decode passes over the weights after the prompt
};

class BANTAM_API Session {
 public:
  explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Continues the sequence with `prompt`: the longest prefix already in the cache is kept, the
  // rest evaluated in batches, then tokens are sampled until a stop condition.
  GenerateResult generate(std::span<const TokenId> prompt, const GenerateOptions& options,
                          const TokenCallback& on_token = {});
  // Thread-safe: makes a running generate() return with StopReason::Cancelled.
  void cancel();
  // Forgets the sequence.
  void reset();

  // Appends tokens to the sequence and returns the logits after each of them (n_vocab per token).
  std::vector<float> evaluate(std::span<const TokenId> tokens);
  // The same, returning only the last token's logits (n_vocab values): the output head runs once
  // per batch instead of once per token, as a prompt needs.
  std::vector<float> evaluate_last(std::span<const TokenId> tokens);

  const std::vector<TokenId>& tokens() const;  // the sequence in the cache
  int64_t context_length() const;
  size_t kv_cache_bytes() const;  // memory held by this session's keys and values
  const Model& model() const;

  // The sequence and its keys and values, in a versioned format that names the model (a hash of
  // its architecture and tensors), the adapters, the KV cache type and the tokens.
  std::vector<uint8_t> save_state() const;
  // Replaces the sequence with a saved one; Error saying why when the state is not for this
  // model, adapters or KV type, does not fit the context, or is truncated or corrupted (the
  // session is then left empty).
  void restore_state(std::span<const uint8_t> state);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bantam
