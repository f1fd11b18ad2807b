// BatchDecoder: slots, their caches and sequences around the one Decoder, whose forward pass takes
// every slot's segment at once.
#include "runtime/batch_decode.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "model/decoder.hpp"
#include "model/kv_cache.hpp"
#include "ops/thread_pool.hpp"
#include "runtime/context_shift.hpp"

namespace bantam {

namespace {
// Embedding inputs run in scratch caches of F32 rows: nothing is kept, so nothing is rounded.
constexpr KvRowTypes kF32Rows{GgmlType::F32, GgmlType::F32};
}  // namespace

struct BatchDecoder::Impl {
  std::shared_ptr<const Model> model;
  const ModelConfig& c;
  int64_t context;
  int max_batch;
  ops::ThreadPool pool;
  Decoder decoder;
  std::vector<KvCache> caches;
  std::vector<std::vector<TokenId>> sequences;
  std::vector<int64_t> written_ends;  // per slot: positions ever written, rejected drafts included
  ForwardBuffers buffers;

  Impl(std::shared_ptr<const Model> m, int n_slots, int64_t ctx, int threads, int batch, KvCacheTypes kv_types)
      : model(std::move(m)), c(model->impl().config), context(ctx), max_batch(std::max(1, batch)), pool(threads),
        decoder(c, model->impl().weights) {
    if (n_slots < 1) throw Error(fmt::format("batch decoder: {} slots; at least 1 is needed", n_slots));
    for (int i = 0; i < n_slots; ++i) caches.emplace_back(c, ctx, max_batch, kv_row_types(c, kv_types));
    sequences.resize(static_cast<size_t>(n_slots));
    written_ends.resize(static_cast<size_t>(n_slots));
  }

  int64_t reusable_prefix(int slot, std::span<const TokenId> prompt) const {
    const auto i = static_cast<size_t>(slot);
    return bantam::reusable_prefix(c, caches[i], sequences[i], prompt, written_ends[i]);
  }

  void check_slot(int slot) const {
    if (slot < 0 || slot >= static_cast<int>(caches.size())) {
      throw Error(fmt::format("batch decoder: slot {} outside 0..{}", slot, caches.size() - 1));
    }
  }
};

BatchDecoder::BatchDecoder(std::shared_ptr<const Model> model, int n_slots, int64_t context, int threads,
                           int max_batch, KvCacheTypes kv_types)
    : impl_(std::make_unique<Impl>(std::move(model), n_slots, context, threads, max_batch, kv_types)) {}
BatchDecoder::~BatchDecoder() = default;

int BatchDecoder::slots() const { return static_cast<int>(impl_->caches.size()); }
int64_t BatchDecoder::context() const { return impl_->context; }
int BatchDecoder::max_batch() const { return impl_->max_batch; }
const Model& BatchDecoder::model() const { return *impl_->model; }

const std::vector<TokenId>& BatchDecoder::tokens(int slot) const {
  impl_->check_slot(slot);
  return impl_->sequences[static_cast<size_t>(slot)];
}

int64_t BatchDecoder::reusable_prefix(int slot, std::span<const TokenId> prompt) const {
  impl_->check_slot(slot);
  return impl_->reusable_prefix(slot, prompt);
}

int64_t BatchDecoder::keep_prefix(int slot, std::span<const TokenId> prompt) {
  impl_->check_slot(slot);
  int64_t keep = impl_->reusable_prefix(slot, prompt);
  if (!prompt.empty() && keep == static_cast<int64_t>(prompt.size())) --keep;
  impl_->sequences[static_cast<size_t>(slot)].resize(static_cast<size_t>(keep));
  return keep;
}

int64_t BatchDecoder::shift_context(int slot, int64_t keep) {
  impl_->check_slot(slot);
  const auto i = static_cast<size_t>(slot);
  return bantam::shift_context(impl_->decoder, impl_->caches[i], impl_->sequences[i], keep);
}

void BatchDecoder::step(std::span<const BatchSegment> segments, std::vector<float>& logits) {
  Impl& s = *impl_;
  std::vector<DecodeSegment> parts;
  std::vector<bool> used(s.caches.size(), false);
  size_t total = 0;
  for (const BatchSegment& seg : segments) {
    s.check_slot(seg.slot);
    if (seg.tokens.empty()) throw Error(fmt::format("batch step: no tokens for slot {}", seg.slot));
    if (used[static_cast<size_t>(seg.slot)]) throw Error(fmt::format("batch step: slot {} appears twice", seg.slot));
    used[static_cast<size_t>(seg.slot)] = true;
    auto& sequence = s.sequences[static_cast<size_t>(seg.slot)];
    if (static_cast<int64_t>(sequence.size() + seg.tokens.size()) > s.context) {
      throw Error(fmt::format("batch step: {} tokens do not fit slot {}'s context of {} ({} already used)",
                              seg.tokens.size(), seg.slot, s.context, sequence.size()));
    }
    parts.push_back({seg.tokens, static_cast<int64_t>(sequence.size()), &s.caches[static_cast<size_t>(seg.slot)],
                     seg.lora, seg.all_logits});
    total += seg.tokens.size();
  }
  if (total == 0) throw Error("batch step: no tokens");
  if (static_cast<int64_t>(total) > s.max_batch) {
    throw Error(fmt::format("batch step: {} tokens exceed the batch of {}", total, s.max_batch));
  }
  s.decoder.forward(parts, s.buffers, s.pool, ForwardOutput::LastLogits, logits);
  for (const BatchSegment& seg : segments) {
    auto& sequence = s.sequences[static_cast<size_t>(seg.slot)];
    sequence.insert(sequence.end(), seg.tokens.begin(), seg.tokens.end());
    auto& written_end = s.written_ends[static_cast<size_t>(seg.slot)];
    written_end = std::max(written_end, static_cast<int64_t>(sequence.size()));
  }
}

void BatchDecoder::truncate(int slot, size_t length) {
  impl_->check_slot(slot);
  auto& sequence = impl_->sequences[static_cast<size_t>(slot)];
  if (length < sequence.size()) sequence.resize(length);
}

ops::ThreadPool& BatchDecoder::pool() { return impl_->pool; }

EmbeddingRun::EmbeddingRun(std::vector<std::vector<TokenId>> inputs) : inputs_(std::move(inputs)) {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].empty()) throw Error(fmt::format("embed: input {} has no tokens", i));
  }
}

EmbeddingRun::~EmbeddingRun() = default;

int64_t BatchDecoder::embed_piece(EmbeddingRun& run) {
  Impl& s = *impl_;
  if (run.done()) return 0;
  const auto width = static_cast<size_t>(s.c.n_embd);
  const auto batch = static_cast<size_t>(s.max_batch);
  std::vector<float> unused_logits;
  // Adds n rows of the last forward's normalized hidden states, from first_row on, to sum.
  const auto add_rows = [&](size_t first_row, size_t n, std::vector<double>& sum) {
    for (size_t t = first_row; t < first_row + n; ++t) {
      for (size_t j = 0; j < width; ++j) sum[j] += s.buffers.normed[t * width + j];
    }
  };
  // The mean of n rows summed in sum, scaled to unit length, is the next result.
  const auto unit_mean = [&](std::vector<double>& sum, size_t n) {
    double norm = 0.0;
    for (double& v : sum) {
      v /= static_cast<double>(n);
      norm += v * v;
    }
    norm = std::sqrt(norm);
    std::vector<float> embedding(width);
    for (size_t j = 0; j < width; ++j) embedding[j] = static_cast<float>(norm > 0 ? sum[j] / norm : 0.0);
    run.results_.push_back(std::move(embedding));
  };

  const size_t first = run.results_.size();
  const std::vector<TokenId>& head = run.inputs_[first];
  if (head.size() > batch) {
    // Too long for one forward: max_batch tokens at a time into its own cache.
    const auto n = static_cast<int64_t>(head.size());
    if (!run.long_cache_) {
      run.long_cache_ = std::make_unique<KvCache>(s.c, n, s.max_batch, kF32Rows);
      run.long_done_ = 0;
      run.long_sum_.assign(width, 0.0);
    }
    const int64_t count = std::min<int64_t>(s.max_batch, n - run.long_done_);
    const DecodeSegment part{std::span<const TokenId>(head).subspan(static_cast<size_t>(run.long_done_),
                                                                    static_cast<size_t>(count)),
                             run.long_done_, run.long_cache_.get(), nullptr};
    s.decoder.forward(std::span(&part, 1), s.buffers, s.pool, ForwardOutput::Hidden, unused_logits);
    add_rows(0, static_cast<size_t>(count), run.long_sum_);
    run.long_done_ += count;
    if (run.long_done_ == n) {
      unit_mean(run.long_sum_, head.size());
      run.long_cache_.reset();
    }
    return count;
  }
  // Whole inputs together, each in a scratch cache of its own length.
  size_t end = first;
  size_t rows = 0;
  while (end < run.inputs_.size() && run.inputs_[end].size() <= batch - rows) rows += run.inputs_[end++].size();
  std::vector<KvCache> scratch;
  scratch.reserve(end - first);
  std::vector<DecodeSegment> parts;
  for (size_t i = first; i < end; ++i) {
    const auto n = static_cast<int64_t>(run.inputs_[i].size());
    scratch.emplace_back(s.c, n, n, kF32Rows);
    parts.push_back({run.inputs_[i], 0, &scratch.back(), nullptr});
  }
  s.decoder.forward(parts, s.buffers, s.pool, ForwardOutput::Hidden, unused_logits);
  size_t first_row = 0;
  for (const DecodeSegment& part : parts) {
    std::vector<double> sum(width, 0.0);
    add_rows(first_row, part.tokens.size(), sum);
    unit_mean(sum, part.tokens.size());
    first_row += part.tokens.size();
  }
  return static_cast<int64_t>(rows);
}

size_t BatchDecoder::kv_bytes_per_slot(const Model& model, int64_t context, int max_batch, KvCacheTypes kv_types) {
  const ModelConfig& c = model.impl().config;
  const KvRowTypes types = kv_row_types(c, kv_types);
  size_t total = 0;
  for (int il = 0; il < c.n_layer; ++il) {
    const int64_t capacity =
        c.layer_sliding[il] ? std::min<int64_t>(context, c.sliding_window + max_batch - 1) : context;
    total += static_cast<size_t>(capacity) * static_cast<size_t>(c.n_head_kv) *
             (row_bytes(types.keys, c.head_dim_k) + row_bytes(types.values, c.head_dim_v));
  }
  return total;
}

size_t BatchDecoder::scratch_bytes(const Model& model, int max_batch) {
  const ModelConfig& c = model.impl().config;
  const size_t n = static_cast<size_t>(std::max(1, max_batch));
  const size_t per_row = 4u * static_cast<size_t>(c.n_embd) +
                         2u * static_cast<size_t>(c.n_head) * std::max(c.head_dim_k, c.head_dim_v) +
                         4u * static_cast<size_t>(c.n_head_kv) * std::max(c.head_dim_k, c.head_dim_v) +
                         4u * static_cast<size_t>(c.n_ff) + static_cast<size_t>(c.n_rot);
  return sizeof(float) * (n * per_row + n * static_cast<size_t>(c.n_vocab));
}

}  // namespace bantam
