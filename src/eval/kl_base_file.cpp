#include "eval/kl_base_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/input_file.hpp"

namespace bantam {
namespace {

constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
// Log-probabilities further than this below the maximum are stored as the floor (q = 0) and
// left out of the KL sum, as llama-perplexity does.
constexpr float kRange = 16.0f;
constexpr int64_t kHeaderBytes = 8 + 4 + 4 + 4;

// u16 values per stored row: the two floats, then the vocabulary padded to an even count.
int64_t row_values(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

template <class T>
void put(std::ofstream& out, T v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <class T>
T get(std::ifstream& in, const std::string& path) {
  T v;
  in.read(reinterpret_cast<char*>(&v), sizeof(T));
  if (!in) throw Error(fmt::format("{}: KL base file ends early", path));
  return v;
}

}  // namespace

KlBaseRow KlBaseRow::from_logits(const float* logits, int n_vocab) {
  const auto [lo, hi] = std::minmax_element(logits, logits + n_vocab);
  const float max_logit = *hi;
  const float min_logit = std::max(*lo, max_logit - kRange);
  double sum_exp = 0;
  for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(static_cast<double>(logits[i] - max_logit));
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  KlBaseRow row;
  row.min_log_prob = min_logit - max_logit - log_sum_exp;
  row.scale = (max_logit - min_logit) / 65535.0f;
  row.q.assign(static_cast<size_t>(n_vocab), 0);
  if (row.scale > 0) {
    const float inv_scale = 1 / row.scale;
    for (int i = 0; i < n_vocab; ++i) {
      if (logits[i] > min_logit) row.q[static_cast<size_t>(i)] = static_cast<uint16_t>(std::lrint(inv_scale * (logits[i] - min_logit)));
    }
  }
  return row;
}

KlBaseWriter::KlBaseWriter(const std::string& path, uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk,
                           const std::vector<int32_t>& tokens)
    : path_(path), out_(path, std::ios::binary), rows_left_(int64_t{n_chunk} * kl_scored_per_chunk(n_ctx)) {
  if (!out_) throw Error(fmt::format("{}: cannot create", path));
  if (tokens.size() != static_cast<size_t>(n_ctx) * static_cast<size_t>(n_chunk)) {
    throw Error(fmt::format("{}: {} tokens for {} chunks of {}", path, tokens.size(), n_chunk, n_ctx));
  }
  out_.write(kMagic, sizeof(kMagic));
  put(out_, n_ctx);
  put(out_, n_vocab);
  put(out_, n_chunk);
  out_.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * sizeof(int32_t)));
}

void KlBaseWriter::add(const KlBaseRow& row) {
  if (rows_left_-- <= 0) throw Error(fmt::format("{}: more rows than the header announces", path_));
  put(out_, row.scale);
  put(out_, row.min_log_prob);
  out_.write(reinterpret_cast<const char*>(row.q.data()), static_cast<std::streamsize>(row.q.size() * sizeof(uint16_t)));
  if (row.q.size() % 2) put<uint16_t>(out_, 0);
}

void KlBaseWriter::close() {
  out_.close();
  if (!out_) throw Error(fmt::format("{}: write failed", path_));
  if (rows_left_ != 0) throw Error(fmt::format("{}: {} rows missing", path_, rows_left_));
}

KlBaseReader::KlBaseReader(const std::string& path) : path_(path) {
  check_input_file(path);
  in_.open(path, std::ios::binary);
  std::error_code ec;
  if (!in_) throw Error(fmt::format("{}: cannot open", path));
  const auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (ec) throw Error(fmt::format("{}: cannot read its size: {}", path, ec.message()));
  char magic[8];
  in_.read(magic, sizeof(magic));
  if (!in_ || std::memcmp(magic, kMagic, sizeof(magic)) != 0) {
    throw Error(fmt::format("{}: not a KL-divergence base file (no \"_logits_\" magic)", path));
  }
  n_ctx_ = get<uint32_t>(in_, path);
  n_vocab_ = get<int32_t>(in_, path);
  n_chunk_ = get<int32_t>(in_, path);
  // Bounds keep the size arithmetic below far from overflow; the exact size check does the rest.
  if (n_ctx_ < 4 || n_ctx_ > (1u << 24)) throw Error(fmt::format("{}: context {} out of range", path, n_ctx_));
  if (n_vocab_ < 1 || n_vocab_ > (1 << 24)) throw Error(fmt::format("{}: vocabulary {} out of range", path, n_vocab_));
  if (n_chunk_ < 1 || n_chunk_ > (1 << 24)) throw Error(fmt::format("{}: chunk count {} out of range", path, n_chunk_));
  const int64_t token_bytes = int64_t{n_ctx_} * n_chunk_ * 4;
  const int64_t row_bytes = row_values(n_vocab_) * 2;
  const int64_t expected = kHeaderBytes + token_bytes + int64_t{n_chunk_} * kl_scored_per_chunk(n_ctx_) * row_bytes;
  if (file_bytes != expected) {
    throw Error(fmt::format("{}: {} bytes, but {} chunks of {} tokens over a {}-token vocabulary take {}", path,
                            file_bytes, n_chunk_, n_ctx_, n_vocab_, expected));
  }
  tokens_.resize(static_cast<size_t>(token_bytes / 4));
  in_.read(reinterpret_cast<char*>(tokens_.data()), token_bytes);
  if (!in_) throw Error(fmt::format("{}: KL base file ends early", path));
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i] < 0 || tokens_[i] >= n_vocab_) {
      throw Error(fmt::format("{}: token {} at position {} is outside the vocabulary", path, tokens_[i], i));
    }
  }
}

KlBaseRow KlBaseReader::next() {
  KlBaseRow row;
  row.scale = get<float>(in_, path_);
  row.min_log_prob = get<float>(in_, path_);
  row.q.resize(static_cast<size_t>(row_values(n_vocab_) - 4));
  in_.read(reinterpret_cast<char*>(row.q.data()), static_cast<std::streamsize>(row.q.size() * sizeof(uint16_t)));
  if (!in_) throw Error(fmt::format("{}: KL base file ends early", path_));
  row.q.resize(static_cast<size_t>(n_vocab_));
  return row;
}

KlPosition compare_with_base(const KlBaseRow& base, const float* logits, int n_vocab, int32_t next_token) {
  const int top = static_cast<int>(std::max_element(logits, logits + n_vocab) - logits);
  const double max_logit = logits[top];
  double sum_exp = 0;
  for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const double log_norm = max_logit + std::log(sum_exp);  // log p(i) = logits[i] - log_norm

  KlPosition r;
  r.nll = log_norm - logits[next_token];
  r.nll_base = -static_cast<double>(base.log_prob(next_token));
  int base_top = 0;
  for (int i = 0; i < n_vocab; ++i) {
    const double base_lp = base.log_prob(i);
    if (base_lp > base.log_prob(base_top)) base_top = i;
    if (base_lp > -kRange) r.kl += std::exp(base_lp) * (base_lp - (logits[i] - log_norm));
  }
  r.same_top = top == base_top;
  return r;
}

}  // namespace bantam
