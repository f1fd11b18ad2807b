// The model's tensors bound by name and checked against the config: views into the mapped GGUF,
// each left in its stored type.
#pragma once

#include <vector>

#include "format/gguf.hpp"
#include "model/config.hpp"
#include "model/tensor_table.hpp"
#include "ops/matmul.hpp"

namespace bantam {

struct LayerWeights {
  const float* attn_norm = nullptr;
  ops::Matrix wq, wk, wv;  // separate projections, or
  ops::Matrix wqkv;        // the fused one (Phi-3)
  const float* bq = nullptr;
  const float* bk = nullptr;
  const float* bv = nullptr;
  ops::Matrix wo;
  const float* post_attn_norm = nullptr;  // Gemma 2
  const float* ffn_norm = nullptr;
  ops::Matrix w_gate, w_up;  // w_up has 2 * n_ff rows (gate then up) when fused
  ops::Matrix w_down;
  const float* post_ffn_norm = nullptr;   // Gemma 2
};

// The dimensions of the config's tensors, for the table.
TensorDims tensor_dims(const ModelConfig& config);

struct Weights {
  ops::Matrix token_embd;
  const float* output_norm = nullptr;
  ops::Matrix output;  // token_embd when the output is tied
  const float* rope_freqs = nullptr;        // Llama 3 per-dimension factors, n_rot / 2
  const float* rope_factors_short = nullptr;  // LongRoPE (Phi-3)
  const float* rope_factors_long = nullptr;
  std::vector<LayerWeights> layers;

  // Error naming the tensor for anything missing, misshapen or of an unusable type.
  static Weights bind(const gguf::File& file, const ModelConfig& config);

  // The field a tensor of the table binds to: its matrix, or null for a vector role (and the
  // other way round). `layer` is ignored for global roles.
  ops::Matrix* matrix(TensorRole role, int layer);
  const ops::Matrix* matrix(TensorRole role, int layer) const;
  const float** vector(TensorRole role, int layer);
};

}  // namespace bantam
