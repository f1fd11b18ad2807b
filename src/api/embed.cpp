// embed(): one input through the batch decoder's embedding path (the one the server uses),
// in scratch caches of its own.
#include "bantam/bantam.hpp"
#include "runtime/batch_decode.hpp"

namespace bantam {

std::vector<float> embed(const std::shared_ptr<const Model>& model, std::span<const TokenId> tokens, int threads) {
  constexpr int kBatch = 512;
  // One slot of one position: embed_piece never uses the slots' caches.
  BatchDecoder decoder(model, 1, 1, threads, kBatch);
  EmbeddingRun run({std::vector<TokenId>(tokens.begin(), tokens.end())});
  while (decoder.embed_piece(run) > 0) {
  }
  return run.take_results().at(0);
}

}  // namespace bantam
