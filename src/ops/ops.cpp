#include "ops/ops.hpp"

#include <array>
#include <cmath>

#include "ops/vector_math.hpp"
#include "quant/quant.hpp"

namespace bantam::ops {

void rms_norm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  double sum = 0.0;  // ggml sums squares in double
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) {
    const float normalized = x[i] * scale;
    y[i] = normalized * weight[i];
  }
}

void rope_angles(const RopeParams& params, int64_t pos, float* angles) {
  const float theta_scale = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_rot));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < params.n_rot / 2; ++i) {
    const float factor = params.freq_factors ? params.freq_factors[i] : 1.0f;
    angles[i] = params.freq_scale * (theta / factor);
    theta *= theta_scale;  // ggml's running product, not pow() per dimension
  }
}

void rope_cos_sin(const RopeParams& params, int64_t pos, float* cos_sin) {
  // The angles land in the table's upper half, read before each pair of slots overwrites them.
  float* angles = cos_sin + params.n_rot / 2;
  rope_angles(params, pos, angles);
  for (int i = 0; i < params.n_rot / 2; ++i) {
    const float angle = angles[i];
    cos_sin[2 * i] = std::cos(angle) * params.attn_factor;
    cos_sin[2 * i + 1] = std::sin(angle) * params.attn_factor;
  }
}

BANTAM_FMA_CLONES void rope_apply(const RopeParams& params, const float* cos_sin, float* x, int n_heads, int head_dim) {
  const int half = params.n_rot / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const int a = params.style == RopeStyle::Normal ? 2 * i : i;
      const int b = params.style == RopeStyle::Normal ? 2 * i + 1 : i + half;
      const float c = cos_sin[2 * i];
      const float s = cos_sin[2 * i + 1];
      const float x0 = v[a];
      const float x1 = v[b];
      // ggml's x0*c - x1*s and x0*s + x1*c as GCC contracts them: the first product fused.
      v[a] = std::fma(x0, c, -(x1 * s));
      v[b] = std::fma(x0, s, x1 * c);
    }
  }
}

BANTAM_FMA_CLONES void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t vector_end = n - n % kVectorExpLanes;
  for (int64_t i = 0; i < vector_end; i += kVectorExpLanes) {
    float e[kVectorExpLanes];
    for (int64_t l = 0; l < kVectorExpLanes; ++l) e[l] = 0.0f - gate[i + l];
    vector_expf_lanes(e);
    for (int64_t l = 0; l < kVectorExpLanes; ++l) out[i + l] = (gate[i + l] / (1.0f + e[l])) * up[i + l];
  }
  for (int64_t i = vector_end; i < n; ++i) out[i] = (gate[i] / (1.0f + std::exp(-gate[i]))) * up[i];
}

namespace {

// ggml tabulates GELU over every F16 value and looks the rounded input up.
const std::array<uint16_t, 65536>& gelu_f16_table() {
  static const std::array<uint16_t, 65536> table = [] {
    std::array<uint16_t, 65536> t{};
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    constexpr float kCoefA = 0.044715f;
    for (uint32_t i = 0; i < 65536; ++i) {
      const float x = quant::fp16_to_fp32(static_cast<uint16_t>(i));
      const float g = 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
      t[i] = quant::fp32_to_fp16(g);
    }
    return t;
  }();
  return table;
}

}  // namespace

void gelu_mul(const float* gate, const float* up, float* out, int64_t n) {
  const auto& table = gelu_f16_table();
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    float g;
    if (x <= -10.0f) {
      g = 0.0f;
    } else if (x >= 10.0f) {
      g = x;
    } else {
      g = quant::fp16_to_fp32(table[quant::fp32_to_fp16(x)]);
    }
    out[i] = g * up[i];
  }
}

void softcap(float* x, int64_t n, float cap) {
  const float inverse = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inverse) * cap;
}

void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale_inplace(float* y, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= s;
}

}  // namespace bantam::ops
