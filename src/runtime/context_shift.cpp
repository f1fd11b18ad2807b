#include "runtime/context_shift.hpp"

#include <algorithm>

#include "model/decoder.hpp"
#include "model/kv_cache.hpp"

namespace bantam {

int64_t tokens_to_keep(int keep, std::span<const TokenId> prompt, TokenId bos) {
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  const int64_t asked = keep < 0 ? n_prompt : std::min<int64_t>(keep, n_prompt);
  const bool starts_with_bos = bos >= 0 && !prompt.empty() && prompt.front() == bos;
  return std::max<int64_t>(asked, starts_with_bos ? 1 : 0);
}

int64_t shift_context(const Decoder& decoder, KvCache& cache, std::vector<TokenId>& tokens, int64_t keep) {
  const auto n_past = static_cast<int64_t>(tokens.size());
  keep = std::clamp<int64_t>(keep, 0, n_past);
  const int64_t discard = std::min((n_past - keep) / 2, cache.max_discard(n_past, keep));
  if (discard <= 0) return 0;
  cache.shift(n_past, keep, discard, decoder.rope_params(cache.context()));
  tokens.erase(tokens.begin() + keep, tokens.begin() + keep + discard);
  return discard;
}

}  // namespace bantam
