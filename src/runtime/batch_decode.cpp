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

namespace bantam {

namespace {

GgmlType cache_type(KvCacheType type) {
  switch (type) {
    case KvCacheType::F32: return GgmlType::F32;
    case KvCacheType::Q8_0: return GgmlType::Q8_0;
    case KvCacheType::F16: break;
  }
  return GgmlType::F16;
}

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
  ForwardBuffers buffers;

  Impl(std::shared_ptr<const Model> m, int n_slots, int64_t ctx, int threads, int batch, KvCacheType kv_type)
      : model(std::move(m)), c(model->impl().config), context(ctx), max_batch(std::max(1, batch)), pool(threads),
        decoder(c, model->impl().weights) {
    if (n_slots < 1) throw Error(fmt::format("batch decoder: {} slots; at least 1 is needed", n_slots));
    for (int i = 0; i < n_slots; ++i) caches.emplace_back(c, ctx, max_batch, cache_type(kv_type));
    sequences.resize(static_cast<size_t>(n_slots));
  }

  int64_t reusable_prefix(int slot, std::span<const TokenId> prompt) const {
    return bantam::reusable_prefix(c, caches[static_cast<size_t>(slot)], sequences[static_cast<size_t>(slot)], prompt);
  }

  void check_slot(int slot) const {
    if (slot < 0 || slot >= static_cast<int>(caches.size())) {
      throw Error(fmt::format("batch decoder: slot {} outside 0..{}", slot, caches.size() - 1));
    }
  }
};

BatchDecoder::BatchDecoder(std::shared_ptr<const Model> model, int n_slots, int64_t context, int threads,
                           int max_batch, KvCacheType kv_type)
    : impl_(std::make_unique<Impl>(std::move(model), n_slots, context, threads, max_batch, kv_type)) {}
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
                     seg.lora});
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
  }
}

std::vector<std::vector<float>> BatchDecoder::embed(std::span<const std::vector<TokenId>> inputs) {
  Impl& s = *impl_;
  const int64_t width = s.c.n_embd;
  std::vector<std::vector<float>> result;
  std::vector<float> unused_logits;
  size_t next = 0;
  while (next < inputs.size()) {
    // Inputs grouped into forwards of about max_batch rows (a longer input alone), each in a
    // scratch cache of its own length.
    size_t end = next;
    size_t rows = 0;
    while (end < inputs.size() && (end == next || rows + inputs[end].size() <= static_cast<size_t>(s.max_batch))) {
      if (inputs[end].empty()) throw Error(fmt::format("embed: input {} has no tokens", end));
      rows += inputs[end].size();
      ++end;
    }
    std::vector<KvCache> scratch;
    scratch.reserve(end - next);
    std::vector<DecodeSegment> parts;
    for (size_t i = next; i < end; ++i) {
      const auto n = static_cast<int64_t>(inputs[i].size());
      scratch.emplace_back(s.c, n, n, GgmlType::F32);
      parts.push_back({inputs[i], 0, &scratch.back(), nullptr});
    }
    s.decoder.forward(parts, s.buffers, s.pool, ForwardOutput::Hidden, unused_logits);
    int64_t first_row = 0;
    for (const DecodeSegment& part : parts) {
      const auto n = static_cast<int64_t>(part.tokens.size());
      std::vector<double> sum(static_cast<size_t>(width), 0.0);
      for (int64_t t = first_row; t < first_row + n; ++t) {
        for (int64_t j = 0; j < width; ++j) sum[j] += s.buffers.normed[t * width + j];
      }
      double norm = 0.0;
      for (double& v : sum) {
        v /= static_cast<double>(n);
        norm += v * v;
      }
      norm = std::sqrt(norm);
      std::vector<float> embedding(static_cast<size_t>(width));
      for (int64_t j = 0; j < width; ++j) embedding[j] = static_cast<float>(norm > 0 ? sum[j] / norm : 0.0);
      result.push_back(std::move(embedding));
      first_row += n;
    }
    next = end;
  }
  return result;
}

size_t BatchDecoder::kv_bytes_per_slot(const Model& model, int64_t context, int max_batch, KvCacheType kv_type) {
  const ModelConfig& c = model.impl().config;
  const GgmlType type = cache_type(kv_type);
  size_t total = 0;
  for (int il = 0; il < c.n_layer; ++il) {
    const int64_t capacity =
        c.layer_sliding[il] ? std::min<int64_t>(context, c.sliding_window + max_batch - 1) : context;
    total += static_cast<size_t>(capacity) * static_cast<size_t>(c.n_head_kv) *
             (row_bytes(type, c.head_dim_k) + row_bytes(type, c.head_dim_v));
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
