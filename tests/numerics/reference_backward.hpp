// A plain double-precision training loss and its gradient with respect to LoRA adapters, which
// the trainer's fast backward (src/train/) is judged against. Each op's forward and backward are
// written out on whole vectors in double, without threads, checkpoints or chunks, and every
// backward is itself checked against central finite differences (reference_backward_test.cpp).
// Like the reference decoder beside it, it shares none of bantam's arithmetic: it takes the
// model's hyper-parameters from ModelConfig and its weights through Weights (each row read as
// floats, then widened), and the adapter layout from the trainer's tensor list.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <vector>

#include "model/config.hpp"
#include "model/tensor_table.hpp"
#include "model/weights.hpp"
#include "ops/matmul.hpp"
#include "train/lora_trainer.hpp"

namespace bantam::test::grad {

using Vec = std::vector<double>;
using Rows = std::vector<Vec>;  // one vector per token

struct Mat {
  int64_t rows = 0, cols = 0;
  Vec w;  // row-major
  Vec times(const Vec& x) const {
    Vec y(static_cast<size_t>(rows), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
    }
    return y;
  }
  Vec transposed_times(const Vec& dy) const {
    Vec x(static_cast<size_t>(cols), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) x[c] += w[r * cols + c] * dy[r];
    }
    return x;
  }
  static Mat from(const ops::Matrix& m) {
    Mat out{m.rows, m.cols, Vec(static_cast<size_t>(m.rows * m.cols))};
    std::vector<float> row(static_cast<size_t>(m.cols));
    for (int64_t r = 0; r < m.rows; ++r) {
      ops::matrix_row(m, r, row.data());
      std::copy(row.begin(), row.end(), out.w.begin() + r * m.cols);
    }
    return out;
  }
};

inline void add_to(Vec& y, const Vec& x) {
  for (size_t i = 0; i < y.size(); ++i) y[i] += x[i];
}

// --- ops, each with its backward (d of sum(dy * y) with respect to the inputs) -------------------

inline Vec rms_norm(const Vec& x, const Vec& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double r = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * w[i];
  return y;
}
inline Vec rms_norm_backward(const Vec& x, const Vec& w, double eps, const Vec& dy) {
  const double n = static_cast<double>(x.size());
  double ss = 0, dot = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ss += x[i] * x[i];
    dot += dy[i] * w[i] * x[i];
  }
  const double r = 1.0 / std::sqrt(ss / n + eps);
  Vec dx(x.size());
  for (size_t i = 0; i < x.size(); ++i) dx[i] = r * dy[i] * w[i] - x[i] * r * r * r * dot / n;
  return dx;
}

// Rotation of each head's first n_rot dimensions by one position's angles, magnitude m.
struct Rope {
  bool neox = false;
  int n_rot = 0, head_dim = 0;
  Vec angle;  // n_rot / 2
  double magnitude = 1.0;
};
// transpose: the rotation's transpose, which is its backward step.
inline Vec rope(const Vec& x, const Rope& r, bool transpose = false) {
  Vec y = x;
  const int half = r.n_rot / 2;
  for (size_t h = 0; h < x.size() / static_cast<size_t>(r.head_dim); ++h) {
    const size_t base = h * static_cast<size_t>(r.head_dim);
    for (int i = 0; i < half; ++i) {
      const size_t a = base + static_cast<size_t>(r.neox ? i : 2 * i);
      const size_t b = base + static_cast<size_t>(r.neox ? i + half : 2 * i + 1);
      const double c = std::cos(r.angle[i]) * r.magnitude;
      const double s = (transpose ? -1.0 : 1.0) * std::sin(r.angle[i]) * r.magnitude;
      y[a] = x[a] * c - x[b] * s;
      y[b] = x[a] * s + x[b] * c;
    }
  }
  return y;
}

inline double activation(bool gelu, double x) {
  if (!gelu) return x / (1.0 + std::exp(-x));
  const double k = std::sqrt(2.0 / std::numbers::pi);
  return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x)));
}
inline double activation_slope(bool gelu, double x) {
  if (!gelu) {
    const double s = 1.0 / (1.0 + std::exp(-x));
    return s * (1.0 + x * (1.0 - s));
  }
  const double k = std::sqrt(2.0 / std::numbers::pi);
  const double t = std::tanh(k * (x + 0.044715 * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
}
inline Vec gated(bool gelu, const Vec& gate, const Vec& up) {
  Vec y(gate.size());
  for (size_t i = 0; i < y.size(); ++i) y[i] = activation(gelu, gate[i]) * up[i];
  return y;
}
inline void gated_backward(bool gelu, const Vec& gate, const Vec& up, const Vec& dy, Vec& dgate, Vec& dup) {
  dgate.assign(gate.size(), 0.0);
  dup.assign(gate.size(), 0.0);
  for (size_t i = 0; i < gate.size(); ++i) {
    dgate[i] = dy[i] * up[i] * activation_slope(gelu, gate[i]);
    dup[i] = dy[i] * activation(gelu, gate[i]);
  }
}

struct Attention {
  int n_head = 1, n_kv = 1, dk = 1, dv = 1;
  double scale = 1, softcap = 0;
  int64_t window = 0;
};
// The probabilities and, with a cap, the capped scores of query i of head h.
inline void attention_row(const Attention& a, const Rows& q, const Rows& k, int64_t i, int h, Vec& p, Vec& capped) {
  const int kv = h / (a.n_head / a.n_kv);
  const int64_t first = a.window > 0 ? std::max<int64_t>(0, i - a.window + 1) : 0;
  p.assign(static_cast<size_t>(i + 1), 0.0);
  capped.assign(static_cast<size_t>(i + 1), 0.0);
  double mx = -INFINITY;
  for (int64_t j = first; j <= i; ++j) {
    double s = 0;
    for (int d = 0; d < a.dk; ++d) s += q[i][h * a.dk + d] * k[j][kv * a.dk + d];
    s *= a.scale;
    if (a.softcap > 0) s = a.softcap * std::tanh(s / a.softcap);
    capped[j] = s;
    mx = std::max(mx, s);
  }
  double total = 0;
  for (int64_t j = first; j <= i; ++j) total += (p[j] = std::exp(capped[j] - mx));
  for (double& v : p) v /= total;
}
inline Rows attention(const Attention& a, const Rows& q, const Rows& k, const Rows& v) {
  Rows out(q.size(), Vec(static_cast<size_t>(a.n_head * a.dv), 0.0));
  Vec p, capped;
  for (int64_t i = 0; i < static_cast<int64_t>(q.size()); ++i) {
    for (int h = 0; h < a.n_head; ++h) {
      attention_row(a, q, k, i, h, p, capped);
      const int kv = h / (a.n_head / a.n_kv);
      for (int64_t j = 0; j <= i; ++j) {
        for (int d = 0; d < a.dv; ++d) out[i][h * a.dv + d] += p[j] * v[j][kv * a.dv + d];
      }
    }
  }
  return out;
}
inline void attention_backward(const Attention& a, const Rows& q, const Rows& k, const Rows& v, const Rows& dout,
                               Rows& dq, Rows& dk, Rows& dv) {
  dq.assign(q.size(), Vec(q[0].size(), 0.0));
  dk.assign(k.size(), Vec(k[0].size(), 0.0));
  dv.assign(v.size(), Vec(v[0].size(), 0.0));
  Vec p, capped;
  for (int64_t i = 0; i < static_cast<int64_t>(q.size()); ++i) {
    for (int h = 0; h < a.n_head; ++h) {
      attention_row(a, q, k, i, h, p, capped);
      const int kv = h / (a.n_head / a.n_kv);
      Vec dp(static_cast<size_t>(i + 1), 0.0);
      double weighted = 0;
      for (int64_t j = 0; j <= i; ++j) {
        for (int d = 0; d < a.dv; ++d) {
          dp[j] += dout[i][h * a.dv + d] * v[j][kv * a.dv + d];
          dv[j][kv * a.dv + d] += p[j] * dout[i][h * a.dv + d];
        }
        weighted += p[j] * dp[j];
      }
      for (int64_t j = 0; j <= i; ++j) {
        double ds = p[j] * (dp[j] - weighted);
        if (a.softcap > 0) ds *= 1.0 - (capped[j] / a.softcap) * (capped[j] / a.softcap);
        ds *= a.scale;
        for (int d = 0; d < a.dk; ++d) {
          dq[i][h * a.dk + d] += ds * k[j][kv * a.dk + d];
          dk[j][kv * a.dk + d] += ds * q[i][h * a.dk + d];
        }
      }
    }
  }
}

// -log softmax(cap(logits))[target] and its gradient with respect to the logits.
inline double cross_entropy(const Vec& logits, int64_t target, double softcap, Vec* dlogits) {
  Vec l = logits;
  if (softcap > 0) {
    for (double& v : l) v = softcap * std::tanh(v / softcap);
  }
  const double mx = *std::max_element(l.begin(), l.end());
  double total = 0;
  for (double v : l) total += std::exp(v - mx);
  const double lse = mx + std::log(total);
  if (dlogits) {
    dlogits->assign(l.size(), 0.0);
    for (size_t i = 0; i < l.size(); ++i) {
      double g = std::exp(l[i] - lse) - (static_cast<int64_t>(i) == target ? 1.0 : 0.0);
      if (softcap > 0) g *= 1.0 - (l[i] / softcap) * (l[i] / softcap);
      (*dlogits)[i] = g;
    }
  }
  return lse - l[static_cast<size_t>(target)];
}

// --- the whole model -------------------------------------------------------------------------------

// The training loss of a model with LoRA pairs in the trainer's layout, and its gradient.
class ReferenceLoraModel {
 public:
  ReferenceLoraModel(const ModelConfig& config, const Weights& weights, const std::vector<train::LoraTensor>& tensors,
                     float alpha)
      : c_(config), w_(weights), tensors_(tensors), scale_(alpha / static_cast<double>(tensors.at(0).rank)) {
    for (const auto& t : tensors) {
      const auto role = tensor_role(t.target);
      const int layer = std::stoi(t.target.substr(4));
      pair_of_.push_back({layer, *role});
    }
  }

  // Summed loss over the scored tokens (mask as LoraTrainer::step); grad (same layout as the
  // parameters) is overwritten when given.
  double loss(std::span<const int32_t> tokens, std::span<const uint8_t> mask, std::span<const double> params,
              Vec* grad) {
    params_ = params;
    const auto n = static_cast<int64_t>(tokens.size());
    const int64_t e = c_.n_embd;
    if (grad) grad->assign(params.size(), 0.0);
    grad_ = grad;
    Rows x(static_cast<size_t>(n));
    std::vector<float> row(static_cast<size_t>(e));
    for (int64_t t = 0; t < n; ++t) {
      ops::matrix_row(w_.token_embd, tokens[t], row.data());
      x[t].assign(row.begin(), row.end());
      if (c_.traits.embed_scale) {
        for (double& v : x[t]) v *= std::sqrt(static_cast<double>(e));
      }
    }
    std::vector<LayerState> states(static_cast<size_t>(c_.n_layer));
    for (int il = 0; il < c_.n_layer; ++il) x = layer_forward(il, x, states[il]);

    const Mat head = Mat::from(w_.output);
    const Vec out_norm = vec(w_.output_norm, e);
    Rows dx(static_cast<size_t>(n), Vec(static_cast<size_t>(e), 0.0));
    double total = 0;
    for (int64_t t = 0; t + 1 < n; ++t) {
      if (!mask.empty() && !mask[t + 1]) continue;
      const Vec h = rms_norm(x[t], out_norm, c_.rms_eps);
      Vec dlogits;
      total += cross_entropy(head.times(h), tokens[t + 1], c_.final_softcap, grad ? &dlogits : nullptr);
      if (grad) dx[t] = rms_norm_backward(x[t], out_norm, c_.rms_eps, head.transposed_times(dlogits));
    }
    if (grad) {
      for (int il = c_.n_layer - 1; il >= 0; --il) dx = layer_backward(il, states[il], dx);
    }
    return total;
  }

 private:
  struct LayerState {
    Rows in, attn_in, q, k, v, attn, attn_proj, mid, ffn_in, gate, up, act, ffn_proj;
    std::vector<Rope> ropes;
  };

  static Vec vec(const float* p, int64_t n) { return p ? Vec(p, p + n) : Vec{}; }

  int pair_index(int layer, TensorRole role) const {
    for (size_t i = 0; i < pair_of_.size(); ++i) {
      if (pair_of_[i].first == layer && pair_of_[i].second == role) return static_cast<int>(i);
    }
    return -1;
  }

  // y = W x (+ bias) + scale * B (A x) for every token.
  Rows linear(int layer, TensorRole role, const ops::Matrix& m, const Rows& x, const float* bias = nullptr) const {
    const Mat w = Mat::from(m);
    const int p = pair_index(layer, role);
    Rows y;
    for (const Vec& xt : x) {
      Vec yt = w.times(xt);
      if (bias) {
        for (int64_t i = 0; i < w.rows; ++i) yt[i] += bias[i];
      }
      if (p >= 0) {
        const auto& t = tensors_[static_cast<size_t>(p)];
        Vec u(static_cast<size_t>(t.rank), 0.0);
        for (int64_t r = 0; r < t.rank; ++r) {
          for (int64_t c = 0; c < t.n_in; ++c) u[r] += params_[t.a_offset + r * t.n_in + c] * xt[c];
        }
        for (int64_t o = 0; o < t.n_out; ++o) {
          for (int64_t r = 0; r < t.rank; ++r) yt[o] += scale_ * params_[t.b_offset + o * t.rank + r] * u[r];
        }
      }
      y.push_back(std::move(yt));
    }
    return y;
  }
  // d x, adding the pair's gradients.
  Rows linear_backward(int layer, TensorRole role, const ops::Matrix& m, const Rows& x, const Rows& dy) const {
    const Mat w = Mat::from(m);
    const int p = pair_index(layer, role);
    Rows dx;
    for (size_t tok = 0; tok < x.size(); ++tok) {
      Vec dxt = w.transposed_times(dy[tok]);
      if (p >= 0) {
        const auto& t = tensors_[static_cast<size_t>(p)];
        Vec u(static_cast<size_t>(t.rank), 0.0), du(static_cast<size_t>(t.rank), 0.0);
        for (int64_t r = 0; r < t.rank; ++r) {
          for (int64_t c = 0; c < t.n_in; ++c) u[r] += params_[t.a_offset + r * t.n_in + c] * x[tok][c];
        }
        for (int64_t o = 0; o < t.n_out; ++o) {
          for (int64_t r = 0; r < t.rank; ++r) {
            (*grad_)[t.b_offset + o * t.rank + r] += scale_ * dy[tok][o] * u[r];
            du[r] += scale_ * dy[tok][o] * params_[t.b_offset + o * t.rank + r];
          }
        }
        for (int64_t r = 0; r < t.rank; ++r) {
          for (int64_t c = 0; c < t.n_in; ++c) {
            (*grad_)[t.a_offset + r * t.n_in + c] += du[r] * x[tok][c];
            dxt[c] += du[r] * params_[t.a_offset + r * t.n_in + c];
          }
        }
      }
      dx.push_back(std::move(dxt));
    }
    return dx;
  }

  Rope rope_at(int64_t pos, int64_t n) const {
    Rope r{.neox = c_.traits.rope == ops::RopeStyle::NeoX, .n_rot = c_.n_rot, .head_dim = c_.head_dim_k,
           .angle = Vec(static_cast<size_t>(c_.n_rot / 2)), .magnitude = c_.rope_attn_factor};
    const float* factors = w_.rope_freqs;
    if (c_.traits.longrope && w_.rope_factors_short) {
      factors = n > c_.rope_original_context && w_.rope_factors_long ? w_.rope_factors_long : w_.rope_factors_short;
    }
    for (int i = 0; i < c_.n_rot / 2; ++i) {
      double f = std::pow(static_cast<double>(c_.rope_freq_base), -2.0 * i / c_.n_rot);
      if (factors) f /= factors[i];
      r.angle[i] = static_cast<double>(pos) * c_.rope_freq_scale * f;
    }
    return r;
  }

  Attention attention_shape(int il) const {
    return {.n_head = c_.n_head, .n_kv = c_.n_head_kv, .dk = c_.head_dim_k, .dv = c_.head_dim_v,
            .scale = c_.attn_scale, .softcap = c_.attn_softcap,
            .window = c_.layer_sliding[il] ? c_.sliding_window : 0};
  }

  static Rows split(const Rows& x, int64_t first, int64_t width) {
    Rows out;
    for (const Vec& v : x) out.emplace_back(v.begin() + first, v.begin() + first + width);
    return out;
  }

  Rows norm_rows(const Rows& x, const float* w) const {
    Rows y;
    for (const Vec& v : x) y.push_back(rms_norm(v, vec(w, c_.n_embd), c_.rms_eps));
    return y;
  }
  Rows norm_rows_backward(const Rows& x, const float* w, const Rows& dy) const {
    Rows dx;
    for (size_t t = 0; t < x.size(); ++t) dx.push_back(rms_norm_backward(x[t], vec(w, c_.n_embd), c_.rms_eps, dy[t]));
    return dx;
  }

  Rows layer_forward(int il, const Rows& in, LayerState& s) const {
    const LayerWeights& lw = w_.layers[il];
    const int64_t n = static_cast<int64_t>(in.size());
    const int64_t qw = int64_t{c_.n_head} * c_.head_dim_k, kw = int64_t{c_.n_head_kv} * c_.head_dim_k;
    const int64_t vw = int64_t{c_.n_head_kv} * c_.head_dim_v;
    s.in = in;
    s.attn_in = norm_rows(in, lw.attn_norm);
    if (c_.traits.fused_qkv) {
      const Rows qkv = linear(il, TensorRole::AttnQkv, lw.wqkv, s.attn_in);
      s.q = split(qkv, 0, qw);
      s.k = split(qkv, qw, kw);
      s.v = split(qkv, qw + kw, vw);
    } else {
      s.q = linear(il, TensorRole::AttnQ, lw.wq, s.attn_in, lw.bq);
      s.k = linear(il, TensorRole::AttnK, lw.wk, s.attn_in, lw.bk);
      s.v = linear(il, TensorRole::AttnV, lw.wv, s.attn_in, lw.bv);
    }
    s.ropes.clear();
    for (int64_t t = 0; t < n; ++t) {
      s.ropes.push_back(rope_at(t, n));
      s.q[t] = rope(s.q[t], s.ropes[t]);
      s.k[t] = rope(s.k[t], s.ropes[t]);
    }
    s.attn = attention(attention_shape(il), s.q, s.k, s.v);
    s.attn_proj = linear(il, TensorRole::AttnOutput, lw.wo, s.attn);
    s.mid = lw.post_attn_norm ? norm_rows(s.attn_proj, lw.post_attn_norm) : s.attn_proj;
    for (int64_t t = 0; t < n; ++t) add_to(s.mid[t], in[t]);
    s.ffn_in = norm_rows(s.mid, lw.ffn_norm);
    if (c_.traits.fused_gate_up) {
      const Rows gu = linear(il, TensorRole::FfnUp, lw.w_up, s.ffn_in);
      s.gate = split(gu, 0, c_.n_ff);
      s.up = split(gu, c_.n_ff, c_.n_ff);
    } else {
      s.gate = linear(il, TensorRole::FfnGate, lw.w_gate, s.ffn_in);
      s.up = linear(il, TensorRole::FfnUp, lw.w_up, s.ffn_in);
    }
    const bool gelu = c_.traits.activation == Activation::GeluTanh;
    s.act.clear();
    for (int64_t t = 0; t < n; ++t) s.act.push_back(gated(gelu, s.gate[t], s.up[t]));
    s.ffn_proj = linear(il, TensorRole::FfnDown, lw.w_down, s.act);
    Rows out = lw.post_ffn_norm ? norm_rows(s.ffn_proj, lw.post_ffn_norm) : s.ffn_proj;
    for (int64_t t = 0; t < n; ++t) add_to(out[t], s.mid[t]);
    return out;
  }

  Rows layer_backward(int il, const LayerState& s, const Rows& dout) const {
    const LayerWeights& lw = w_.layers[il];
    const size_t n = s.in.size();
    const bool gelu = c_.traits.activation == Activation::GeluTanh;
    Rows d_mid = dout;
    const Rows d_ffn_proj = lw.post_ffn_norm ? norm_rows_backward(s.ffn_proj, lw.post_ffn_norm, dout) : dout;
    const Rows d_act = linear_backward(il, TensorRole::FfnDown, lw.w_down, s.act, d_ffn_proj);
    Rows d_gate(n), d_up(n);
    for (size_t t = 0; t < n; ++t) gated_backward(gelu, s.gate[t], s.up[t], d_act[t], d_gate[t], d_up[t]);
    Rows d_ffn_in;
    if (c_.traits.fused_gate_up) {
      Rows d_gu(n);
      for (size_t t = 0; t < n; ++t) {
        d_gu[t] = d_gate[t];
        d_gu[t].insert(d_gu[t].end(), d_up[t].begin(), d_up[t].end());
      }
      d_ffn_in = linear_backward(il, TensorRole::FfnUp, lw.w_up, s.ffn_in, d_gu);
    } else {
      d_ffn_in = linear_backward(il, TensorRole::FfnGate, lw.w_gate, s.ffn_in, d_gate);
      const Rows d_from_up = linear_backward(il, TensorRole::FfnUp, lw.w_up, s.ffn_in, d_up);
      for (size_t t = 0; t < n; ++t) add_to(d_ffn_in[t], d_from_up[t]);
    }
    const Rows d_mid_norm = norm_rows_backward(s.mid, lw.ffn_norm, d_ffn_in);
    for (size_t t = 0; t < n; ++t) add_to(d_mid[t], d_mid_norm[t]);

    Rows d_in = d_mid;
    const Rows d_attn_proj = lw.post_attn_norm ? norm_rows_backward(s.attn_proj, lw.post_attn_norm, d_mid) : d_mid;
    const Rows d_attn = linear_backward(il, TensorRole::AttnOutput, lw.wo, s.attn, d_attn_proj);
    Rows dq, dk, dv;
    attention_backward(attention_shape(il), s.q, s.k, s.v, d_attn, dq, dk, dv);
    for (size_t t = 0; t < n; ++t) {
      dq[t] = rope(dq[t], s.ropes[t], true);
      dk[t] = rope(dk[t], s.ropes[t], true);
    }
    Rows d_attn_in;
    if (c_.traits.fused_qkv) {
      Rows d_qkv(n);
      for (size_t t = 0; t < n; ++t) {
        d_qkv[t] = dq[t];
        d_qkv[t].insert(d_qkv[t].end(), dk[t].begin(), dk[t].end());
        d_qkv[t].insert(d_qkv[t].end(), dv[t].begin(), dv[t].end());
      }
      d_attn_in = linear_backward(il, TensorRole::AttnQkv, lw.wqkv, s.attn_in, d_qkv);
    } else {
      d_attn_in = linear_backward(il, TensorRole::AttnQ, lw.wq, s.attn_in, dq);
      for (auto [role, m, d] : {std::tuple{TensorRole::AttnK, &lw.wk, &dk}, std::tuple{TensorRole::AttnV, &lw.wv, &dv}}) {
        const Rows part = linear_backward(il, role, *m, s.attn_in, *d);
        for (size_t t = 0; t < n; ++t) add_to(d_attn_in[t], part[t]);
      }
    }
    const Rows d_in_norm = norm_rows_backward(s.in, lw.attn_norm, d_attn_in);
    for (size_t t = 0; t < n; ++t) add_to(d_in[t], d_in_norm[t]);
    return d_in;
  }

  const ModelConfig& c_;
  const Weights& w_;
  std::vector<train::LoraTensor> tensors_;
  double scale_;
  std::vector<std::pair<int, TensorRole>> pair_of_;
  std::span<const double> params_;
  Vec* grad_ = nullptr;
};

}  // namespace bantam::test::grad
