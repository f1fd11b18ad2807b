// Element-wise and per-row kernels of the decoder: RMSNorm, RoPE, gated activations, soft-capping.
// Each follows ggml's CPU arithmetic step by step (same roundings, same order where it matters),
// so greedy output matches llama.cpp token for token.
#pragma once

#include <cstdint>

namespace bantam::ops {

// y = (x / sqrt(mean(x^2) + eps)) * weight, the normalization and the weight as two roundings.
void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps);

enum class RopeStyle {
  Normal,  // rotates adjacent pairs (x[2i], x[2i+1]): Llama
  NeoX,    // rotates halves (x[i], x[i + n_rot/2]): Qwen2, Phi-3, Gemma
};

struct RopeParams {
  RopeStyle style = RopeStyle::Normal;
  int n_rot = 0;                 // rotated dimensions per head (the rest pass through)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;       // linear position scaling (1 = none)
  float attn_factor = 1.0f;      // multiplies cos and sin (LongRoPE's magnitude correction)
  const float* freq_factors = nullptr;  // n_rot/2 divisors of theta (Llama 3 rope_freqs, LongRoPE)
};

// The n_rot/2 angles of one position, in float, as ggml accumulates them (rope_cos_sin's angles).
void rope_angles(const RopeParams& params, int64_t pos, float* angles);

// Fills cos/sin for one position: cos_sin[2i] = cos(theta_i), cos_sin[2i+1] = sin(theta_i),
// i < n_rot/2, with theta_i = pos * base^(-2i/n_rot) / factor_i accumulated as ggml does.
void rope_cos_sin(const RopeParams& params, int64_t pos, float* cos_sin);

// Rotates n_heads vectors of head_dim floats (contiguous) in place with a cos_sin table.
void rope_apply(const RopeParams& params, const float* cos_sin, float* x, int n_heads, int head_dim);

// out = silu(gate) * up
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
// out = gelu_tanh(gate) * up, GELU through ggml's F16 table (input and value rounded to F16).
void gelu_mul(const float* gate, const float* up, float* out, int64_t n);

// x = cap * tanh(x / cap), as ggml's scale -> tanh -> scale.
void softcap(float* x, int64_t n, float cap);

void add_inplace(float* y, const float* x, int64_t n);  // y += x
void scale_inplace(float* y, float s, int64_t n);       // y *= s

}  // namespace bantam::ops
