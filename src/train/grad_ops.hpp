// The training pass's per-op kernels: forward steps the decoder's ops do not provide in a form
// whose gradient can be taken (exact GELU, attention over a whole sequence without a cache) and
// the backward step of every op of the supported families. Rows are tokens, row-major. Every
// backward function ADDS its input gradient to `dx` (residual streams and fused matrices sum
// several contributions), so callers clear a buffer before its first contribution.
#pragma once

#include <cstdint>

#include "ops/matmul.hpp"
#include "ops/ops.hpp"
#include "ops/thread_pool.hpp"

namespace bantam::train {

// y = x / rms(x) * weight: dx += d/dx of sum(dy * y), for one row of n.
void rms_norm_backward(const float* x, const float* weight, const float* dy, float* dx, int64_t n, float eps);
// Over n_rows rows of width `width`.
void rms_norm_rows_backward(const float* x, const float* weight, const float* dy, float* dx, int64_t n_rows,
                            int64_t width, float eps, ops::ThreadPool& pool);

// RoPE is a rotation scaled by attn_factor, so its gradient is the transposed rotation: the same
// rotation with sin negated. In place on n_heads contiguous heads of one token.
void rope_backward(const ops::RopeParams& params, const float* cos_sin, float* dx, int n_heads, int head_dim);

enum class GatedActivation { SiLU, GeluTanh };
// out = act(gate) * up, exact (GELU without ggml's F16 table, so the gradient is the function's).
void gated_forward(GatedActivation act, const float* gate, const float* up, float* out, int64_t n);
// dgate += d/dgate, dup += d/dup of sum(dout * act(gate) * up).
void gated_backward(GatedActivation act, const float* gate, const float* up, const float* dout, float* dgate,
                    float* dup, int64_t n);

// Causal self-attention of one sequence: n query heads over n_kv_head key/value heads (GQA),
// scores scale * q.k, soft-capped (cap > 0: cap * tanh(s / cap)), within `window` positions
// (0: all earlier ones). q: [n][n_head * head_dim_k], k: [n][n_kv_head * head_dim_k],
// v: [n][n_kv_head * head_dim_v], out: [n][n_head * head_dim_v].
struct SequenceAttention {
  int n_head = 0, n_kv_head = 0, head_dim_k = 0, head_dim_v = 0;
  float scale = 1.0f, softcap = 0.0f;
  int64_t window = 0;
};
void attention_forward(const SequenceAttention& a, const float* q, const float* k, const float* v, int64_t n,
                       float* out, ops::ThreadPool& pool);
// dq, dk, dv += the gradients of sum(dout * out); the probabilities are recomputed, never stored.
void attention_backward(const SequenceAttention& a, const float* q, const float* k, const float* v, int64_t n,
                        const float* dout, float* dq, float* dk, float* dv, ops::ThreadPool& pool);

// dx[t * dx_stride + c] += sum_r dy[t * dy_stride + r] * W[r][c]: the product with W's transpose,
// W in its stored type, dequantized a tile at a time (never whole), each element once per call.
void matmul_transposed_add(const ops::Matrix& w, const float* dy, int64_t dy_stride, int64_t n_tokens, float* dx,
                           int64_t dx_stride, ops::ThreadPool& pool);

// A trained low-rank term y += scale * B (A x): a is rank x n_in, b is n_out x rank, row-major F32.
struct LowRank {
  const float* a;
  const float* b;
  int64_t n_in, n_out, rank;
  float scale;
};
// u[t] = A x[t] (kept for the backward step), y[t * y_stride + o] += scale * (B u[t])[o].
void low_rank_forward(const LowRank& term, const float* x, int64_t n_tokens, float* u, float* y, int64_t y_stride,
                      ops::ThreadPool& pool);
// Adds the gradients of A and B to grad_a, grad_b, and (dx != null) the input's to dx. `du` is
// scratch of n_tokens * rank floats.
void low_rank_backward(const LowRank& term, const float* x, const float* u, const float* dy, int64_t dy_stride,
                       int64_t n_tokens, float* grad_a, float* grad_b, float* dx, float* du, ops::ThreadPool& pool);

}  // namespace bantam::train
