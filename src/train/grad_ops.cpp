#include "train/grad_ops.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "format/ggml_type.hpp"
#include "quant/quant.hpp"

// The portable x86-64 build targets no vector extension; the loops that carry a training step's
// arithmetic get AVX2/AVX-512 clones, picked at load time.
#if defined(__x86_64__)
#define TRAIN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TRAIN_VECTOR_CLONES
#endif

namespace bantam::train {

namespace {

// Sixteen independent partial sums, so the loop vectorizes without reassociating a single sum.
TRAIN_VECTOR_CLONES float dot(const float* __restrict__ a, const float* __restrict__ b, int64_t n) {
  constexpr int64_t kLanes = 16;
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) partial[l] += a[i + l] * b[i + l];
  }
  float sum = 0;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (int64_t l = 0; l < kLanes; ++l) sum += partial[l];
  return sum;
}

TRAIN_VECTOR_CLONES void axpy(float alpha, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;
constexpr float kGeluCoef = 0.044715f;

// Tokens per parallel piece of the row-wise ops.
constexpr int64_t kRowsPerPiece = 4;

}  // namespace

void rms_norm_backward(const float* x, const float* weight, const float* dy, float* dx, int64_t n, float eps) {
  double sum_squares = 0, weighted = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum_squares += static_cast<double>(x[i]) * x[i];
    weighted += static_cast<double>(dy[i]) * weight[i] * x[i];
  }
  const double inv_rms = 1.0 / std::sqrt(sum_squares / static_cast<double>(n) + eps);
  const float r = static_cast<float>(inv_rms);
  const float correction = static_cast<float>(inv_rms * inv_rms * inv_rms * weighted / static_cast<double>(n));
  for (int64_t i = 0; i < n; ++i) dx[i] += r * dy[i] * weight[i] - correction * x[i];
}

void rms_norm_rows_backward(const float* x, const float* weight, const float* dy, float* dx, int64_t n_rows,
                            int64_t width, float eps, ops::ThreadPool& pool) {
  pool.parallel_for(n_rows, kRowsPerPiece, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      rms_norm_backward(x + t * width, weight, dy + t * width, dx + t * width, width, eps);
    }
  });
}

void rope_backward(const ops::RopeParams& params, const float* cos_sin, float* dx, int n_heads, int head_dim) {
  std::vector<float> transposed(cos_sin, cos_sin + params.n_rot);
  for (int i = 1; i < params.n_rot; i += 2) transposed[static_cast<size_t>(i)] = -transposed[static_cast<size_t>(i)];
  ops::rope_apply(params, transposed.data(), dx, n_heads, head_dim);
}

void gated_forward(GatedActivation act, const float* gate, const float* up, float* out, int64_t n) {
  if (act == GatedActivation::SiLU) {
    ops::silu_mul(gate, up, out, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    const float g = 0.5f * x * (1.0f + std::tanh(static_cast<float>(kSqrt2OverPi) * x * (1.0f + kGeluCoef * x * x)));
    out[i] = g * up[i];
  }
}

void gated_backward(GatedActivation act, const float* gate, const float* up, const float* dout, float* dgate,
                    float* dup, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    float value, slope;
    if (act == GatedActivation::SiLU) {
      const float sigmoid = 1.0f / (1.0f + std::exp(-x));
      value = x * sigmoid;
      slope = sigmoid * (1.0f + x * (1.0f - sigmoid));
    } else {
      const float inner = static_cast<float>(kSqrt2OverPi) * x * (1.0f + kGeluCoef * x * x);
      const float th = std::tanh(inner);
      value = 0.5f * x * (1.0f + th);
      slope = 0.5f * (1.0f + th) +
              0.5f * x * (1.0f - th * th) * static_cast<float>(kSqrt2OverPi) * (1.0f + 3.0f * kGeluCoef * x * x);
    }
    dgate[i] += dout[i] * up[i] * slope;
    dup[i] += dout[i] * value;
  }
}

namespace {

// Probabilities of query row i of one head over keys [first, i], into p (i - first + 1 values);
// the capped scores go to `capped` when the attention soft-caps (the cap's gradient needs them).
void attention_row(const SequenceAttention& a, const float* query, const float* k, int64_t k_stride, int64_t first,
                   int64_t i, float* p, float* capped) {
  float max_score = -INFINITY;
  for (int64_t j = first; j <= i; ++j) {
    float s = a.scale * dot(query, k + j * k_stride, a.head_dim_k);
    if (a.softcap > 0) {
      s = a.softcap * std::tanh(s / a.softcap);
      capped[j - first] = s;
    }
    p[j - first] = s;
    max_score = std::max(max_score, s);
  }
  double total = 0;
  for (int64_t j = 0; j <= i - first; ++j) {
    p[j] = std::exp(p[j] - max_score);
    total += p[j];
  }
  const float inv_total = static_cast<float>(1.0 / total);
  for (int64_t j = 0; j <= i - first; ++j) p[j] *= inv_total;
}

int64_t first_key(const SequenceAttention& a, int64_t i) {
  return a.window > 0 ? std::max<int64_t>(0, i - a.window + 1) : 0;
}

}  // namespace

void attention_forward(const SequenceAttention& a, const float* q, const float* k, const float* v, int64_t n,
                       float* out, ops::ThreadPool& pool) {
  const int64_t q_stride = static_cast<int64_t>(a.n_head) * a.head_dim_k;
  const int64_t k_stride = static_cast<int64_t>(a.n_kv_head) * a.head_dim_k;
  const int64_t v_stride = static_cast<int64_t>(a.n_kv_head) * a.head_dim_v;
  const int64_t out_stride = static_cast<int64_t>(a.n_head) * a.head_dim_v;
  const int group = a.n_head / a.n_kv_head;
  // Pieces are (head, query row) pairs, so short sequences still spread over the threads.
  pool.parallel_for(a.n_head * n, 8, [&](int64_t begin, int64_t end) {
    std::vector<float> p(static_cast<size_t>(n)), capped(static_cast<size_t>(n));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t h = item / n, i = item % n;
      const int64_t kv = h / group;
      const int64_t first = first_key(a, i);
      attention_row(a, q + i * q_stride + h * a.head_dim_k, k + kv * a.head_dim_k, k_stride, first, i, p.data(),
                    capped.data());
      float* o = out + i * out_stride + h * a.head_dim_v;
      std::fill(o, o + a.head_dim_v, 0.0f);
      for (int64_t j = first; j <= i; ++j) axpy(p[j - first], v + j * v_stride + kv * a.head_dim_v, o, a.head_dim_v);
    }
  });
}

void attention_backward(const SequenceAttention& a, const float* q, const float* k, const float* v, int64_t n,
                        const float* dout, float* dq, float* dk, float* dv, ops::ThreadPool& pool) {
  const int64_t q_stride = static_cast<int64_t>(a.n_head) * a.head_dim_k;
  const int64_t k_stride = static_cast<int64_t>(a.n_kv_head) * a.head_dim_k;
  const int64_t v_stride = static_cast<int64_t>(a.n_kv_head) * a.head_dim_v;
  const int64_t out_stride = static_cast<int64_t>(a.n_head) * a.head_dim_v;
  const int group = a.n_head / a.n_kv_head;
  // One piece per KV head: its query heads all add to the same dk and dv rows.
  pool.parallel_for(a.n_kv_head, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> p(static_cast<size_t>(n)), capped(static_cast<size_t>(n)), dp(static_cast<size_t>(n));
    for (int64_t kv = begin; kv < end; ++kv) {
      const float* keys = k + kv * a.head_dim_k;
      const float* values = v + kv * a.head_dim_v;
      float* dkeys = dk + kv * a.head_dim_k;
      float* dvalues = dv + kv * a.head_dim_v;
      for (int64_t h = kv * group; h < (kv + 1) * group; ++h) {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t first = first_key(a, i);
          const float* query = q + i * q_stride + h * a.head_dim_k;
          const float* grad_out = dout + i * out_stride + h * a.head_dim_v;
          attention_row(a, query, keys, k_stride, first, i, p.data(), capped.data());
          float weighted = 0;  // sum_j p_j dp_j: the softmax's gradient subtracts it
          for (int64_t j = first; j <= i; ++j) {
            dp[j - first] = dot(grad_out, values + j * v_stride, a.head_dim_v);
            weighted += p[j - first] * dp[j - first];
            axpy(p[j - first], grad_out, dvalues + j * v_stride, a.head_dim_v);
          }
          float* grad_query = dq + i * q_stride + h * a.head_dim_k;
          for (int64_t j = first; j <= i; ++j) {
            float ds = p[j - first] * (dp[j - first] - weighted);
            if (a.softcap > 0) {
              const float t = capped[j - first] / a.softcap;
              ds *= 1.0f - t * t;
            }
            ds *= a.scale;
            axpy(ds, keys + j * k_stride, grad_query, a.head_dim_k);
            axpy(ds, query, dkeys + j * k_stride, a.head_dim_k);
          }
        }
      }
    }
  });
}

namespace {

constexpr int64_t kStripeCols = 256;  // columns per piece: a multiple of every block size (32, 256)
constexpr int64_t kTileRows = 64;     // weight rows dequantized together
constexpr int64_t kRowGroup = 8;      // rows added to a token's columns in one pass

constexpr int64_t kTokenGroup = 4;    // tokens sharing each loaded weight value

// For kTokenGroup tokens t: dx[t][0..cols) += sum over kRowGroup rows r of coefficient[t][r] * row r.
TRAIN_VECTOR_CLONES void add_row_group_tokens(const float* __restrict__ tile, int64_t tile_stride, const float* dy,
                                              int64_t dy_stride, int64_t cols, float* dx, int64_t dx_stride) {
  float a[kTokenGroup][kRowGroup];
  for (int64_t t = 0; t < kTokenGroup; ++t) {
    for (int64_t r = 0; r < kRowGroup; ++r) a[t][r] = dy[t * dy_stride + r];
  }
  // Distinct rows: restrict lets the column loop be vectorized.
  float* __restrict__ d0 = dx;
  float* __restrict__ d1 = dx + dx_stride;
  float* __restrict__ d2 = dx + 2 * dx_stride;
  float* __restrict__ d3 = dx + 3 * dx_stride;
  for (int64_t c = 0; c < cols; ++c) {
    float s0 = d0[c], s1 = d1[c], s2 = d2[c], s3 = d3[c];
    for (int64_t r = 0; r < kRowGroup; ++r) {
      const float w = tile[r * tile_stride + c];
      s0 += a[0][r] * w;
      s1 += a[1][r] * w;
      s2 += a[2][r] * w;
      s3 += a[3][r] * w;
    }
    d0[c] = s0;
    d1[c] = s1;
    d2[c] = s2;
    d3[c] = s3;
  }
}

// The same for one token and `rows` (<= kRowGroup) rows.
TRAIN_VECTOR_CLONES void add_row_group(const float* tile, int64_t tile_stride, const float* coefficients, int64_t rows,
                                       int64_t cols, float* dx_row) {
  for (int64_t r = 0; r < rows; ++r) axpy(coefficients[r], tile + r * tile_stride, dx_row, cols);
}

}  // namespace

// Pieces are stripes of columns: every weight element is dequantized once per call (a tile of
// rows of one stripe at a time), and a stripe's columns of dx for every token stay in cache
// while the tiles pass.
void matmul_transposed_add(const ops::Matrix& w, const float* dy, int64_t dy_stride, int64_t n_tokens, float* dx,
                           int64_t dx_stride, ops::ThreadPool& pool) {
  const GgmlTypeInfo& info = type_info(w.type);
  const int64_t n_stripes = (w.cols + kStripeCols - 1) / kStripeCols;
  pool.parallel_for(n_stripes, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> tile(static_cast<size_t>(kTileRows * kStripeCols));
    for (int64_t stripe = begin; stripe < end; ++stripe) {
      const int64_t c0 = stripe * kStripeCols, width = std::min(kStripeCols, w.cols - c0);
      const size_t byte_offset = static_cast<size_t>(c0 / info.block_size) * info.bytes_per_block;
      for (int64_t r0 = 0; r0 < w.rows; r0 += kTileRows) {
        const int64_t rows = std::min(kTileRows, w.rows - r0);
        for (int64_t r = 0; r < rows; ++r) {
          quant::dequantize_row(w.type, w.row(r0 + r) + byte_offset, tile.data() + r * kStripeCols, width);
        }
        for (int64_t g = 0; g < rows; g += kRowGroup) {
          const float* group = tile.data() + g * kStripeCols;
          const int64_t group_rows = std::min(kRowGroup, rows - g);
          int64_t t = 0;
          if (group_rows == kRowGroup) {
            for (; t + kTokenGroup <= n_tokens; t += kTokenGroup) {
              add_row_group_tokens(group, kStripeCols, dy + t * dy_stride + r0 + g, dy_stride, width,
                                   dx + t * dx_stride + c0, dx_stride);
            }
          }
          for (; t < n_tokens; ++t) {
            add_row_group(group, kStripeCols, dy + t * dy_stride + r0 + g, group_rows, width, dx + t * dx_stride + c0);
          }
        }
      }
    }
  });
}

void low_rank_forward(const LowRank& term, const float* x, int64_t n_tokens, float* u, float* y, int64_t y_stride,
                      ops::ThreadPool& pool) {
  pool.parallel_for(n_tokens, kRowsPerPiece, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* ut = u + t * term.rank;
      for (int64_t r = 0; r < term.rank; ++r) ut[r] = dot(term.a + r * term.n_in, x + t * term.n_in, term.n_in);
      float* yt = y + t * y_stride;
      for (int64_t o = 0; o < term.n_out; ++o) yt[o] += term.scale * dot(term.b + o * term.rank, ut, term.rank);
    }
  });
}

void low_rank_backward(const LowRank& term, const float* x, const float* u, const float* dy, int64_t dy_stride,
                       int64_t n_tokens, float* grad_a, float* grad_b, float* dx, float* du, ops::ThreadPool& pool) {
  const int64_t rank = term.rank;
  // du[t] = scale * B^T dy[t]
  pool.parallel_for(n_tokens, kRowsPerPiece, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* dut = du + t * rank;
      std::fill(dut, dut + rank, 0.0f);
      const float* dyt = dy + t * dy_stride;
      for (int64_t o = 0; o < term.n_out; ++o) axpy(term.scale * dyt[o], term.b + o * rank, dut, rank);
    }
  });
  // grad_b[o] += scale * sum_t dy[t][o] u[t]
  pool.parallel_for(term.n_out, 64, [&](int64_t begin, int64_t end) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* dyt = dy + t * dy_stride;
      for (int64_t o = begin; o < end; ++o) axpy(term.scale * dyt[o], u + t * rank, grad_b + o * rank, rank);
    }
  });
  // grad_a[r] += sum_t du[t][r] x[t]
  pool.parallel_for(rank, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t r = begin; r < end; ++r) axpy(du[t * rank + r], x + t * term.n_in, grad_a + r * term.n_in, term.n_in);
    }
  });
  if (!dx) return;
  // dx[t] += A^T du[t]
  pool.parallel_for(n_tokens, kRowsPerPiece, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t r = 0; r < rank; ++r) axpy(du[t * rank + r], term.a + r * term.n_in, dx + t * term.n_in, term.n_in);
    }
  });
}

}  // namespace bantam::train
