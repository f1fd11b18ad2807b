// One decoder layer of the training pass, forward with its activations kept and backward from
// them (internal to src/train/). The same forward serves the checkpointing pass and the
// recomputation before a layer's backward step, so both see identical activations.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "model/config.hpp"
#include "model/tensor_table.hpp"
#include "model/weights.hpp"
#include "ops/ops.hpp"
#include "ops/thread_pool.hpp"
#include "train/grad_ops.hpp"

namespace bantam::train {

// The matrices of a layer LoRA may train, in the order of a layer's slots.
inline constexpr std::array<TensorRole, 8> kLayerTargets = {
    TensorRole::AttnQ,      TensorRole::AttnK,   TensorRole::AttnV, TensorRole::AttnQkv,
    TensorRole::AttnOutput, TensorRole::FfnGate, TensorRole::FfnUp, TensorRole::FfnDown};
int target_slot(TensorRole role);  // index into kLayerTargets; -1 for other roles

// One layer's trained pairs: per slot, the low-rank term and where its gradients go (null: none).
struct LayerAdapters {
  std::array<LowRank, kLayerTargets.size()> terms{};
  std::array<float*, kLayerTargets.size()> grad_a{}, grad_b{};
  bool has(int slot) const { return grad_a[static_cast<size_t>(slot)] != nullptr; }
};

// Activations of one layer for n tokens, and the gradient buffers of its backward step.
struct LayerBuffers {
  // forward
  std::vector<float> attn_in, q, k, v, qkv, attn, attn_proj, mid, ffn_in, gate_up, up, act, ffn_proj;
  std::array<std::vector<float>, kLayerTargets.size()> low_rank;  // A x per trained slot
  // backward
  std::vector<float> d_branch, d_in, d_attn, d_q, d_k, d_v, d_qkv, d_act, d_gate_up, d_up, d_low_rank;

  // Sizes every buffer for n tokens.
  void resize(const ModelConfig& config, int rank, int64_t n);
  // Floats per token that resize allocates (the memory formula's layer term).
  static int64_t floats_per_token(const ModelConfig& config, int rank);

 private:
  // Every buffer with its floats per token.
  std::vector<std::pair<std::vector<float>*, int64_t>> widths(const ModelConfig& config, int rank);
};

struct LayerPass {
  const ModelConfig& config;
  const LayerWeights& weights;
  int layer;
  const LayerAdapters& adapters;
  ops::RopeParams rope;
  const float* cos_sin;  // n_rot floats per token
  LayerBuffers& b;
  ops::ThreadPool& pool;

  // out = layer(in) for n tokens (positions 0..n-1), keeping the activations in b.
  void forward(const float* in, float* out, int64_t n);
  // From the kept activations of forward(in): replaces grad (d loss / d out) by d loss / d in,
  // adding the trained pairs' gradients. need_input_gradient false skips what only the input's
  // gradient needs (the first layer: embeddings are frozen).
  void backward(const float* in, float* grad, int64_t n, bool need_input_gradient);

 private:
  const float* post_norm_backward(const float* projection, const float* norm, const float* grad, int64_t n);
  void project(int slot, const ops::Matrix& w, const float* x, int64_t n, float* y, int64_t y_stride);
  void project_backward(int slot, const ops::Matrix& w, const float* x, const float* dy, int64_t dy_stride,
                        int64_t n, float* dx);
  SequenceAttention attention_shape() const;
};

}  // namespace bantam::train
