#include "model/decoder.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "ops/attention.hpp"
#include "ops/matmul.hpp"
#include "ops/ops.hpp"
#include "ops/rows.hpp"

namespace bantam {

namespace {

void resize(std::vector<float>& buffer, int64_t n) {
  if (buffer.size() < static_cast<size_t>(n)) buffer.resize(static_cast<size_t>(n));
}

}  // namespace

ops::RopeParams Decoder::rope_params(int64_t context) const {
  const ModelConfig& c = config_;
  const float* factors = weights_.rope_freqs;
  if (c.traits.longrope && weights_.rope_factors_short) {
    // LongRoPE: the long factors once the context outgrows the original training length.
    const bool use_long = context > c.rope_original_context && weights_.rope_factors_long;
    factors = use_long ? weights_.rope_factors_long : weights_.rope_factors_short;
  }
  return ops::RopeParams{.style = c.traits.rope, .n_rot = c.n_rot, .freq_base = c.rope_freq_base,
                         .freq_scale = c.rope_freq_scale, .attn_factor = c.rope_attn_factor,
                         .freq_factors = factors};
}

void Decoder::project(const ops::Matrix& w, const float* x, int64_t n, float* y, int64_t y_stride,
                      std::span<const RowGroup> groups, ForwardBuffers& b, ops::ThreadPool& pool) const {
  ops::matmul(w, x, n, y, y_stride, pool);
  for (const RowGroup& g : groups) {
    if (!g.lora || g.lora->empty()) continue;
    ops::add_lora(g.lora->terms(w), x + g.first_row * w.cols, g.n, y + g.first_row * y_stride, y_stride, b.lora, pool);
  }
}

void Decoder::forward(std::span<const DecodeSegment> segments, ForwardBuffers& b, ops::ThreadPool& pool,
                      ForwardOutput output, std::vector<float>& logits) const {
  const ModelConfig& c = config_;
  int64_t n = 0;
  std::vector<RowGroup> groups;
  for (const DecodeSegment& seg : segments) {
    if (seg.tokens.empty() || !seg.cache) throw Error("forward: a segment without tokens or cache");
    groups.push_back({n, static_cast<int64_t>(seg.tokens.size()), seg.lora});
    n += static_cast<int64_t>(seg.tokens.size());
  }
  if (n == 0) throw Error("forward: no tokens");
  const int64_t width = c.n_embd;
  resize(b.x, n * width);
  resize(b.normed, n * width);
  resize(b.proj, n * width);
  resize(b.cos_sin, n * c.n_rot);
  b.positions.resize(static_cast<size_t>(n));

  // Embeddings (Gemma scales them by sqrt(n_embd)) and one cos/sin table per position, shared by
  // all layers.
  for (size_t s = 0; s < segments.size(); ++s) {
    const DecodeSegment& seg = segments[s];
    const ops::RopeParams rope = rope_params(seg.cache->context());
    for (int64_t i = 0; i < groups[s].n; ++i) {
      const int64_t t = groups[s].first_row + i;
      const int32_t token = seg.tokens[static_cast<size_t>(i)];
      if (token < 0 || token >= c.n_vocab) {
        throw Error(fmt::format("forward: token id {} is outside the vocabulary of {}", token, c.n_vocab));
      }
      ops::matrix_row(weights_.token_embd, token, b.x.data() + t * width);
      if (c.traits.embed_scale) ops::scale_inplace(b.x.data() + t * width, std::sqrt(static_cast<float>(width)), width);
      b.positions[t] = seg.first_pos + i;
      ops::rope_cos_sin(rope, b.positions[t], b.cos_sin.data() + t * c.n_rot);
    }
  }

  // Only the rows that need logits go on past the last layer's attention (its keys and values
  // are cached by then), as llama.cpp does: with last logits, one row per segment.
  for (int il = 0; il < c.n_layer; ++il) {
    attention_block(il, segments, groups, n, b, pool);
    if (il == c.n_layer - 1 && output == ForwardOutput::LastLogits) {
      std::vector<RowGroup> out_groups;
      int64_t kept = 0;
      for (size_t i = 0; i < groups.size(); ++i) {
        const int64_t rows = segments[i].all_logits ? groups[i].n : 1;
        // Rows move down (kept <= their source row), so a forward copy never overwrites its source.
        for (int64_t r = groups[i].first_row + groups[i].n - rows; r < groups[i].first_row + groups[i].n; ++r) {
          if (r != kept) std::copy(b.x.data() + r * width, b.x.data() + (r + 1) * width, b.x.data() + kept * width);
          ++kept;
        }
        out_groups.push_back({kept - rows, rows, groups[i].lora});
      }
      groups = out_groups;
      n = kept;
    }
    ffn_block(il, groups, n, b, pool);
  }

  if (output == ForwardOutput::Hidden) {
    ops::rms_norm_rows(b.x.data(), weights_.output_norm, b.normed.data(), n, width, c.rms_eps, pool);
    return;
  }
  ops::rms_norm_rows(b.x.data(), weights_.output_norm, b.normed.data(), n, width, c.rms_eps, pool);
  logits.resize(static_cast<size_t>(n * c.n_vocab));
  project(weights_.output, b.normed.data(), n, logits.data(), c.n_vocab, groups, b, pool);
  if (c.final_softcap != 0.0f) ops::softcap(logits.data(), n * c.n_vocab, c.final_softcap);
}

int64_t reusable_prefix(const ModelConfig& config, const KvCache& cache, std::span<const int32_t> tokens,
                        std::span<const int32_t> prompt, int64_t written_end) {
  const auto mismatch = std::mismatch(tokens.begin(), tokens.end(), prompt.begin(), prompt.end());
  int64_t keep = mismatch.first - tokens.begin();
  for (int il = 0; il < config.n_layer && keep > 0; ++il) {
    if (!config.layer_sliding[il]) continue;
    const int64_t oldest_needed = keep - config.sliding_window + 1;
    const int64_t oldest_held =
        std::max(static_cast<int64_t>(tokens.size()), written_end) - cache.capacity(il);
    if (oldest_needed < oldest_held) keep = 0;
  }
  return keep;
}

void Decoder::attention_block(int il, std::span<const DecodeSegment> segments, std::span<const RowGroup> groups,
                              int64_t n, ForwardBuffers& b, ops::ThreadPool& pool) const {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[il];
  const int64_t width = c.n_embd;
  const int64_t q_width = static_cast<int64_t>(c.n_head) * c.head_dim_k;
  const int64_t k_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_k;
  const int64_t v_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_v;
  resize(b.q, n * q_width);
  resize(b.k, n * k_width);
  resize(b.v, n * v_width);
  resize(b.attn, n * c.n_head * c.head_dim_v);

  ops::rms_norm_rows(b.x.data(), w.attn_norm, b.normed.data(), n, width, c.rms_eps, pool);
  if (c.traits.fused_qkv) {
    const int64_t qkv_width = q_width + k_width + v_width;
    resize(b.qkv, n * qkv_width);
    project(w.wqkv, b.normed.data(), n, b.qkv.data(), qkv_width, groups, b, pool);
    for (int64_t t = 0; t < n; ++t) {
      const float* row = b.qkv.data() + t * qkv_width;
      std::copy(row, row + q_width, b.q.data() + t * q_width);
      std::copy(row + q_width, row + q_width + k_width, b.k.data() + t * k_width);
      std::copy(row + q_width + k_width, row + qkv_width, b.v.data() + t * v_width);
    }
  } else {
    project(w.wq, b.normed.data(), n, b.q.data(), q_width, groups, b, pool);
    project(w.wk, b.normed.data(), n, b.k.data(), k_width, groups, b, pool);
    project(w.wv, b.normed.data(), n, b.v.data(), v_width, groups, b, pool);
    ops::add_bias_rows(b.q.data(), w.bq, n, q_width);
    ops::add_bias_rows(b.k.data(), w.bk, n, k_width);
    ops::add_bias_rows(b.v.data(), w.bv, n, v_width);
  }

  for (size_t s = 0; s < segments.size(); ++s) {
    const ops::RopeParams rope = rope_params(segments[s].cache->context());
    for (int64_t t = groups[s].first_row; t < groups[s].first_row + groups[s].n; ++t) {
      const float* cos_sin = b.cos_sin.data() + t * c.n_rot;
      ops::rope_apply(rope, cos_sin, b.q.data() + t * q_width, c.n_head, c.head_dim_k);
      ops::rope_apply(rope, cos_sin, b.k.data() + t * k_width, c.n_head_kv, c.head_dim_k);
    }
  }
  // Phi-3 and Gemma scale Q itself (before its F16 rounding in attention), the others the scores.
  float score_scale = c.attn_scale;
  if (c.traits.prescale_query) {
    ops::scale_inplace(b.q.data(), c.attn_scale, n * q_width);
    score_scale = 1.0f;
  }

  const ops::AttentionParams params{.n_head = c.n_head, .scale = score_scale, .softcap = c.attn_softcap,
                                    .window = c.layer_sliding[il] ? c.sliding_window : 0};
  const int64_t out_width = static_cast<int64_t>(c.n_head) * c.head_dim_v;
  for (size_t s = 0; s < segments.size(); ++s) {
    const int64_t r = groups[s].first_row;
    KvCache& cache = *segments[s].cache;
    cache.write(il, segments[s].first_pos, groups[s].n, b.k.data() + r * k_width, b.v.data() + r * v_width);
    ops::attention(params, cache.view(il), b.q.data() + r * q_width, b.positions.data() + r, groups[s].n,
                   b.attn.data() + r * out_width, pool);
  }

  project(w.wo, b.attn.data(), n, b.proj.data(), width, groups, b, pool);
  if (w.post_attn_norm) ops::rms_norm_rows(b.proj.data(), w.post_attn_norm, b.proj.data(), n, width, c.rms_eps, pool);
  ops::add_inplace(b.x.data(), b.proj.data(), n * width);
}

void Decoder::ffn_block(int il, std::span<const RowGroup> groups, int64_t n, ForwardBuffers& b,
                        ops::ThreadPool& pool) const {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[il];
  const int64_t width = c.n_embd;
  const int64_t ff = c.n_ff;
  resize(b.act, n * ff);

  ops::rms_norm_rows(b.x.data(), w.ffn_norm, b.normed.data(), n, width, c.rms_eps, pool);
  // gate and up rows: separate matrices, or one matrix whose rows are gate then up.
  const float* gate;
  const float* up;
  int64_t stride;
  if (c.traits.fused_gate_up) {
    resize(b.gate, n * 2 * ff);
    project(w.w_up, b.normed.data(), n, b.gate.data(), 2 * ff, groups, b, pool);
    gate = b.gate.data();
    up = b.gate.data() + ff;
    stride = 2 * ff;
  } else {
    resize(b.gate, n * ff);
    resize(b.up, n * ff);
    project(w.w_gate, b.normed.data(), n, b.gate.data(), ff, groups, b, pool);
    project(w.w_up, b.normed.data(), n, b.up.data(), ff, groups, b, pool);
    gate = b.gate.data();
    up = b.up.data();
    stride = ff;
  }
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* out = b.act.data() + t * ff;
      if (c.traits.activation == Activation::SiLU) {
        ops::silu_mul(gate + t * stride, up + t * stride, out, ff);
      } else {
        ops::gelu_mul(gate + t * stride, up + t * stride, out, ff);
      }
    }
  });

  project(w.w_down, b.act.data(), n, b.proj.data(), width, groups, b, pool);
  if (w.post_ffn_norm) ops::rms_norm_rows(b.proj.data(), w.post_ffn_norm, b.proj.data(), n, width, c.rms_eps, pool);
  ops::add_inplace(b.x.data(), b.proj.data(), n * width);
}

}  // namespace bantam
