// One sequence's generation as a state machine: everything between "the model gave logits" and
// "this token goes into the cache next". Session (one sequence) and Scheduler (several, batched)
// both step it, so the CLI, the library and the server sample, stop and report alike: logit bias,
// grammar mask (JSON schema or GBNF), sampler chain, end of generation, detokenizer (holding unfinished UTF-8),
// stop strings (holding a possible start), max tokens, a full context, one StopReason.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bantam/bantam.hpp"
#include "runtime/output_grammar.hpp"
#include "runtime/sampler.hpp"
#include "runtime/stop_strings.hpp"

namespace bantam {

class TokenFilter;
class StreamingDetokenizer;

// What decides one sequence's tokens besides the model and the prompt.
struct GenerationSpec {
  int max_tokens = -1;  // < 0: until the end of generation or a full context
  SamplingOptions sampling;
  std::vector<std::string> stop;
  std::shared_ptr<const OutputGrammar> grammar;  // JSON schema or GBNF; null: unconstrained
  std::vector<std::pair<TokenId, float>> logit_bias;
  int top_logprobs = -1;  // < 0: none; else how many alternatives per token
  bool context_shift = false;  // a full context is shifted (runtime/context_shift.hpp), not the end
  int keep = 0;                // tokens a shift keeps (GenerateOptions::keep)

  // A library caller's options (its JSON schema compiled; Error naming what the schema lacks).
  static GenerationSpec from(const GenerateOptions& options);
};

struct TokenLogprob {
  TokenId id = -1;
  float logprob = 0;
};

// One step's output: a generated token and the text it completed.
struct GeneratedToken {
  std::string text;   // new text safe to show (may be empty)
  TokenId id = -1;    // -1: held-back text released at the end
  float logprob = 0;  // of the chosen token: under the model's logits when top_logprobs >= 0, else
                      // under the logits the sampler saw (after logit_bias)
  float entropy = 0;  // of the sampler's distribution, in nats (the hybrid router's confidence)
  std::vector<TokenLogprob> top;
};

// The OpenAI finish_reason of a stop reason: "stop", "length" or "cancelled"/"error".
std::string_view openai_finish_reason(StopReason reason);

class Generation {
 public:
  // `prompt`: the sequence before the first generated token (penalties look back over it too).
  // `context`: positions the sequence's cache holds. `filter` is needed when spec.grammar is set
  // and must outlive the generation, as must `model`.
  Generation(const Model& model, const TokenFilter* filter, GenerationSpec spec, std::span<const TokenId> prompt,
             int64_t context);
  ~Generation();
  Generation(Generation&&) noexcept;
  Generation& operator=(Generation&&) noexcept;

  // Samples the next token from the logits after the sequence so far. Returns its event, or
  // nullopt when generation ended without a new token (end of generation, no token allowed).
  // Once finished(), next() is not to be evaluated and flush() releases the held-back text.
  std::optional<GeneratedToken> step(std::span<const float> logits);
  // step() for speculative decoding: the token after these logits was drafted as `draft` with
  // `draft_distribution` (see Sampler::sample_against_draft). The result is `draft` when it was
  // accepted; any other token replaces it, and the drafts after it are void. Grammar, stop
  // strings and penalties advance over the tokens returned only, so they see accepted tokens.
  std::optional<GeneratedToken> step_with_draft(std::span<const float> logits, TokenId draft,
                                                std::span<const Sampler::Candidate> draft_distribution);
  // Ends generation for an outside reason (cancelled, a failed forward pass: StopReason::Error).
  void stop(StopReason reason, std::string error = {});

  bool finished() const { return reason_.has_value(); }
  StopReason reason() const { return reason_.value_or(StopReason::MaxTokens); }
  const std::string& error() const { return error_; }
  TokenId next() const { return generated_.empty() ? -1 : generated_.back(); }  // to evaluate
  const std::vector<TokenId>& generated() const { return generated_; }
  const std::vector<TokenId>& history() const { return history_; }  // prompt, then generated()
  const GenerationSpec& spec() const { return spec_; }
  // Text held back (an unfinished character, a possible stop-string start), final once
  // generation has ended; a stop string found in it makes the reason StopString.
  std::string flush();

 private:
  void finish(StopReason reason, std::string error = {});
  // The logits after logit_bias and the grammar mask; nullopt once generation has ended.
  std::optional<std::vector<float>> constrained(std::span<const float> model_logits);
  // Records the sampled token (end of generation, grammar, text, stop strings, limits).
  std::optional<GeneratedToken> take(SampledToken sampled, std::span<const float> logits,
                                     std::span<const float> model_logits);

  const Model* model_;
  const TokenFilter* filter_;
  GenerationSpec spec_;
  int64_t context_;
  std::vector<TokenId> history_;  // prompt and generated tokens, for the penalties
  std::vector<TokenId> generated_;
  Sampler sampler_;
  std::unique_ptr<StreamingDetokenizer> detokenizer_;  // null: the model has no tokenizer
  StopStringFilter stops_;
  std::unique_ptr<GrammarCursor> matcher_;  // spec_.grammar's position
  std::optional<StopReason> reason_;
  std::string error_;
};

}  // namespace bantam
