// The float64 reference backward (reference_backward.hpp) checked against central finite
// differences, op by op and for a whole two-layer synthetic model of each family; then the
// trainer's fast backward (src/train/) checked against it, op by op and whole.
//
// Tolerances: in double, central differences with step 1e-5 agree with an exact gradient to about
// 1e-8 relative; the bar is 1e-6 (plus, for whole models, the quotient's rounding noise,
// 10 * DBL_EPSILON * loss / step). The fast backward computes in float (and the F16 files' matrix
// products round activations to F16, as inference does), so it is judged by the relative L2
// error of the whole gradient vector: 1e-5 for attention, 1e-6 for the transposed product over each
// stored type, 2e-3 for a whole F16 model (4e-4 to 5e-4 measured).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>

#include "format/gguf.hpp"
#include "model/config.hpp"
#include "model/weights.hpp"
#include "ops/thread_pool.hpp"
#include "quant/quant.hpp"
#include "reference_backward.hpp"
#include "test_support.hpp"
#include "train/grad_ops.hpp"
#include "train/lora_trainer.hpp"

namespace bantam {
namespace {

using test::grad::Rows;
using test::grad::Vec;

constexpr double kStep = 1e-5;
constexpr double kReferenceBar = 1e-6;

Vec random_vec(std::mt19937& rng, size_t n, double scale = 1.0) {
  std::uniform_real_distribution<double> d(-scale, scale);
  Vec v(n);
  for (double& x : v) x = d(rng);
  return v;
}

// Checks `gradient(x)` against central differences of `f` at x along every coordinate (up to
// 40, spread over the vector) and one random direction.
void expect_matches_differences(const std::function<double(const Vec&)>& f, const Vec& x, const Vec& gradient,
                                std::mt19937& rng) {
  const auto along = [&](const Vec& direction) {
    Vec plus = x, minus = x;
    for (size_t i = 0; i < x.size(); ++i) {
      plus[i] += kStep * direction[i];
      minus[i] -= kStep * direction[i];
    }
    return (f(plus) - f(minus)) / (2 * kStep);
  };
  const auto check = [&](const Vec& direction, const std::string& what) {
    double exact = 0, magnitude = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      exact += gradient[i] * direction[i];
      magnitude += std::abs(gradient[i] * direction[i]);
    }
    const double numeric = along(direction);
    EXPECT_NEAR(numeric, exact, kReferenceBar * std::max(1.0, magnitude)) << what;
  };
  const size_t stride = std::max<size_t>(1, x.size() / 40);
  for (size_t i = 0; i < x.size(); i += stride) {
    Vec unit(x.size(), 0.0);
    unit[i] = 1.0;
    check(unit, "coordinate " + std::to_string(i));
  }
  check(random_vec(rng, x.size()), "random direction");
}

double weighted_sum(const Vec& y, const Vec& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
  return s;
}

Vec flatten(const std::vector<const Rows*>& parts) {
  Vec out;
  for (const Rows* rows : parts) {
    for (const Vec& v : *rows) out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

Rows unflatten(const Vec& flat, size_t& offset, size_t n, size_t width) {
  Rows out(n);
  for (Vec& v : out) {
    v.assign(flat.begin() + static_cast<long>(offset), flat.begin() + static_cast<long>(offset + width));
    offset += width;
  }
  return out;
}

// --- the reference, op by op, against finite differences ---------------------------------------

TEST(ReferenceBackward, RmsNormMatchesDifferences) {
  std::mt19937 rng(1);
  const Vec w = random_vec(rng, 24), r = random_vec(rng, 24), x = random_vec(rng, 24);
  const auto f = [&](const Vec& v) { return weighted_sum(test::grad::rms_norm(v, w, 1e-5), r); };
  expect_matches_differences(f, x, test::grad::rms_norm_backward(x, w, 1e-5, r), rng);
}

TEST(ReferenceBackward, RopeMatchesDifferences) {
  std::mt19937 rng(2);
  for (bool neox : {false, true}) {
    const test::grad::Rope rope{.neox = neox, .n_rot = 6, .head_dim = 8, .angle = {0.3, 1.7, -2.2}, .magnitude = 1.3};
    const Vec x = random_vec(rng, 16), r = random_vec(rng, 16);
    const auto f = [&](const Vec& v) { return weighted_sum(test::grad::rope(v, rope), r); };
    expect_matches_differences(f, x, test::grad::rope(r, rope, true), rng);
  }
}

TEST(ReferenceBackward, GatedActivationsMatchDifferences) {
  std::mt19937 rng(3);
  for (bool gelu : {false, true}) {
    const Vec x = random_vec(rng, 20, 3.0), r = random_vec(rng, 10);
    const auto f = [&](const Vec& v) {
      return weighted_sum(test::grad::gated(gelu, Vec(v.begin(), v.begin() + 10), Vec(v.begin() + 10, v.end())), r);
    };
    Vec dgate, dup;
    test::grad::gated_backward(gelu, Vec(x.begin(), x.begin() + 10), Vec(x.begin() + 10, x.end()), r, dgate, dup);
    dgate.insert(dgate.end(), dup.begin(), dup.end());
    expect_matches_differences(f, x, dgate, rng);
  }
}

// GQA (4 query heads on 2 KV heads), with and without a window and a soft cap.
const std::vector<test::grad::Attention>& attention_cases() {
  static const std::vector<test::grad::Attention> all = {
      {.n_head = 4, .n_kv = 2, .dk = 6, .dv = 5, .scale = 0.4, .softcap = 0, .window = 0},
      {.n_head = 4, .n_kv = 2, .dk = 6, .dv = 5, .scale = 0.4, .softcap = 1.5, .window = 3},
      {.n_head = 2, .n_kv = 1, .dk = 4, .dv = 4, .scale = 1.0, .softcap = 0, .window = 2}};
  return all;
}

TEST(ReferenceBackward, AttentionMatchesDifferences) {
  std::mt19937 rng(4);
  const size_t n = 6;
  for (const auto& a : attention_cases()) {
    const size_t qw = static_cast<size_t>(a.n_head * a.dk), kw = static_cast<size_t>(a.n_kv * a.dk);
    const size_t vw = static_cast<size_t>(a.n_kv * a.dv), ow = static_cast<size_t>(a.n_head * a.dv);
    const Vec x = random_vec(rng, n * (qw + kw + vw), 1.5), r = random_vec(rng, n * ow);
    const auto split = [&](const Vec& v, Rows& q, Rows& k, Rows& val) {
      size_t offset = 0;
      q = unflatten(v, offset, n, qw);
      k = unflatten(v, offset, n, kw);
      val = unflatten(v, offset, n, vw);
    };
    const auto f = [&](const Vec& v) {
      Rows q, k, val;
      split(v, q, k, val);
      const Rows out = test::grad::attention(a, q, k, val);
      return weighted_sum(flatten({&out}), r);
    };
    Rows q, k, val, dq, dk, dv;
    split(x, q, k, val);
    size_t offset = 0;
    const Rows dout = unflatten(r, offset, n, ow);
    test::grad::attention_backward(a, q, k, val, dout, dq, dk, dv);
    expect_matches_differences(f, x, flatten({&dq, &dk, &dv}), rng);
  }
}

TEST(ReferenceBackward, CrossEntropyMatchesDifferences) {
  std::mt19937 rng(5);
  for (double cap : {0.0, 2.0}) {
    const Vec logits = random_vec(rng, 30, 4.0);
    Vec d;
    test::grad::cross_entropy(logits, 7, cap, &d);
    expect_matches_differences([&](const Vec& v) { return test::grad::cross_entropy(v, 7, cap, nullptr); }, logits,
                               d, rng);
  }
}

// --- the fast ops against the reference -----------------------------------------------------------

std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

double relative_l2(std::span<const float> fast, const Vec& reference) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    diff += (fast[i] - reference[i]) * (fast[i] - reference[i]);
    norm += reference[i] * reference[i];
  }
  return std::sqrt(diff / norm);
}

TEST(FastBackward, AttentionMatchesReference) {
  std::mt19937 rng(6);
  ops::ThreadPool pool(2);
  const size_t n = 9;
  for (const auto& a : attention_cases()) {
    const size_t qw = static_cast<size_t>(a.n_head * a.dk), kw = static_cast<size_t>(a.n_kv * a.dk);
    const size_t vw = static_cast<size_t>(a.n_kv * a.dv), ow = static_cast<size_t>(a.n_head * a.dv);
    const Vec qf = random_vec(rng, n * qw, 1.5), kf = random_vec(rng, n * kw, 1.5), vf = random_vec(rng, n * vw);
    const Vec dout = random_vec(rng, n * ow);
    size_t o = 0;
    const Rows q = unflatten(qf, o, n, qw);
    o = 0;
    const Rows k = unflatten(kf, o, n, kw);
    o = 0;
    const Rows v = unflatten(vf, o, n, vw);
    o = 0;
    Rows dq, dk, dv;
    test::grad::attention_backward(a, q, k, v, unflatten(dout, o, n, ow), dq, dk, dv);
    const Rows out = test::grad::attention(a, q, k, v);

    const train::SequenceAttention shape{.n_head = a.n_head, .n_kv_head = a.n_kv, .head_dim_k = a.dk,
                                         .head_dim_v = a.dv, .scale = static_cast<float>(a.scale),
                                         .softcap = static_cast<float>(a.softcap), .window = a.window};
    const auto q32 = to_float(qf), k32 = to_float(kf), v32 = to_float(vf), dout32 = to_float(dout);
    std::vector<float> out32(n * ow), dq32(n * qw, 0.0f), dk32(n * kw, 0.0f), dv32(n * vw, 0.0f);
    train::attention_forward(shape, q32.data(), k32.data(), v32.data(), n, out32.data(), pool);
    train::attention_backward(shape, q32.data(), k32.data(), v32.data(), n, dout32.data(), dq32.data(), dk32.data(),
                              dv32.data(), pool);
    EXPECT_LT(relative_l2(out32, flatten({&out})), 1e-5);
    EXPECT_LT(relative_l2(dq32, flatten({&dq})), 1e-5);
    EXPECT_LT(relative_l2(dk32, flatten({&dk})), 1e-5);
    EXPECT_LT(relative_l2(dv32, flatten({&dv})), 1e-5);
  }
}

// The transposed product over each stored type equals the product with the dequantized matrix,
// for few tokens (rows split across threads) and many (tokens split).
TEST(FastBackward, TransposedProductMatchesDequantizedMatrix) {
  std::mt19937 rng(8);
  ops::ThreadPool pool(2);
  const int64_t rows = 37, cols = 256;
  const Vec values = random_vec(rng, static_cast<size_t>(rows * cols));
  const std::vector<float> values32 = to_float(values);
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K}) {
    const size_t row_bytes = bantam::row_bytes(type, cols);
    std::vector<uint8_t> data(row_bytes * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      quant::quantize_row(type, values32.data() + r * cols, data.data() + static_cast<size_t>(r) * row_bytes, cols);
    }
    const ops::Matrix w{.type = type, .cols = cols, .rows = rows, .data = data.data(), .row_bytes = row_bytes};
    const test::grad::Mat dense = test::grad::Mat::from(w);
    for (int64_t n : {3, 40}) {
      const Vec dy = random_vec(rng, static_cast<size_t>(n * rows));
      Vec expected;
      for (int64_t t = 0; t < n; ++t) {
        const Vec part = dense.transposed_times(Vec(dy.begin() + t * rows, dy.begin() + (t + 1) * rows));
        expected.insert(expected.end(), part.begin(), part.end());
      }
      const std::vector<float> dy32 = to_float(dy);
      std::vector<float> dx(static_cast<size_t>(n * cols), 0.0f);
      train::matmul_transposed_add(w, dy32.data(), rows, n, dx.data(), cols, pool);
      EXPECT_LT(relative_l2(dx, expected), 1e-6) << type_name(type) << ", " << n << " tokens";
    }
  }
}

// --- whole two-layer models -----------------------------------------------------------------------

struct Family {
  std::string file;  // under ../shared/models/synthetic
  std::vector<std::string> targets;
  int64_t window = 0;  // > 0: a shorter sliding window than the file's, so short sequences reach it
};

void PrintTo(const Family& f, std::ostream* os) { *os << f.file; }

const std::vector<Family>& families() {
  static const std::vector<std::string> separate = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                    "ffn_gate", "ffn_up", "ffn_down"};
  static const std::vector<Family> all = {
      {"synth-llama3-f16.gguf", separate},
      {"synth-nemo-f16.gguf", separate},
      {"synth-qwen2-f16.gguf", separate},
      {"synth-phi3-f16.gguf", {"attn_qkv", "attn_output", "ffn_up", "ffn_down"}},
      {"synth-gemma-f16.gguf", separate},
      {"synth-gemma2-f16.gguf", separate, 4},
  };
  return all;
}

struct LoadedModel {
  gguf::File file;
  ModelConfig config;
  Weights weights;
  explicit LoadedModel(const Family& family)
      : file(gguf::File::open(test::shared("models/synthetic/" + family.file).string())),
        config(ModelConfig::from_gguf(file)),
        weights(Weights::bind(file, config)) {
    if (family.window > 0) config.sliding_window = static_cast<int>(family.window);
  }
};

// Adapters with every value random (B too, so every gradient is non-zero).
void randomize(train::LoraTrainer& trainer, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-0.05f, 0.05f);
  for (float& p : trainer.parameters()) p = d(rng);
}

const std::vector<int32_t> kTokens = {1, 45, 200, 17, 300, 88, 5, 411, 23, 140};
const std::vector<uint8_t> kMask = {0, 1, 1, 0, 1, 1, 1, 0, 1, 1};

class WholeModel : public testing::TestWithParam<Family> {};

TEST_P(WholeModel, ReferenceMatchesDifferences) {
  LoadedModel m(GetParam());
  train::LoraTrainer trainer(m.config, m.weights, {.targets = GetParam().targets, .rank = 2, .alpha = 4});
  randomize(trainer, 7);
  test::grad::ReferenceLoraModel reference(m.config, m.weights, trainer.tensors(), trainer.alpha());
  const Vec params(trainer.parameters().begin(), trainer.parameters().end());
  Vec gradient;
  reference.loss(kTokens, kMask, params, &gradient);
  std::mt19937 rng(11);
  // Every coordinate would take too long: a random direction, and one of A and one of B per tensor.
  const auto f = [&](const Vec& p) { return reference.loss(kTokens, kMask, p, nullptr); };
  const auto derivative = [&](const Vec& direction) {
    Vec plus = params, minus = params;
    for (size_t i = 0; i < params.size(); ++i) {
      plus[i] += kStep * direction[i];
      minus[i] -= kStep * direction[i];
    }
    return (f(plus) - f(minus)) / (2 * kStep);
  };
  std::vector<Vec> directions = {random_vec(rng, params.size())};
  const auto& tensors = trainer.tensors();
  for (const auto* t : {&tensors.front(), &tensors[tensors.size() / 2], &tensors.back()}) {
    for (size_t index : {t->a_offset + 3, t->b_offset + 1}) {
      Vec unit(params.size(), 0.0);
      unit[index] = 1.0;
      directions.push_back(unit);
    }
  }
  // Beside the relative bar, the rounding noise of a difference quotient of a loss this large.
  const double noise = 10 * std::numeric_limits<double>::epsilon() * f(params) / kStep;
  for (const Vec& direction : directions) {
    double exact = 0, magnitude = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      exact += gradient[i] * direction[i];
      magnitude += std::abs(gradient[i] * direction[i]);
    }
    EXPECT_NEAR(derivative(direction), exact, kReferenceBar * magnitude + noise);
  }
}

TEST_P(WholeModel, FastBackwardMatchesReference) {
  LoadedModel m(GetParam());
  // A vocabulary chunk that does not divide the vocabulary, so chunk edges are crossed.
  train::LoraTrainer trainer(m.config, m.weights,
                             {.targets = GetParam().targets, .rank = 2, .alpha = 4, .vocab_chunk = 100});
  randomize(trainer, 7);
  test::grad::ReferenceLoraModel reference(m.config, m.weights, trainer.tensors(), trainer.alpha());
  const Vec params(trainer.parameters().begin(), trainer.parameters().end());
  Vec gradient;
  const double reference_loss = reference.loss(kTokens, kMask, params, &gradient);
  ops::ThreadPool pool(2);
  trainer.zero_gradients();
  const train::StepLoss loss = trainer.step(kTokens, kMask, pool);
  EXPECT_EQ(loss.n_targets, 7);
  EXPECT_NEAR(loss.loss_sum, reference_loss, 1e-3 * reference_loss);
  const double error = relative_l2(trainer.gradients(), gradient);
  EXPECT_LT(error, 2e-3);
  std::cout << GetParam().file << ": relative L2 gradient error " << error << ", loss " << loss.loss_sum << " vs "
            << reference_loss << "\n";
  EXPECT_NEAR(trainer.evaluate(kTokens, kMask, pool).loss_sum, loss.loss_sum, 1e-9 * loss.loss_sum);
}

INSTANTIATE_TEST_SUITE_P(Families, WholeModel, testing::ValuesIn(families()),
                         [](const testing::TestParamInfo<Family>& info) {
                           std::string name = info.param.file.substr(6);
                           name = name.substr(0, name.find('-'));
                           return name;
                         });

}  // namespace
}  // namespace bantam
