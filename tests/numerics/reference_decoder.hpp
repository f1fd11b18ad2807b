// A plain double-precision decoder that the numerics tests judge bantam against: one token at a
// time (as llama2.c), every weight widened to double, every step written as the model defines it
// (Hugging Face transformers' modeling code for each family, in GGUF's tensor layout). It shares
// nothing with bantam's forward pass: only the GGUF reader is reused, to find the tensors.
//
// GGUF conventions it relies on (what llama.cpp's converter writes):
//  - Llama Q/K rows are permuted so that RoPE rotates adjacent pairs; the other families keep
//    HF's halves ("NeoX").
//  - Gemma's RMSNorm multiplies by (1 + w); the converter stores 1 + w, so every norm here
//    multiplies by the stored weight.
//  - Llama 3's rope scaling and Phi-3's LongRoPE factors are stored as per-dimension divisors of
//    the rotation frequency (rope_freqs, rope_factors_short/long).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"

namespace bantam::test {

class ReferenceDecoder {
 public:
  explicit ReferenceDecoder(const std::string& path) : file_(gguf::File::open(path)) {
    read_hyper_parameters();
    read_weights();
    reset();
  }

  int n_vocab() const { return n_vocab_; }

  // Picks LongRoPE's factors once by the length of the context, as llama.cpp and bantam do (a
  // context longer than the original uses the long factors at every position), instead of by
  // each position's sequence length as HF does. 0: HF's rule.
  void set_longrope_context(int64_t context) { longrope_context_ = context; }

  // Forgets every position.
  void reset() {
    keys_.assign(n_layer_, {});
    values_.assign(n_layer_, {});
    n_past_ = 0;
  }

  // Runs `token` at the next position and returns the logits for what follows it.
  std::vector<double> forward(int32_t token) {
    if (token < 0 || token >= n_vocab_) throw Error(fmt::format("reference: token {} out of range", token));
    const int64_t pos = n_past_++;

    // Token embedding; Gemma scales it by sqrt(n_embd).
    std::vector<double> x = token_embd_.row(token);
    if (family_.embed_scale) {
      for (double& v : x) v *= std::sqrt(static_cast<double>(n_embd_));
    }

    for (int il = 0; il < n_layer_; ++il) {
      const Layer& l = layers_[il];
      std::vector<double> attn = attention(il, rms_norm(x, l.attn_norm), pos);
      if (!l.post_attn_norm.empty()) attn = rms_norm(attn, l.post_attn_norm);
      add(x, attn);

      std::vector<double> ffn = feed_forward(l, rms_norm(x, l.ffn_norm));
      if (!l.post_ffn_norm.empty()) ffn = rms_norm(ffn, l.post_ffn_norm);
      add(x, ffn);
    }

    std::vector<double> logits = output_.times(rms_norm(x, output_norm_));
    if (final_softcap_ > 0) {
      for (double& v : logits) v = final_softcap_ * std::tanh(v / final_softcap_);
    }
    return logits;
  }

 private:
  // How a family departs from Llama, as its HF modeling code has it. Biases, fused matrices and
  // post-norms are read from which tensors the file has.
  struct Family {
    bool neox_rope = false;    // rotate_half over halves of the rotated dims
    bool gelu = false;         // GeGLU with gelu_pytorch_tanh instead of SwiGLU
    bool embed_scale = false;  // embeddings times sqrt(n_embd)
    enum class Window { AllLayers, EvenLayers, Never } window = Window::AllLayers;
    int default_window = 0;  // when the metadata names none
  };

  static Family family_of(const std::string& arch) {
    using W = Family::Window;
    if (arch == "llama") return {};  // Mistral's sliding_window, when set, holds on every layer
    if (arch == "qwen2") return {.neox_rope = true, .window = W::Never};  // use_sliding_window is off
    if (arch == "phi3") return {.neox_rope = true};
    if (arch == "gemma") return {.neox_rope = true, .gelu = true, .embed_scale = true, .window = W::Never};
    if (arch == "gemma2") {
      // Gemma2Attention: sliding_window on layers with an even index, 4096 in its default config.
      return {.neox_rope = true, .gelu = true, .embed_scale = true, .window = W::EvenLayers,
              .default_window = 4096};
    }
    throw Error(fmt::format("reference: no family definition for architecture '{}'", arch));
  }

  // A matrix of `rows` outputs by `cols` inputs, stored column by column so that W x is a sum of
  // scaled columns (contiguous, and quick enough without tricks). Elements are kept as float:
  // every F32/F16/BF16 value is exact in float, and half the memory of double is what keeps the
  // reference fast; all arithmetic is double.
  struct Matrix {
    int64_t rows = 0, cols = 0;
    std::vector<float> columns;  // columns[c * rows + r] = W[r][c]

    std::vector<double> times(const std::vector<double>& x) const {
      std::vector<double> y(static_cast<size_t>(rows), 0.0);
      for (int64_t c = 0; c < cols; ++c) {
        const float* column = columns.data() + c * rows;
        for (int64_t r = 0; r < rows; ++r) y[r] += static_cast<double>(column[r]) * x[c];
      }
      return y;
    }
    std::vector<double> row(int64_t r) const {
      std::vector<double> out(static_cast<size_t>(cols));
      for (int64_t c = 0; c < cols; ++c) out[c] = columns[c * rows + r];
      return out;
    }
  };

  struct Layer {
    std::vector<double> attn_norm, ffn_norm, post_attn_norm, post_ffn_norm;
    Matrix wq, wk, wv, wqkv, wo, w_gate, w_up, w_down;
    std::vector<double> bq, bk, bv;
  };

  // --- hyper-parameters -------------------------------------------------------------------

  std::string key(const char* suffix) const { return fmt::format("{}.{}", arch_, suffix); }
  int64_t uint_or(const char* suffix, int64_t fallback) const {
    const auto v = file_.get_uint(key(suffix));
    return v ? static_cast<int64_t>(*v) : fallback;
  }
  int64_t required_uint(const char* suffix) const {
    const auto v = file_.get_uint(key(suffix));
    if (!v) throw Error(fmt::format("reference: {}: missing {}", file_.path(), key(suffix)));
    return static_cast<int64_t>(*v);
  }
  double double_or(const char* suffix, double fallback) const {
    return file_.get_double(key(suffix)).value_or(fallback);
  }

  void read_hyper_parameters() {
    arch_ = file_.architecture();
    family_ = family_of(arch_);
    n_embd_ = required_uint("embedding_length");
    n_layer_ = static_cast<int>(required_uint("block_count"));
    n_ff_ = required_uint("feed_forward_length");
    n_head_ = required_uint("attention.head_count");
    n_head_kv_ = uint_or("attention.head_count_kv", n_head_);
    head_dim_ = uint_or("attention.key_length", n_embd_ / n_head_);
    if (uint_or("attention.value_length", head_dim_) != head_dim_) {
      throw Error("reference: key and value head sizes differ");
    }
    n_rot_ = uint_or("rope.dimension_count", head_dim_);
    eps_ = double_or("attention.layer_norm_rms_epsilon", 1e-5);
    rope_base_ = double_or("rope.freq_base", 10000.0);
    const double linear_factor = double_or("rope.scaling.factor", 0.0);
    rope_linear_scale_ = linear_factor > 0 ? 1.0 / linear_factor : 1.0;
    rope_attn_factor_ = double_or("rope.scaling.attn_factor", 1.0);
    rope_original_context_ = uint_or("rope.scaling.original_context_length", uint_or("context_length", 0));
    attn_scale_ = double_or("attention.scale", 1.0 / std::sqrt(static_cast<double>(head_dim_)));
    attn_softcap_ = double_or("attn_logit_softcapping", 0.0);
    final_softcap_ = double_or("final_logit_softcapping", 0.0);
    window_ = uint_or("attention.sliding_window", family_.default_window);
  }

  bool layer_slides(int il) const {
    switch (family_.window) {
      case Family::Window::AllLayers: return window_ > 0;
      case Family::Window::EvenLayers: return window_ > 0 && il % 2 == 0;
      case Family::Window::Never: return false;
    }
    return false;
  }

  // --- weights ------------------------------------------------------------------------------

  static double half_to_double(uint16_t h) {
    const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double magnitude;
    if (exponent == 0) {
      magnitude = std::ldexp(mantissa, -24);  // subnormal
    } else if (exponent == 31) {
      magnitude = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    } else {
      magnitude = std::ldexp(mantissa + 1024, exponent - 25);
    }
    return sign ? -magnitude : magnitude;
  }

  // Every element of a tensor as double, in storage order.
  std::vector<double> tensor_values(const gguf::TensorInfo& info) const {
    const auto bytes = file_.tensor_data(info);
    const auto n = static_cast<size_t>(info.n_elements());
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) {
      switch (info.type) {
        case GgmlType::F32: {
          float f;
          std::memcpy(&f, bytes.data() + 4 * i, 4);
          out[i] = f;
          break;
        }
        case GgmlType::F16: {
          uint16_t h;
          std::memcpy(&h, bytes.data() + 2 * i, 2);
          out[i] = half_to_double(h);
          break;
        }
        case GgmlType::BF16: {
          uint16_t b;
          std::memcpy(&b, bytes.data() + 2 * i, 2);
          out[i] = std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
          break;
        }
        default:
          throw Error(fmt::format("reference: {}: tensor {} is {}, not F32/F16/BF16", file_.path(),
                                  info.name, type_name(info.type)));
      }
    }
    return out;
  }

  const gguf::TensorInfo* find(const std::string& name, const std::vector<int64_t>& shape, bool required) const {
    const auto* info = file_.find_tensor(name);
    if (!info) {
      if (required) throw Error(fmt::format("reference: {}: missing tensor {}", file_.path(), name));
      return nullptr;
    }
    if (info->shape != shape) {
      throw Error(fmt::format("reference: {}: tensor {} has shape {}", file_.path(), name, info->shape_string()));
    }
    return info;
  }

  std::vector<double> vector(const std::string& name, int64_t n, bool required = true) const {
    const auto* info = find(name, {n}, required);
    return info ? tensor_values(*info) : std::vector<double>{};
  }

  // GGUF shape [cols, rows]: row r's cols elements are contiguous.
  Matrix matrix(const std::string& name, int64_t cols, int64_t rows, bool required = true) const {
    const auto* info = find(name, {cols, rows}, required);
    if (!info) return {};
    const std::vector<double> stored = tensor_values(*info);
    Matrix m{.rows = rows, .cols = cols, .columns = std::vector<float>(stored.size())};
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) m.columns[c * rows + r] = static_cast<float>(stored[r * cols + c]);
    }
    return m;
  }

  void read_weights() {
    const auto* embd = file_.find_tensor("token_embd.weight");
    if (!embd || embd->shape.size() != 2) throw Error("reference: token_embd.weight missing or not 2-D");
    n_vocab_ = static_cast<int>(embd->shape[1]);
    token_embd_ = matrix("token_embd.weight", n_embd_, n_vocab_);
    output_ = matrix("output.weight", n_embd_, n_vocab_, false);
    if (output_.columns.empty()) output_ = token_embd_;  // tied embeddings
    output_norm_ = vector("output_norm.weight", n_embd_);
    rope_freqs_ = vector("rope_freqs.weight", n_rot_ / 2, false);
    rope_factors_short_ = vector("rope_factors_short.weight", n_rot_ / 2, false);
    rope_factors_long_ = vector("rope_factors_long.weight", n_rot_ / 2, false);

    const int64_t q_width = n_head_ * head_dim_, kv_width = n_head_kv_ * head_dim_;
    layers_.resize(n_layer_);
    for (int il = 0; il < n_layer_; ++il) {
      Layer& l = layers_[il];
      const auto name = [il](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
      l.attn_norm = vector(name("attn_norm.weight"), n_embd_);
      l.wqkv = matrix(name("attn_qkv.weight"), n_embd_, q_width + 2 * kv_width, false);
      if (l.wqkv.columns.empty()) {
        l.wq = matrix(name("attn_q.weight"), n_embd_, q_width);
        l.wk = matrix(name("attn_k.weight"), n_embd_, kv_width);
        l.wv = matrix(name("attn_v.weight"), n_embd_, kv_width);
      }
      l.bq = vector(name("attn_q.bias"), q_width, false);
      l.bk = vector(name("attn_k.bias"), kv_width, false);
      l.bv = vector(name("attn_v.bias"), kv_width, false);
      l.wo = matrix(name("attn_output.weight"), q_width, n_embd_);
      l.post_attn_norm = vector(name("post_attention_norm.weight"), n_embd_, false);
      l.ffn_norm = vector(name("ffn_norm.weight"), n_embd_);
      l.w_gate = matrix(name("ffn_gate.weight"), n_embd_, n_ff_, false);
      // Without ffn_gate, ffn_up holds gate rows then up rows (Phi-3's gate_up_proj).
      l.w_up = matrix(name("ffn_up.weight"), n_embd_, l.w_gate.columns.empty() ? 2 * n_ff_ : n_ff_);
      l.w_down = matrix(name("ffn_down.weight"), n_ff_, n_embd_);
      l.post_ffn_norm = vector(name("post_ffw_norm.weight"), n_embd_, false);
    }
  }

  // --- the forward pass ----------------------------------------------------------------------

  static void add(std::vector<double>& y, const std::vector<double>& x) {
    for (size_t i = 0; i < y.size(); ++i) y[i] += x[i];
  }

  std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<double>& weight) const {
    double sum_squares = 0;
    for (double v : x) sum_squares += v * v;
    const double inverse_rms = 1.0 / std::sqrt(sum_squares / static_cast<double>(x.size()) + eps_);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inverse_rms * weight[i];
    return y;
  }

  // Per-dimension divisors of the rotation frequency at `pos` (empty: none). LongRoPE (Phi-3)
  // picks its short or long factors by the sequence length, as HF's Phi-3 rotary embedding.
  const std::vector<double>& rope_factors(int64_t pos) const {
    if (rope_factors_short_.empty()) return rope_freqs_;
    const int64_t length = longrope_context_ > 0 ? longrope_context_ : pos + 1;
    const bool long_sequence = length > rope_original_context_ && !rope_factors_long_.empty();
    return long_sequence ? rope_factors_long_ : rope_factors_short_;
  }

  // Rotates the first n_rot dimensions of each head of `v` for position `pos`.
  void rope(std::vector<double>& v, int64_t n_heads, int64_t pos) const {
    const std::vector<double>& factors = rope_factors(pos);
    const int64_t half = n_rot_ / 2;
    for (int64_t h = 0; h < n_heads; ++h) {
      double* head = v.data() + h * head_dim_;
      for (int64_t i = 0; i < half; ++i) {
        double frequency = std::pow(rope_base_, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot_));
        if (!factors.empty()) frequency /= factors[i];
        const double angle = static_cast<double>(pos) * rope_linear_scale_ * frequency;
        const double cos = std::cos(angle) * rope_attn_factor_, sin = std::sin(angle) * rope_attn_factor_;
        const int64_t a = family_.neox_rope ? i : 2 * i;
        const int64_t b = family_.neox_rope ? i + half : 2 * i + 1;
        const double x0 = head[a], x1 = head[b];
        head[a] = x0 * cos - x1 * sin;
        head[b] = x0 * sin + x1 * cos;
      }
    }
  }

  // Causal grouped-query attention of this position's query over every cached position (within
  // the sliding window on sliding layers). Returns the output projection.
  std::vector<double> attention(int il, const std::vector<double>& normed, int64_t pos) {
    const Layer& l = layers_[il];
    const int64_t q_width = n_head_ * head_dim_, kv_width = n_head_kv_ * head_dim_;
    std::vector<double> q, k, v;
    if (!l.wqkv.columns.empty()) {
      const std::vector<double> qkv = l.wqkv.times(normed);
      q.assign(qkv.begin(), qkv.begin() + q_width);
      k.assign(qkv.begin() + q_width, qkv.begin() + q_width + kv_width);
      v.assign(qkv.begin() + q_width + kv_width, qkv.end());
    } else {
      q = l.wq.times(normed);
      k = l.wk.times(normed);
      v = l.wv.times(normed);
    }
    if (!l.bq.empty()) add(q, l.bq);
    if (!l.bk.empty()) add(k, l.bk);
    if (!l.bv.empty()) add(v, l.bv);
    rope(q, n_head_, pos);
    rope(k, n_head_kv_, pos);
    keys_[il].push_back(k);
    values_[il].push_back(v);

    const int64_t first = layer_slides(il) ? std::max<int64_t>(0, pos - window_ + 1) : 0;
    const int64_t group = n_head_ / n_head_kv_;  // query heads per key/value head
    std::vector<double> out(static_cast<size_t>(q_width), 0.0);
    std::vector<double> scores;
    for (int64_t h = 0; h < n_head_; ++h) {
      const double* query = q.data() + h * head_dim_;
      const int64_t kv_head = h / group;
      scores.assign(static_cast<size_t>(pos - first + 1), 0.0);
      for (int64_t p = first; p <= pos; ++p) {
        const double* key_row = keys_[il][p].data() + kv_head * head_dim_;
        double dot = 0;
        for (int64_t d = 0; d < head_dim_; ++d) dot += query[d] * key_row[d];
        double score = dot * attn_scale_;
        if (attn_softcap_ > 0) score = attn_softcap_ * std::tanh(score / attn_softcap_);
        scores[p - first] = score;
      }
      const double max_score = *std::max_element(scores.begin(), scores.end());
      double total = 0;
      for (double& s : scores) total += (s = std::exp(s - max_score));
      double* head_out = out.data() + h * head_dim_;
      for (int64_t p = first; p <= pos; ++p) {
        const double weight = scores[p - first] / total;
        const double* value_row = values_[il][p].data() + kv_head * head_dim_;
        for (int64_t d = 0; d < head_dim_; ++d) head_out[d] += weight * value_row[d];
      }
    }
    return l.wo.times(out);
  }

  static double silu(double x) { return x / (1.0 + std::exp(-x)); }
  static double gelu_tanh(double x) {
    const double sqrt_2_over_pi = std::sqrt(2.0 / std::numbers::pi);
    return 0.5 * x * (1.0 + std::tanh(sqrt_2_over_pi * (x + 0.044715 * x * x * x)));
  }

  std::vector<double> feed_forward(const Layer& l, const std::vector<double>& normed) const {
    std::vector<double> gate, up;
    if (!l.w_gate.columns.empty()) {
      gate = l.w_gate.times(normed);
      up = l.w_up.times(normed);
    } else {
      const std::vector<double> gate_up = l.w_up.times(normed);
      gate.assign(gate_up.begin(), gate_up.begin() + n_ff_);
      up.assign(gate_up.begin() + n_ff_, gate_up.end());
    }
    std::vector<double> hidden(static_cast<size_t>(n_ff_));
    for (int64_t i = 0; i < n_ff_; ++i) hidden[i] = (family_.gelu ? gelu_tanh(gate[i]) : silu(gate[i])) * up[i];
    return l.w_down.times(hidden);
  }

  gguf::File file_;
  std::string arch_;
  Family family_;
  int64_t n_embd_ = 0, n_ff_ = 0, n_head_ = 0, n_head_kv_ = 0, head_dim_ = 0, n_rot_ = 0;
  int n_layer_ = 0, n_vocab_ = 0;
  double eps_ = 0, rope_base_ = 0, rope_linear_scale_ = 1, rope_attn_factor_ = 1;
  int64_t rope_original_context_ = 0, window_ = 0, longrope_context_ = 0;
  double attn_scale_ = 0, attn_softcap_ = 0, final_softcap_ = 0;

  Matrix token_embd_, output_;
  std::vector<double> output_norm_, rope_freqs_, rope_factors_short_, rope_factors_long_;
  std::vector<Layer> layers_;

  // Per layer, per position: the rotated key and the value of every KV head.
  std::vector<std::vector<std::vector<double>>> keys_, values_;
  int64_t n_past_ = 0;
};

}  // namespace bantam::test
