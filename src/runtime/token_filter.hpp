// Token-level face of a grammar cursor (JSON schema or GBNF): which vocabulary entries may come
// next. Tokens are visited in byte order so a shared prefix is matched once (a walk over the
// vocabulary's implicit trie), and a byte the cursor refuses is refused without a copy.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bantam/bantam.hpp"
#include "runtime/output_grammar.hpp"

namespace bantam {

class TokenFilter {
 public:
  explicit TokenFilter(const Model& model);

  // Sets the logits of tokens that would leave the grammar to -infinity; end-of-generation
  // tokens stay only once the document is complete. Returns how many tokens remain. Error when
  // the cursor's bounds are hit (a hostile grammar).
  size_t mask(const GrammarCursor& cursor, std::span<float> logits) const;
  const std::string& bytes(TokenId id) const { return bytes_[static_cast<size_t>(id)]; }

 private:
  const Model& model_;
  std::vector<std::string> bytes_;  // per id; empty for control tokens
  std::vector<TokenId> order_;      // ids with bytes, sorted by bytes
  std::vector<uint32_t> shared_prefix_;  // per order_ entry: bytes in common with the one before
};

}  // namespace bantam
