// The batched forward pass follows Decoder::forward layer by layer; what differs is that rows
// belong to different sequences: positions, cache writes and attention are per segment, while
// every matrix product runs once over all rows.
#include "runtime/batch_decode.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "model/kv_cache.hpp"
#include "ops/attention.hpp"
#include "ops/matmul.hpp"
#include "ops/ops.hpp"
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

void grow(std::vector<float>& buffer, int64_t n) {
  if (buffer.size() < static_cast<size_t>(n)) buffer.resize(static_cast<size_t>(n));
}

void norm_rows(const float* x, const float* weight, float* y, int64_t n, int64_t width, float eps,
               ops::ThreadPool& pool) {
  pool.parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) ops::rms_norm(x + t * width, weight, y + t * width, width, eps);
  });
}

void add_bias(float* y, const float* bias, int64_t n, int64_t width) {
  if (!bias) return;
  for (int64_t t = 0; t < n; ++t) ops::add_inplace(y + t * width, bias, width);
}

// One segment of a forward pass: rows [first_row, first_row + n) go to `cache` from first_pos.
struct Rows {
  KvCache* cache;
  int64_t first_pos;
  int64_t first_row;
  int64_t n;
};

struct Buffers {
  std::vector<float> x, normed, q, k, v, qkv, attn, proj, gate, up, act, cos_sin, last;
  std::vector<int64_t> positions;
};

}  // namespace

struct BatchDecoder::Impl {
  std::shared_ptr<const Model> model;
  const ModelConfig& c;
  const Weights& w;
  int64_t context;
  int max_batch;
  ops::ThreadPool pool;
  std::vector<KvCache> caches;
  std::vector<std::vector<TokenId>> sequences;
  Buffers b;

  Impl(std::shared_ptr<const Model> m, int n_slots, int64_t ctx, int threads, int batch, KvCacheType kv_type)
      : model(std::move(m)), c(model->impl().config), w(model->impl().weights), context(ctx),
        max_batch(std::max(1, batch)), pool(threads) {
    if (n_slots < 1) throw Error(fmt::format("batch decoder: {} slots; at least 1 is needed", n_slots));
    for (int i = 0; i < n_slots; ++i) caches.emplace_back(c, ctx, max_batch, cache_type(kv_type));
    sequences.resize(static_cast<size_t>(n_slots));
  }

  ops::RopeParams rope_params(int64_t cache_context) const {
    const float* factors = w.rope_freqs;
    if (c.traits.longrope && w.rope_factors_short) {
      const bool use_long = cache_context > c.rope_original_context && w.rope_factors_long;
      factors = use_long ? w.rope_factors_long : w.rope_factors_short;
    }
    return ops::RopeParams{.style = c.traits.rope, .n_rot = c.n_rot, .freq_base = c.rope_freq_base,
                           .freq_scale = c.rope_freq_scale, .attn_factor = c.rope_attn_factor,
                           .freq_factors = factors};
  }

  // Runs all rows through every layer; the final hidden states stay in b.x.
  void forward(std::span<const TokenId> tokens, std::span<const Rows> segments) {
    const int64_t n = static_cast<int64_t>(tokens.size());
    const int64_t width = c.n_embd;
    grow(b.x, n * width);
    grow(b.normed, n * width);
    grow(b.proj, n * width);
    b.positions.resize(static_cast<size_t>(n));
    grow(b.cos_sin, n * c.n_rot);
    for (const Rows& seg : segments) {
      const ops::RopeParams rope = rope_params(seg.cache->context());
      for (int64_t i = 0; i < seg.n; ++i) {
        const int64_t t = seg.first_row + i;
        if (tokens[t] < 0 || tokens[t] >= c.n_vocab) {
          throw Error(fmt::format("batch forward: token id {} is outside the vocabulary of {}", tokens[t], c.n_vocab));
        }
        ops::matrix_row(w.token_embd, tokens[t], b.x.data() + t * width);
        if (c.traits.embed_scale) ops::scale_inplace(b.x.data() + t * width, std::sqrt(static_cast<float>(width)), width);
        b.positions[t] = seg.first_pos + i;
        ops::rope_cos_sin(rope, b.positions[t], b.cos_sin.data() + t * c.n_rot);
      }
    }
    for (int il = 0; il < c.n_layer; ++il) {
      attention_block(il, n, segments);
      ffn_block(il, n);
    }
  }

  void attention_block(int il, int64_t n, std::span<const Rows> segments) {
    const LayerWeights& lw = w.layers[il];
    const int64_t width = c.n_embd;
    const int64_t q_width = static_cast<int64_t>(c.n_head) * c.head_dim_k;
    const int64_t k_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_k;
    const int64_t v_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_v;
    const int64_t out_width = static_cast<int64_t>(c.n_head) * c.head_dim_v;
    grow(b.q, n * q_width);
    grow(b.k, n * k_width);
    grow(b.v, n * v_width);
    grow(b.attn, n * out_width);

    norm_rows(b.x.data(), lw.attn_norm, b.normed.data(), n, width, c.rms_eps, pool);
    if (c.traits.fused_qkv) {
      const int64_t qkv_width = q_width + k_width + v_width;
      grow(b.qkv, n * qkv_width);
      ops::matmul(lw.wqkv, b.normed.data(), n, b.qkv.data(), qkv_width, pool);
      for (int64_t t = 0; t < n; ++t) {
        const float* row = b.qkv.data() + t * qkv_width;
        std::copy(row, row + q_width, b.q.data() + t * q_width);
        std::copy(row + q_width, row + q_width + k_width, b.k.data() + t * k_width);
        std::copy(row + q_width + k_width, row + qkv_width, b.v.data() + t * v_width);
      }
    } else {
      ops::matmul(lw.wq, b.normed.data(), n, b.q.data(), q_width, pool);
      ops::matmul(lw.wk, b.normed.data(), n, b.k.data(), k_width, pool);
      ops::matmul(lw.wv, b.normed.data(), n, b.v.data(), v_width, pool);
      add_bias(b.q.data(), lw.bq, n, q_width);
      add_bias(b.k.data(), lw.bk, n, k_width);
      add_bias(b.v.data(), lw.bv, n, v_width);
    }
    for (const Rows& seg : segments) {
      const ops::RopeParams rope = rope_params(seg.cache->context());
      for (int64_t t = seg.first_row; t < seg.first_row + seg.n; ++t) {
        const float* cos_sin = b.cos_sin.data() + t * c.n_rot;
        ops::rope_apply(rope, cos_sin, b.q.data() + t * q_width, c.n_head, c.head_dim_k);
        ops::rope_apply(rope, cos_sin, b.k.data() + t * k_width, c.n_head_kv, c.head_dim_k);
      }
    }
    float score_scale = c.attn_scale;
    if (c.traits.prescale_query) {
      ops::scale_inplace(b.q.data(), c.attn_scale, n * q_width);
      score_scale = 1.0f;
    }
    const ops::AttentionParams params{.n_head = c.n_head, .scale = score_scale, .softcap = c.attn_softcap,
                                      .window = c.layer_sliding[il] ? c.sliding_window : 0};
    for (const Rows& seg : segments) {
      const int64_t r = seg.first_row;
      seg.cache->write(il, seg.first_pos, seg.n, b.k.data() + r * k_width, b.v.data() + r * v_width);
      ops::attention(params, seg.cache->view(il), b.q.data() + r * q_width, b.positions.data() + r, seg.n,
                     b.attn.data() + r * out_width, pool);
    }
    ops::matmul(lw.wo, b.attn.data(), n, b.proj.data(), width, pool);
    if (lw.post_attn_norm) norm_rows(b.proj.data(), lw.post_attn_norm, b.proj.data(), n, width, c.rms_eps, pool);
    ops::add_inplace(b.x.data(), b.proj.data(), n * width);
  }

  void ffn_block(int il, int64_t n) {
    const LayerWeights& lw = w.layers[il];
    const int64_t width = c.n_embd;
    const int64_t ff = c.n_ff;
    grow(b.act, n * ff);
    norm_rows(b.x.data(), lw.ffn_norm, b.normed.data(), n, width, c.rms_eps, pool);
    const float* gate;
    const float* up;
    int64_t stride;
    if (c.traits.fused_gate_up) {
      grow(b.gate, n * 2 * ff);
      ops::matmul(lw.w_up, b.normed.data(), n, b.gate.data(), 2 * ff, pool);
      gate = b.gate.data();
      up = b.gate.data() + ff;
      stride = 2 * ff;
    } else {
      grow(b.gate, n * ff);
      grow(b.up, n * ff);
      ops::matmul(lw.w_gate, b.normed.data(), n, b.gate.data(), ff, pool);
      ops::matmul(lw.w_up, b.normed.data(), n, b.up.data(), ff, pool);
      gate = b.gate.data();
      up = b.up.data();
      stride = ff;
    }
    for (int64_t t = 0; t < n; ++t) {
      float* out = b.act.data() + t * ff;
      if (c.traits.activation == Activation::SiLU) {
        ops::silu_mul(gate + t * stride, up + t * stride, out, ff);
      } else {
        ops::gelu_mul(gate + t * stride, up + t * stride, out, ff);
      }
    }
    ops::matmul(lw.w_down, b.act.data(), n, b.proj.data(), width, pool);
    if (lw.post_ffn_norm) norm_rows(b.proj.data(), lw.post_ffn_norm, b.proj.data(), n, width, c.rms_eps, pool);
    ops::add_inplace(b.x.data(), b.proj.data(), n * width);
  }

  int64_t reusable_prefix(int slot, std::span<const TokenId> prompt) const {
    const auto& tokens = sequences[static_cast<size_t>(slot)];
    const auto mismatch = std::mismatch(tokens.begin(), tokens.end(), prompt.begin(), prompt.end());
    int64_t keep = mismatch.first - tokens.begin();
    for (int il = 0; il < c.n_layer && keep > 0; ++il) {
      if (!c.layer_sliding[il]) continue;
      const int64_t oldest_needed = keep - c.sliding_window + 1;
      const int64_t oldest_held = static_cast<int64_t>(tokens.size()) - caches[static_cast<size_t>(slot)].capacity(il);
      if (oldest_needed < oldest_held) keep = 0;
    }
    return keep;
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
  std::vector<TokenId> all;
  std::vector<Rows> rows;
  std::vector<bool> used(s.caches.size(), false);
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
    rows.push_back(Rows{&s.caches[static_cast<size_t>(seg.slot)], static_cast<int64_t>(sequence.size()),
                        static_cast<int64_t>(all.size()), static_cast<int64_t>(seg.tokens.size())});
    all.insert(all.end(), seg.tokens.begin(), seg.tokens.end());
  }
  if (all.empty()) throw Error("batch step: no tokens");
  if (static_cast<int64_t>(all.size()) > s.max_batch) {
    throw Error(fmt::format("batch step: {} tokens exceed the batch of {}", all.size(), s.max_batch));
  }
  s.forward(all, rows);
  for (const BatchSegment& seg : segments) {
    auto& sequence = s.sequences[static_cast<size_t>(seg.slot)];
    sequence.insert(sequence.end(), seg.tokens.begin(), seg.tokens.end());
  }

  // Output head on each segment's last row only.
  const int64_t width = s.c.n_embd;
  const int64_t n_out = static_cast<int64_t>(rows.size());
  grow(s.b.last, n_out * width);
  for (int64_t i = 0; i < n_out; ++i) {
    const float* row = s.b.x.data() + (rows[i].first_row + rows[i].n - 1) * width;
    std::copy(row, row + width, s.b.last.data() + i * width);
  }
  norm_rows(s.b.last.data(), s.w.output_norm, s.b.normed.data(), n_out, width, s.c.rms_eps, s.pool);
  logits.resize(static_cast<size_t>(n_out * s.c.n_vocab));
  ops::matmul(s.w.output, s.b.normed.data(), n_out, logits.data(), s.c.n_vocab, s.pool);
  if (s.c.final_softcap != 0.0f) ops::softcap(logits.data(), n_out * s.c.n_vocab, s.c.final_softcap);
}

std::vector<std::vector<float>> BatchDecoder::embed(std::span<const std::vector<TokenId>> inputs) {
  Impl& s = *impl_;
  const int64_t width = s.c.n_embd;
  std::vector<std::vector<float>> result;
  size_t next = 0;
  while (next < inputs.size()) {
    // Inputs grouped into forwards of about max_batch rows (a longer input alone).
    std::vector<KvCache> scratch;
    std::vector<TokenId> all;
    size_t end = next;
    while (end < inputs.size() && (end == next || all.size() + inputs[end].size() <= static_cast<size_t>(s.max_batch))) {
      if (inputs[end].empty()) throw Error(fmt::format("embed: input {} has no tokens", end));
      all.insert(all.end(), inputs[end].begin(), inputs[end].end());
      ++end;
    }
    scratch.reserve(end - next);
    std::vector<Rows> rows;
    int64_t row = 0;
    for (size_t i = next; i < end; ++i) {
      const auto n = static_cast<int64_t>(inputs[i].size());
      scratch.emplace_back(s.c, n, n, GgmlType::F32);
      rows.push_back(Rows{&scratch.back(), 0, row, n});
      row += n;
    }
    s.forward(all, rows);
    const int64_t n = static_cast<int64_t>(all.size());
    norm_rows(s.b.x.data(), s.w.output_norm, s.b.normed.data(), n, width, s.c.rms_eps, s.pool);
    for (const Rows& r : rows) {
      std::vector<double> sum(static_cast<size_t>(width), 0.0);
      for (int64_t t = r.first_row; t < r.first_row + r.n; ++t) {
        for (int64_t j = 0; j < width; ++j) sum[j] += s.b.normed[t * width + j];
      }
      double norm = 0.0;
      for (double& v : sum) {
        v /= static_cast<double>(r.n);
        norm += v * v;
      }
      norm = std::sqrt(norm);
      std::vector<float> embedding(static_cast<size_t>(width));
      for (int64_t j = 0; j < width; ++j) embedding[j] = static_cast<float>(norm > 0 ? sum[j] / norm : 0.0);
      result.push_back(std::move(embedding));
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
