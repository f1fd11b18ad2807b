#include "runtime/generation.hpp"

#include <algorithm>
#include <cmath>

#include "api/model_impl.hpp"
#include "format/json_input.hpp"
#include "runtime/json_grammar.hpp"
#include "runtime/token_filter.hpp"
#include "text/tokenizer.hpp"

namespace bantam {

namespace {

// The k most likely tokens under softmax(logits), with their log-probabilities.
std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int k) {
  std::vector<TokenLogprob> top;
  if (k <= 0) return top;
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max_logit);
  const double log_sum = std::log(sum) + max_logit;
  std::vector<TokenId> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<TokenId>(i);
  const size_t n = std::min(ids.size(), static_cast<size_t>(k));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](TokenId a, TokenId b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  for (size_t i = 0; i < n; ++i) top.push_back({ids[i], static_cast<float>(logits[ids[i]] - log_sum)});
  return top;
}

}  // namespace

GenerationSpec GenerationSpec::from(const GenerateOptions& options) {
  GenerationSpec spec;
  spec.max_tokens = options.max_tokens;
  spec.sampling = options.sampling;
  spec.stop = options.stop;
  spec.context_shift = options.context_shift;
  spec.keep = options.keep;
  if (!options.json_schema.empty()) {
    spec.grammar = JsonGrammar::from_schema(parse_json<nlohmann::ordered_json>(options.json_schema, "the JSON schema"));
    spec.stop.clear();  // a stop string would cut the JSON short
  }
  return spec;
}

std::string_view openai_finish_reason(StopReason reason) {
  switch (reason) {
    case StopReason::MaxTokens:
    case StopReason::ContextFull: return "length";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::Error: return "error";
    case StopReason::EndOfGeneration:
    case StopReason::StopString:
    case StopReason::GrammarComplete: break;
  }
  return "stop";
}

Generation::Generation(const Model& model, const TokenFilter* filter, GenerationSpec spec,
                       std::span<const TokenId> prompt, int64_t context)
    : model_(&model), filter_(filter), spec_(std::move(spec)), context_(context),
      history_(prompt.begin(), prompt.end()), sampler_(spec_.sampling), stops_(spec_.stop) {
  if (const Tokenizer* tokenizer = model.impl().tokenizer.get()) {
    detokenizer_ = std::make_unique<StreamingDetokenizer>(*tokenizer, true);
  }
  if (spec_.grammar) {
    if (!filter_) throw Error("generation: a grammar needs the model's token filter");
    matcher_ = spec_.grammar->start();
  }
  if (spec_.max_tokens == 0) finish(StopReason::MaxTokens);
}

Generation::~Generation() = default;
Generation::Generation(Generation&&) noexcept = default;
Generation& Generation::operator=(Generation&&) noexcept = default;

void Generation::finish(StopReason reason, std::string error) {
  if (reason_) return;
  reason_ = reason;
  error_ = std::move(error);
}

void Generation::stop(StopReason reason, std::string error) { finish(reason, std::move(error)); }

std::optional<std::vector<float>> Generation::constrained(std::span<const float> model_logits) {
  if (reason_) return std::nullopt;
  std::vector<float> logits(model_logits.begin(), model_logits.end());
  for (const auto& [id, bias] : spec_.logit_bias) {
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] += bias;
  }
  if (matcher_) {
    size_t allowed = 0;
    try {
      allowed = filter_->mask(*matcher_, logits);
    } catch (const Error& e) {  // a hostile grammar hit the matcher's bounds
      finish(StopReason::Error, e.what());
      return std::nullopt;
    }
    if (allowed == 0) {
      finish(StopReason::Error, "no token of the vocabulary can continue the constrained output");
      return std::nullopt;
    }
  }
  return logits;
}

std::optional<GeneratedToken> Generation::step(std::span<const float> model_logits) {
  std::optional<std::vector<float>> logits = constrained(model_logits);
  if (!logits) return std::nullopt;
  return take(sampler_.sample(*logits, history_), *logits, model_logits);
}

std::optional<GeneratedToken> Generation::step_with_draft(std::span<const float> model_logits, TokenId draft,
                                                         std::span<const Sampler::Candidate> draft_distribution) {
  std::optional<std::vector<float>> logits = constrained(model_logits);
  if (!logits) return std::nullopt;
  return take(sampler_.sample_against_draft(*logits, history_, draft, draft_distribution), *logits, model_logits);
}

std::optional<GeneratedToken> Generation::take(SampledToken sampled, std::span<const float> logits,
                                               std::span<const float> model_logits) {
  // Filters that leave only masked tokens (top-k over -inf logits) fall back to the best one left.
  if (!std::isfinite(logits[static_cast<size_t>(sampled.id)])) {
    const auto best = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    sampled = score_token(logits, best);
  }
  const TokenId id = sampled.id;
  if (model_->is_end_of_generation(id)) {
    finish(StopReason::EndOfGeneration);
    return std::nullopt;
  }
  generated_.push_back(id);
  history_.push_back(id);
  if (matcher_) {
    try {
      matcher_->feed(filter_->bytes(id));
    } catch (const Error& e) {
      finish(StopReason::Error, e.what());
    }
  }

  GeneratedToken token;
  token.id = id;
  token.text = stops_.push(detokenizer_ ? detokenizer_->push(id) : std::string());
  token.logprob = sampled.logprob;
  token.entropy = sampled.entropy;
  if (spec_.top_logprobs >= 0) {
    token.logprob = score_token(model_logits, id).logprob;
    token.top = top_logprobs(model_logits, spec_.top_logprobs);
  }
  // The new token is not in the cache yet: the sequence there is one shorter than history_.
  const auto cached = static_cast<int64_t>(history_.size()) - 1;
  if (stops_.stopped()) {
    finish(StopReason::StopString);
  } else if (matcher_ && matcher_->complete() && !matcher_->can_continue()) {
    finish(StopReason::GrammarComplete);
  } else if (spec_.max_tokens >= 0 && static_cast<int>(generated_.size()) >= spec_.max_tokens) {
    finish(StopReason::MaxTokens);
  } else if (cached >= context_ && !spec_.context_shift) {
    finish(StopReason::ContextFull);
  }
  return token;
}

std::string Generation::flush() {
  if (!reason_ || *reason_ == StopReason::Error || stops_.stopped()) return {};
  std::string tail = stops_.push(detokenizer_ ? detokenizer_->flush() : std::string());
  if (stops_.stopped()) {
    reason_ = StopReason::StopString;
  } else {
    tail += stops_.flush();
  }
  return tail;
}

}  // namespace bantam
