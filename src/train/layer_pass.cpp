#include "train/layer_pass.hpp"

#include <algorithm>

#include "ops/matmul.hpp"
#include "ops/rows.hpp"

namespace bantam::train {

namespace {

void clear(std::vector<float>& buffer, int64_t n) { std::fill(buffer.begin(), buffer.begin() + n, 0.0f); }

// Copies columns [first, first + width) of n rows of `stride` floats into rows of `width`, or back.
void copy_columns(const float* from, int64_t from_stride, float* to, int64_t to_stride, int64_t n, int64_t width) {
  for (int64_t t = 0; t < n; ++t) std::copy(from + t * from_stride, from + t * from_stride + width, to + t * to_stride);
}

GatedActivation gated_activation(const ModelConfig& config) {
  return config.traits.activation == Activation::SiLU ? GatedActivation::SiLU : GatedActivation::GeluTanh;
}

}  // namespace

int target_slot(TensorRole role) {
  const auto it = std::find(kLayerTargets.begin(), kLayerTargets.end(), role);
  return it == kLayerTargets.end() ? -1 : static_cast<int>(it - kLayerTargets.begin());
}

std::vector<std::pair<std::vector<float>*, int64_t>> LayerBuffers::widths(const ModelConfig& c, int rank) {
  const int64_t e = c.n_embd, f = c.n_ff;
  const int64_t qw = static_cast<int64_t>(c.n_head) * c.head_dim_k;
  const int64_t kw = static_cast<int64_t>(c.n_head_kv) * c.head_dim_k;
  const int64_t vw = static_cast<int64_t>(c.n_head_kv) * c.head_dim_v;
  const int64_t aw = static_cast<int64_t>(c.n_head) * c.head_dim_v;
  const int64_t fused_qkv = c.traits.fused_qkv ? qw + kw + vw : 0;
  const bool fused_ffn = c.traits.fused_gate_up;
  std::vector<std::pair<std::vector<float>*, int64_t>> list = {
      {&attn_in, e},   {&q, qw},        {&k, kw},       {&v, vw},     {&qkv, fused_qkv},
      {&attn, aw},     {&attn_proj, e}, {&mid, e},      {&ffn_in, e}, {&gate_up, fused_ffn ? 2 * f : f},
      {&up, fused_ffn ? 0 : f},         {&act, f},      {&ffn_proj, e},
      {&d_branch, e},  {&d_in, e},      {&d_attn, aw},  {&d_q, qw},   {&d_k, kw},
      {&d_v, vw},      {&d_qkv, fused_qkv},             {&d_act, f},  {&d_gate_up, fused_ffn ? 2 * f : f},
      {&d_up, fused_ffn ? 0 : f},       {&d_low_rank, rank}};
  for (std::vector<float>& u : low_rank) list.emplace_back(&u, rank);
  return list;
}

void LayerBuffers::resize(const ModelConfig& config, int rank, int64_t n) {
  for (auto& [buffer, width] : widths(config, rank)) {
    if (buffer->size() < static_cast<size_t>(width * n)) buffer->resize(static_cast<size_t>(width * n));
  }
}

int64_t LayerBuffers::floats_per_token(const ModelConfig& config, int rank) {
  LayerBuffers none;
  int64_t total = 0;
  for (const auto& entry : none.widths(config, rank)) total += entry.second;
  return total;
}

SequenceAttention LayerPass::attention_shape() const {
  const ModelConfig& c = config;
  return {.n_head = c.n_head, .n_kv_head = c.n_head_kv, .head_dim_k = c.head_dim_k, .head_dim_v = c.head_dim_v,
          .scale = c.attn_scale, .softcap = c.attn_softcap,
          .window = c.layer_sliding[static_cast<size_t>(layer)] ? c.sliding_window : 0};
}

void LayerPass::project(int slot, const ops::Matrix& w, const float* x, int64_t n, float* y, int64_t y_stride) {
  ops::matmul(w, x, n, y, y_stride, pool);
  if (adapters.has(slot)) {
    low_rank_forward(adapters.terms[static_cast<size_t>(slot)], x, n, b.low_rank[static_cast<size_t>(slot)].data(), y,
                     y_stride, pool);
  }
}

void LayerPass::project_backward(int slot, const ops::Matrix& w, const float* x, const float* dy, int64_t dy_stride,
                                 int64_t n, float* dx) {
  if (dx) matmul_transposed_add(w, dy, dy_stride, n, dx, w.cols, pool);
  if (adapters.has(slot)) {
    const auto s = static_cast<size_t>(slot);
    low_rank_backward(adapters.terms[s], x, b.low_rank[s].data(), dy, dy_stride, n, adapters.grad_a[s],
                      adapters.grad_b[s], dx, b.d_low_rank.data(), pool);
  }
}

void LayerPass::forward(const float* in, float* out, int64_t n) {
  const ModelConfig& c = config;
  const LayerWeights& w = weights;
  const int64_t e = c.n_embd, f = c.n_ff;
  const int64_t qw = static_cast<int64_t>(c.n_head) * c.head_dim_k;
  const int64_t kw = static_cast<int64_t>(c.n_head_kv) * c.head_dim_k;
  const int64_t vw = static_cast<int64_t>(c.n_head_kv) * c.head_dim_v;

  ops::rms_norm_rows(in, w.attn_norm, b.attn_in.data(), n, e, c.rms_eps, pool);
  if (c.traits.fused_qkv) {
    const int64_t width = qw + kw + vw;
    project(target_slot(TensorRole::AttnQkv), w.wqkv, b.attn_in.data(), n, b.qkv.data(), width);
    copy_columns(b.qkv.data(), width, b.q.data(), qw, n, qw);
    copy_columns(b.qkv.data() + qw, width, b.k.data(), kw, n, kw);
    copy_columns(b.qkv.data() + qw + kw, width, b.v.data(), vw, n, vw);
  } else {
    project(target_slot(TensorRole::AttnQ), w.wq, b.attn_in.data(), n, b.q.data(), qw);
    project(target_slot(TensorRole::AttnK), w.wk, b.attn_in.data(), n, b.k.data(), kw);
    project(target_slot(TensorRole::AttnV), w.wv, b.attn_in.data(), n, b.v.data(), vw);
    ops::add_bias_rows(b.q.data(), w.bq, n, qw);
    ops::add_bias_rows(b.k.data(), w.bk, n, kw);
    ops::add_bias_rows(b.v.data(), w.bv, n, vw);
  }
  for (int64_t t = 0; t < n; ++t) {
    ops::rope_apply(rope, cos_sin + t * c.n_rot, b.q.data() + t * qw, c.n_head, c.head_dim_k);
    ops::rope_apply(rope, cos_sin + t * c.n_rot, b.k.data() + t * kw, c.n_head_kv, c.head_dim_k);
  }
  attention_forward(attention_shape(), b.q.data(), b.k.data(), b.v.data(), n, b.attn.data(), pool);
  project(target_slot(TensorRole::AttnOutput), w.wo, b.attn.data(), n, b.attn_proj.data(), e);
  if (w.post_attn_norm) {
    ops::rms_norm_rows(b.attn_proj.data(), w.post_attn_norm, b.mid.data(), n, e, c.rms_eps, pool);
  } else {
    std::copy(b.attn_proj.begin(), b.attn_proj.begin() + n * e, b.mid.begin());
  }
  ops::add_inplace(b.mid.data(), in, n * e);

  ops::rms_norm_rows(b.mid.data(), w.ffn_norm, b.ffn_in.data(), n, e, c.rms_eps, pool);
  const float* gate = b.gate_up.data();
  const float* up;
  int64_t stride;
  if (c.traits.fused_gate_up) {
    project(target_slot(TensorRole::FfnUp), w.w_up, b.ffn_in.data(), n, b.gate_up.data(), 2 * f);
    up = b.gate_up.data() + f;
    stride = 2 * f;
  } else {
    project(target_slot(TensorRole::FfnGate), w.w_gate, b.ffn_in.data(), n, b.gate_up.data(), f);
    project(target_slot(TensorRole::FfnUp), w.w_up, b.ffn_in.data(), n, b.up.data(), f);
    up = b.up.data();
    stride = f;
  }
  const GatedActivation activation = gated_activation(c);
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) gated_forward(activation, gate + t * stride, up + t * stride, b.act.data() + t * f, f);
  });
  project(target_slot(TensorRole::FfnDown), w.w_down, b.act.data(), n, b.ffn_proj.data(), e);
  if (w.post_ffn_norm) {
    ops::rms_norm_rows(b.ffn_proj.data(), w.post_ffn_norm, out, n, e, c.rms_eps, pool);
  } else {
    std::copy(b.ffn_proj.begin(), b.ffn_proj.begin() + n * e, out);
  }
  ops::add_inplace(out, b.mid.data(), n * e);
}

// Gemma 2 normalizes a branch's output before the residual: the gradient of the branch's
// projection through that norm (in d_branch), or `grad` itself where the layer has none.
const float* LayerPass::post_norm_backward(const float* projection, const float* norm, const float* grad, int64_t n) {
  if (!norm) return grad;
  const int64_t e = config.n_embd;
  clear(b.d_branch, n * e);
  rms_norm_rows_backward(projection, norm, grad, b.d_branch.data(), n, e, config.rms_eps, pool);
  return b.d_branch.data();
}

void LayerPass::backward(const float* in, float* grad, int64_t n, bool need_input_gradient) {
  const ModelConfig& c = config;
  const LayerWeights& w = weights;
  const int64_t e = c.n_embd, f = c.n_ff;
  const int64_t qw = static_cast<int64_t>(c.n_head) * c.head_dim_k;
  const int64_t kw = static_cast<int64_t>(c.n_head_kv) * c.head_dim_k;
  const int64_t vw = static_cast<int64_t>(c.n_head_kv) * c.head_dim_v;
  const int64_t aw = static_cast<int64_t>(c.n_head) * c.head_dim_v;

  // Feed-forward branch: grad becomes d loss / d mid (the residual plus the branch).
  const float* d_ffn_proj = post_norm_backward(b.ffn_proj.data(), w.post_ffn_norm, grad, n);
  clear(b.d_act, n * f);
  project_backward(target_slot(TensorRole::FfnDown), w.w_down, b.act.data(), d_ffn_proj, e, n, b.d_act.data());
  const bool fused = c.traits.fused_gate_up;
  const int64_t stride = fused ? 2 * f : f;
  const float* gate = b.gate_up.data();
  const float* up = fused ? b.gate_up.data() + f : b.up.data();
  float* d_gate = b.d_gate_up.data();
  float* d_up = fused ? b.d_gate_up.data() + f : b.d_up.data();
  clear(b.d_gate_up, n * stride);
  if (!fused) clear(b.d_up, n * f);
  const GatedActivation activation = gated_activation(c);
  pool.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      gated_backward(activation, gate + t * stride, up + t * stride, b.d_act.data() + t * f, d_gate + t * stride,
                     d_up + t * stride, f);
    }
  });
  clear(b.d_in, n * e);
  if (fused) {
    project_backward(target_slot(TensorRole::FfnUp), w.w_up, b.ffn_in.data(), b.d_gate_up.data(), 2 * f, n,
                     b.d_in.data());
  } else {
    project_backward(target_slot(TensorRole::FfnGate), w.w_gate, b.ffn_in.data(), d_gate, f, n, b.d_in.data());
    project_backward(target_slot(TensorRole::FfnUp), w.w_up, b.ffn_in.data(), d_up, f, n, b.d_in.data());
  }
  rms_norm_rows_backward(b.mid.data(), w.ffn_norm, b.d_in.data(), grad, n, e, c.rms_eps, pool);

  // Attention branch: grad becomes d loss / d in.
  const float* d_attn_proj = post_norm_backward(b.attn_proj.data(), w.post_attn_norm, grad, n);
  clear(b.d_attn, n * aw);
  project_backward(target_slot(TensorRole::AttnOutput), w.wo, b.attn.data(), d_attn_proj, e, n, b.d_attn.data());
  clear(b.d_q, n * qw);
  clear(b.d_k, n * kw);
  clear(b.d_v, n * vw);
  attention_backward(attention_shape(), b.q.data(), b.k.data(), b.v.data(), n, b.d_attn.data(), b.d_q.data(),
                     b.d_k.data(), b.d_v.data(), pool);
  for (int64_t t = 0; t < n; ++t) {
    rope_backward(rope, cos_sin + t * c.n_rot, b.d_q.data() + t * qw, c.n_head, c.head_dim_k);
    rope_backward(rope, cos_sin + t * c.n_rot, b.d_k.data() + t * kw, c.n_head_kv, c.head_dim_k);
  }
  float* d_in = need_input_gradient ? b.d_in.data() : nullptr;
  if (d_in) clear(b.d_in, n * e);
  if (c.traits.fused_qkv) {
    const int64_t width = qw + kw + vw;
    copy_columns(b.d_q.data(), qw, b.d_qkv.data(), width, n, qw);
    copy_columns(b.d_k.data(), kw, b.d_qkv.data() + qw, width, n, kw);
    copy_columns(b.d_v.data(), vw, b.d_qkv.data() + qw + kw, width, n, vw);
    project_backward(target_slot(TensorRole::AttnQkv), w.wqkv, b.attn_in.data(), b.d_qkv.data(), width, n, d_in);
  } else {
    project_backward(target_slot(TensorRole::AttnQ), w.wq, b.attn_in.data(), b.d_q.data(), qw, n, d_in);
    project_backward(target_slot(TensorRole::AttnK), w.wk, b.attn_in.data(), b.d_k.data(), kw, n, d_in);
    project_backward(target_slot(TensorRole::AttnV), w.wv, b.attn_in.data(), b.d_v.data(), vw, n, d_in);
  }
  if (d_in) rms_norm_rows_backward(in, w.attn_norm, d_in, grad, n, e, c.rms_eps, pool);
}

}  // namespace bantam::train
