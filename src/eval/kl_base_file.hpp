// llama-perplexity's KL-divergence base file (`--kl-divergence-base`), read and written so that a
// base saved by either tool scores the other:
//   "_logits_" | u32 n_ctx | i32 n_vocab | i32 n_chunk | i32 tokens[n_ctx * n_chunk]
//   then per chunk, per scored position (n_ctx - 1 - n_ctx/2 of them, the second half):
//   f32 scale | f32 min_log_prob | u16 q[n_vocab] (padded to an even count)
// where log p(i) = scale * q[i] + min_log_prob for logits within 16 nats of the maximum (q = 0
// below that). All integers little-endian, as both tools write them on the machines they run on.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace bantam {

// Positions scored per chunk: the second half of the window, less its last token.
inline int64_t kl_scored_per_chunk(int64_t n_ctx) { return n_ctx - 1 - n_ctx / 2; }

// One scored position of the base model, as stored: its log-probabilities, 16-bit quantized.
struct KlBaseRow {
  float scale = 0, min_log_prob = 0;
  std::vector<uint16_t> q;  // n_vocab values
  float log_prob(int32_t token) const { return scale * static_cast<float>(q[static_cast<size_t>(token)]) + min_log_prob; }
  // The row the writer stores for these logits.
  static KlBaseRow from_logits(const float* logits, int n_vocab);
};

class KlBaseWriter {
 public:
  KlBaseWriter(const std::string& path, uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk,
               const std::vector<int32_t>& tokens);
  void add(const KlBaseRow& row);
  void close();  // error when the file is short of what the header promised, or a write failed

 private:
  std::string path_;
  std::ofstream out_;
  int64_t rows_left_;
};

class KlBaseReader {
 public:
  // Validates the header against the file's size before reading anything large.
  explicit KlBaseReader(const std::string& path);
  uint32_t n_ctx() const { return n_ctx_; }
  int32_t n_vocab() const { return n_vocab_; }
  int32_t n_chunk() const { return n_chunk_; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  KlBaseRow next();

 private:
  std::string path_;
  std::ifstream in_;
  uint32_t n_ctx_ = 0;
  int32_t n_vocab_ = 0, n_chunk_ = 0;
  std::vector<int32_t> tokens_;
};

// One position's comparison of a model's logits with the base row, as llama-perplexity scores it.
struct KlPosition {
  double kl = 0;              // KL(base || model) over the base's tokens within 16 nats of its top
  double nll = 0, nll_base = 0;  // of the true next token
  bool same_top = false;      // both argmaxes agree (first maximum wins ties)
};
KlPosition compare_with_base(const KlBaseRow& base, const float* logits, int n_vocab, int32_t next_token);

}  // namespace bantam
