// Kernels of the decoder: RoPE variants, grouped-query attention, sliding windows over the KV
// ring buffer, soft-capping.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "model/kv_cache.hpp"
#include "ops/attention.hpp"
#include "ops/ops.hpp"
#include "ops/vector_math.hpp"

namespace bantam::ops {
namespace {

std::vector<float> rotated(const RopeParams& params, int64_t pos, std::vector<float> x) {
  std::vector<float> cos_sin(params.n_rot);
  rope_cos_sin(params, pos, cos_sin.data());
  rope_apply(params, cos_sin.data(), x.data(), 1, static_cast<int>(x.size()));
  return x;
}

std::vector<float> ramp(int n) {
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = 0.5f + 0.25f * i;
  return x;
}

float theta(const RopeParams& p, int64_t pos, int i) {
  return static_cast<float>(pos * std::pow(p.freq_base, -2.0 * i / p.n_rot));
}

TEST(Rope, NormalRotatesAdjacentPairs) {
  const RopeParams p{.style = RopeStyle::Normal, .n_rot = 8, .freq_base = 10000.0f};
  const auto x = ramp(10);
  const auto y = rotated(p, 7, x);
  for (int i = 0; i < 4; ++i) {
    const float c = std::cos(theta(p, 7, i)), s = std::sin(theta(p, 7, i));
    EXPECT_NEAR(y[2 * i], x[2 * i] * c - x[2 * i + 1] * s, 1e-5);
    EXPECT_NEAR(y[2 * i + 1], x[2 * i] * s + x[2 * i + 1] * c, 1e-5);
  }
  EXPECT_EQ(y[8], x[8]);  // beyond n_rot: untouched
  EXPECT_EQ(y[9], x[9]);
}

TEST(Rope, NeoxRotatesHalves) {
  const RopeParams p{.style = RopeStyle::NeoX, .n_rot = 8, .freq_base = 10000.0f};
  const auto x = ramp(8);
  const auto y = rotated(p, 5, x);
  for (int i = 0; i < 4; ++i) {
    const float c = std::cos(theta(p, 5, i)), s = std::sin(theta(p, 5, i));
    EXPECT_NEAR(y[i], x[i] * c - x[i + 4] * s, 1e-5);
    EXPECT_NEAR(y[i + 4], x[i] * s + x[i + 4] * c, 1e-5);
  }
}

TEST(Rope, PositionZeroIsIdentity) {
  for (auto style : {RopeStyle::Normal, RopeStyle::NeoX}) {
    const RopeParams p{.style = style, .n_rot = 8};
    const auto x = ramp(8);
    EXPECT_EQ(rotated(p, 0, x), x);
  }
}

TEST(Rope, FrequencyFactorsDivideTheAngle) {
  // Llama 3's rope_freqs and LongRoPE's factors: theta_i / factor_i.
  const std::vector<float> factors{1.0f, 2.0f, 8.0f, 32.0f};
  const RopeParams plain{.style = RopeStyle::NeoX, .n_rot = 8, .freq_base = 500000.0f};
  RopeParams scaled = plain;
  scaled.freq_factors = factors.data();
  std::vector<float> with(8), without(8);
  rope_cos_sin(scaled, 100, with.data());
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(with[2 * i], std::cos(theta(plain, 100, i) / factors[i]), 2e-4);
    EXPECT_NEAR(with[2 * i + 1], std::sin(theta(plain, 100, i) / factors[i]), 2e-4);
  }
}

TEST(Rope, AttnFactorScalesMagnitude) {
  // LongRoPE's attention factor multiplies cos and sin, so vector norms grow by it.
  const RopeParams p{.style = RopeStyle::NeoX, .n_rot = 8, .attn_factor = 1.19f};
  const auto x = ramp(8);
  const auto y = rotated(p, 3, x);
  double nx = 0, ny = 0;
  for (int i = 0; i < 8; ++i) nx += x[i] * x[i], ny += y[i] * y[i];
  EXPECT_NEAR(std::sqrt(ny / nx), 1.19, 1e-5);
}

#if defined(__x86_64__)
// The AVX-512 exp of ggml's vector kernels, written with the intrinsics it uses, as the oracle for
// the scalar vector_expf (run only where the CPU has AVX-512 F and DQ).
#if !defined(__clang__)
// GCC 12 flags the undefined pass-through operands inside its own AVX-512 intrinsics.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f,avx512dq"))) void avx512_expf16(const float* x, float* out) {
  const __m512 v = _mm512_loadu_ps(x);
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(v, _mm512_set1_ps(0x1.715476p+0f), shift);
  const __m512 n = _mm512_sub_ps(z, shift);
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                    _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), v));
  const __mmask16 huge = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
      u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
  const __m512 scaled = _mm512_scalef_ps(j, n);
  const __m512 overflow = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                               _mm512_set1_ps(std::numeric_limits<float>::infinity()),
                                               _mm512_setzero_ps());
  _mm512_storeu_ps(out, _mm512_mask_blend_ps(huge, scaled, overflow));
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

TEST(VectorExp, EqualsGgmlAvx512ExpBitForBit) {
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq")) {
    GTEST_SKIP() << "no AVX-512 DQ here to compare with";
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-110.0f, 90.0f);
  std::vector<float> x(16 * 20000);
  for (float& v : x) v = dist(rng);
  // Edges: zero, denormal results, overflow, infinities.
  const float edges[] = {0.0f, -0.0f, 1.0f, -1.0f, -87.5f, -100.0f, -103.9f, 88.7f, 89.0f, -150.0f,
                         std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  std::copy(std::begin(edges), std::end(edges), x.begin());
  std::vector<float> want(x.size());
  for (size_t i = 0; i < x.size(); i += 16) avx512_expf16(x.data() + i, want.data() + i);
  int mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float got = vector_expf(x[i]);
    uint32_t a, b;
    std::memcpy(&a, &got, 4);
    std::memcpy(&b, &want[i], 4);
    if (a != b && mismatches++ < 5) ADD_FAILURE() << "x=" << x[i] << " got " << got << " want " << want[i];
  }
  EXPECT_EQ(mismatches, 0);
}
#endif

TEST(VectorExp, CloseToExpAndExactAtTheEdges) {
  EXPECT_EQ(vector_expf(0.0f), 1.0f);
  EXPECT_EQ(vector_expf(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(vector_expf(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(vector_expf(std::nanf(""))));
  for (float x = -80.0f; x < 80.0f; x += 0.37f) {
    EXPECT_NEAR(vector_expf(x), std::exp(x), 3e-7f * std::exp(x)) << x;  // ggml: within 1.5 ulp + rounding
  }
}

TEST(SiluMul, VectorGroupsThenExpfTail) {
  // 16 + 3 elements: the first group through vector_expf as ggml's vector loop, the tail through expf.
  std::vector<float> gate(19), up(19), out(19);
  for (int i = 0; i < 19; ++i) {
    gate[i] = -4.0f + 0.43f * i;
    up[i] = 1.0f + 0.1f * i;
  }
  silu_mul(gate.data(), up.data(), out.data(), 19);
  for (int i = 0; i < 19; ++i) {
    const float e = i < 16 ? vector_expf(0.0f - gate[i]) : std::exp(-gate[i]);
    EXPECT_EQ(out[i], (gate[i] / (1.0f + e)) * up[i]) << i;
  }
}

TEST(Softcap, BoundsAndKeepsSmallValues) {
  std::vector<float> x{-1000.0f, -1.0f, 0.0f, 0.5f, 1000.0f};
  softcap(x.data(), 5, 30.0f);
  EXPECT_NEAR(x[0], -30.0f, 1e-4);
  EXPECT_NEAR(x[1], 30.0f * std::tanh(-1.0f / 30.0f), 1e-6);
  EXPECT_EQ(x[2], 0.0f);
  EXPECT_NEAR(x[4], 30.0f, 1e-4);
}

// A cache of one layer with explicit keys/values per position, in F32 for exact arithmetic.
struct TinyCache {
  int n_kv_head, dim;
  int64_t capacity;
  std::vector<float> keys, values;
  TinyCache(int heads, int d, int64_t cap)
      : n_kv_head(heads), dim(d), capacity(cap), keys(cap * heads * d), values(cap * heads * d) {}
  void put(int64_t pos, int head, std::vector<float> k, std::vector<float> v) {
    std::copy(k.begin(), k.end(), keys.begin() + ((pos % capacity) * n_kv_head + head) * dim);
    std::copy(v.begin(), v.end(), values.begin() + ((pos % capacity) * n_kv_head + head) * dim);
  }
  KvLayerView view() const {
    return {.key_type = GgmlType::F32, .value_type = GgmlType::F32, .keys = reinterpret_cast<const uint8_t*>(keys.data()),
            .values = reinterpret_cast<const uint8_t*>(values.data()), .capacity = capacity,
            .n_kv_head = n_kv_head, .head_dim_k = dim, .head_dim_v = dim};
  }
};

TEST(Attention, QueryHeadsShareTheirGroupsKvHead) {
  // 4 query heads over 2 kv heads: heads 0,1 read kv head 0; heads 2,3 read kv head 1.
  TinyCache cache(2, 2, 4);
  cache.put(0, 0, {1, 0}, {10, 11});
  cache.put(0, 1, {0, 1}, {20, 21});
  const std::vector<float> q(4 * 2, 1.0f);
  const int64_t pos = 0;
  std::vector<float> out(4 * 2);
  ThreadPool pool(1);
  attention({.n_head = 4, .scale = 1.0f}, cache.view(), q.data(), &pos, 1, out.data(), pool);
  EXPECT_EQ(out, (std::vector<float>{10, 11, 10, 11, 20, 21, 20, 21}));
}

// Attention of one query over keys of equal score: the average of the visible values.
float average_seen(int window, int64_t pos, int64_t capacity, int64_t n_written) {
  TinyCache cache(1, 1, capacity);
  for (int64_t p = 0; p < n_written; ++p) cache.put(p, 0, {1.0f}, {static_cast<float>(p)});
  const float q = 0.0f;  // every score 0: uniform weights
  float out = 0;
  ThreadPool pool(1);
  attention({.n_head = 1, .scale = 1.0f, .window = window}, cache.view(), &q, &pos, 1, &out, pool);
  return out;
}

TEST(Attention, SlidingWindowSeesOnlyTheLastWindowPositions) {
  EXPECT_FLOAT_EQ(average_seen(0, 5, 16, 6), (0 + 1 + 2 + 3 + 4 + 5) / 6.0f);  // full causal
  EXPECT_FLOAT_EQ(average_seen(3, 5, 16, 6), (3 + 4 + 5) / 3.0f);              // p - k < 3
  EXPECT_FLOAT_EQ(average_seen(3, 1, 16, 6), (0 + 1) / 2.0f);                  // causal too
}

TEST(Attention, RingBufferKeepsTheWindowAfterEviction) {
  // Capacity 4 with window 3: position 9 overwrote slots of 5..8's predecessors.
  EXPECT_FLOAT_EQ(average_seen(3, 9, 4, 10), (7 + 8 + 9) / 3.0f);
}

TEST(Attention, SoftcapBoundsScores) {
  TinyCache cache(1, 1, 4);
  cache.put(0, 0, {1.0f}, {0.0f});
  cache.put(1, 0, {-1.0f}, {1.0f});
  const float q = 1000.0f;
  const int64_t pos = 1;
  float out = 0;
  ThreadPool pool(1);
  attention({.n_head = 1, .scale = 1.0f, .softcap = 1.0f}, cache.view(), &q, &pos, 1, &out, pool);
  // scores capped to +-1: weight of value 1 is e^-1 / (e^1 + e^-1)
  EXPECT_NEAR(out, std::exp(-1.0) / (std::exp(1.0) + std::exp(-1.0)), 1e-5);
}

// Attention of a 70-query batch (window 40) with heads of `dim` values, all at once and one
// query at a time (which always takes the vector kernel).
struct BatchAndSingle {
  std::vector<float> batch, single;
};
BatchAndSingle attend_batch_and_single(int dim) {
  const int n = 70;
  TinyCache cache(1, dim, 128);
  std::vector<float> q(n * dim);
  std::vector<int64_t> positions(n);
  for (int p = 0; p < n; ++p) {
    std::vector<float> k(dim), v(dim);
    for (int i = 0; i < dim; ++i) {
      k[i] = std::sin(0.3f * p + i);
      v[i] = std::cos(0.7f * p - i);
      q[p * dim + i] = std::cos(0.1f * p * i);
    }
    cache.put(p, 0, k, v);
    positions[p] = p;
  }
  ThreadPool pool(2);
  const AttentionParams params{.n_head = 1, .scale = 0.5f, .window = 40};
  BatchAndSingle r{std::vector<float>(n * dim), std::vector<float>(n * dim)};
  attention(params, cache.view(), q.data(), positions.data(), n, r.batch.data(), pool);
  for (int p = 0; p < n; ++p) {
    attention(params, cache.view(), q.data() + p * dim, &positions[p], 1, r.single.data() + p * dim, pool);
  }
  return r;
}

TEST(Attention, BlockAndVectorKernelsAgree) {
  // The batch takes the block kernel (F32 throughout), the single queries the vector kernel
  // (F16 accumulation is off with an F32 cache): only the summation order differs.
  for (int dim : {4, 8, 16, 24}) {
    const BatchAndSingle r = attend_batch_and_single(dim);
    for (size_t i = 0; i < r.batch.size(); ++i) ASSERT_NEAR(r.batch[i], r.single[i], 1e-5) << "dim " << dim << " at " << i;
  }
}

TEST(VectorExp, LanesEqualTheScalarFunction) {
  std::vector<float> inputs = {0.0f, -0.0f, 1.0f, -1.0f, -87.0f, -87.5f, -88.7f, -100.0f, -103.5f, -150.0f,
                               88.0f, 88.8f, 89.0f, -1e-30f, std::numeric_limits<float>::quiet_NaN(),
                               -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-90.0f, 5.0f);
  while (inputs.size() % kVectorExpLanes != 0 || inputs.size() < 4096) inputs.push_back(dist(rng));
  for (size_t g = 0; g < inputs.size(); g += kVectorExpLanes) {
    float lanes[kVectorExpLanes];
    std::copy(inputs.begin() + static_cast<std::ptrdiff_t>(g), inputs.begin() + static_cast<std::ptrdiff_t>(g + kVectorExpLanes), lanes);
    vector_expf_lanes(lanes);
    for (int64_t l = 0; l < kVectorExpLanes; ++l) {
      const float want = vector_expf(inputs[g + static_cast<size_t>(l)]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(lanes[l]));
      } else {
        EXPECT_EQ(lanes[l], want) << "x = " << inputs[g + static_cast<size_t>(l)];
      }
    }
  }
}

}  // namespace
}  // namespace bantam::ops
