#include "model/weights.hpp"

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam {

namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

class Binder {
 public:
  explicit Binder(const gguf::File& file) : file_(file) {}

  // A matrix of `rows` rows of `cols` elements (GGUF shape [cols, rows]).
  ops::Matrix matrix(const std::string& name, int64_t cols, int64_t rows) const {
    const auto* info = find(name, true);
    return to_matrix(*info, cols, rows);
  }
  ops::Matrix optional_matrix(const std::string& name, int64_t cols, int64_t rows) const {
    const auto* info = find(name, false);
    return info ? to_matrix(*info, cols, rows) : ops::Matrix{};
  }

  // A 1-D F32 vector of n elements.
  const float* vector(const std::string& name, int64_t n) const { return to_vector(find(name, true), n); }
  const float* optional_vector(const std::string& name, int64_t n) const {
    return to_vector(find(name, false), n);
  }

 private:
  const gguf::TensorInfo* find(const std::string& name, bool required) const {
    const auto* info = file_.find_tensor(name);
    if (!info && required) throw Error(fmt::format("{}: missing tensor {}", file_.path(), name));
    return info;
  }

  void check_shape(const gguf::TensorInfo& info, const std::vector<int64_t>& expected) const {
    if (info.shape != expected) {
      throw Error(fmt::format("{}: tensor {}: expected shape {}, got {}", file_.path(), info.name,
                              shape_string(expected), shape_string(info.shape)));
    }
  }

  ops::Matrix to_matrix(const gguf::TensorInfo& info, int64_t cols, int64_t rows) const {
    check_shape(info, {cols, rows});
    if (!ops::matmul_supports(info.type)) {
      throw Error(fmt::format("{}: tensor {}: type {} is not supported for matrix products", file_.path(),
                              info.name, type_name(info.type)));
    }
    const auto bytes = file_.tensor_data(info);
    return ops::Matrix{.type = info.type, .cols = cols, .rows = rows, .data = bytes.data(),
                       .row_bytes = row_bytes(info.type, cols)};
  }

  const float* to_vector(const gguf::TensorInfo* info, int64_t n) const {
    if (!info) return nullptr;
    check_shape(*info, {n});
    if (info->type != GgmlType::F32) {
      throw Error(fmt::format("{}: tensor {}: expected type F32, got {}", file_.path(), info->name,
                              type_name(info->type)));
    }
    // The reader aligns tensor data to general.alignment (a multiple of 4), so this is aligned.
    return reinterpret_cast<const float*>(file_.tensor_data(*info).data());
  }

  const gguf::File& file_;
};

}  // namespace

Weights Weights::bind(const gguf::File& file, const ModelConfig& c) {
  const Binder bind(file);
  const ArchitectureTraits& traits = c.traits;
  const int64_t q_width = static_cast<int64_t>(c.n_head) * c.head_dim_k;
  const int64_t k_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_k;
  const int64_t v_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_v;
  const int64_t attn_out_width = static_cast<int64_t>(c.n_head) * c.head_dim_v;

  Weights w;
  w.token_embd = bind.matrix("token_embd.weight", c.n_embd, c.n_vocab);
  w.output_norm = bind.vector("output_norm.weight", c.n_embd);
  w.output = bind.optional_matrix("output.weight", c.n_embd, c.n_vocab);
  if (!w.output.data) w.output = w.token_embd;  // tied embeddings
  w.rope_freqs = bind.optional_vector("rope_freqs.weight", c.n_rot / 2);
  if (traits.longrope) {
    w.rope_factors_short = bind.optional_vector("rope_factors_short.weight", c.n_rot / 2);
    w.rope_factors_long = bind.optional_vector("rope_factors_long.weight", c.n_rot / 2);
  }

  w.layers.resize(c.n_layer);
  for (int il = 0; il < c.n_layer; ++il) {
    LayerWeights& l = w.layers[il];
    const auto name = [il](const char* suffix) { return fmt::format("blk.{}.{}", il, suffix); };
    l.attn_norm = bind.vector(name("attn_norm.weight"), c.n_embd);
    if (traits.fused_qkv) {
      l.wqkv = bind.matrix(name("attn_qkv.weight"), c.n_embd, q_width + k_width + v_width);
    } else {
      l.wq = bind.matrix(name("attn_q.weight"), c.n_embd, q_width);
      l.wk = bind.matrix(name("attn_k.weight"), c.n_embd, k_width);
      l.wv = bind.matrix(name("attn_v.weight"), c.n_embd, v_width);
    }
    if (traits.qkv_bias) {
      l.bq = bind.vector(name("attn_q.bias"), q_width);
      l.bk = bind.vector(name("attn_k.bias"), k_width);
      l.bv = bind.vector(name("attn_v.bias"), v_width);
    }
    l.wo = bind.matrix(name("attn_output.weight"), attn_out_width, c.n_embd);
    l.ffn_norm = bind.vector(name("ffn_norm.weight"), c.n_embd);
    if (traits.fused_gate_up) {
      l.w_up = bind.matrix(name("ffn_up.weight"), c.n_embd, 2 * static_cast<int64_t>(c.n_ff));
    } else {
      l.w_gate = bind.matrix(name("ffn_gate.weight"), c.n_embd, c.n_ff);
      l.w_up = bind.matrix(name("ffn_up.weight"), c.n_embd, c.n_ff);
    }
    l.w_down = bind.matrix(name("ffn_down.weight"), c.n_ff, c.n_embd);
    if (traits.post_norms) {
      l.post_attn_norm = bind.vector(name("post_attention_norm.weight"), c.n_embd);
      l.post_ffn_norm = bind.vector(name("post_ffw_norm.weight"), c.n_embd);
    }
  }
  return w;
}

}  // namespace bantam
