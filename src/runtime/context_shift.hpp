// Context shift (`--context-shift`, as llama.cpp users know it): when a sequence fills its cache,
// the oldest half of the tokens after the kept start is dropped and the rest moves down, keys
// re-rotated (KvCache::shift), so generation goes on past the context length. The model loses
// what was dropped; the kept start (a system prompt, the BOS) stays.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "bantam/bantam.hpp"

namespace bantam {

class Decoder;
class KvCache;

// Tokens at the start of a sequence that a shift never drops: `keep` (< 0: the whole prompt),
// and at least the BOS the prompt starts with (`bos` < 0: none), on which attention leans.
int64_t tokens_to_keep(int keep, std::span<const TokenId> prompt, TokenId bos);

// Drops half of the tokens after the first `keep` (fewer where a sliding-window ring needs it)
// from the cache and from `tokens`, the sequence it holds. Returns the tokens dropped; 0 when
// none can be, and then nothing changed.
int64_t shift_context(const Decoder& decoder, KvCache& cache, std::vector<TokenId>& tokens, int64_t keep);

}  // namespace bantam
