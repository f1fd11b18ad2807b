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

TensorDims tensor_dims(const ModelConfig& c) {
  return TensorDims{.n_embd = c.n_embd,
                    .n_vocab = c.n_vocab,
                    .n_ff = c.n_ff,
                    .n_layer = c.n_layer,
                    .n_rot = c.n_rot,
                    .q_width = static_cast<int64_t>(c.n_head) * c.head_dim_k,
                    .k_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_k,
                    .v_width = static_cast<int64_t>(c.n_head_kv) * c.head_dim_v,
                    .attn_out_width = static_cast<int64_t>(c.n_head) * c.head_dim_v};
}

ops::Matrix* Weights::matrix(TensorRole role, int layer) {
  switch (role) {
    case TensorRole::TokenEmbd: return &token_embd;
    case TensorRole::Output: return &output;
    case TensorRole::AttnQ: return &layers[layer].wq;
    case TensorRole::AttnK: return &layers[layer].wk;
    case TensorRole::AttnV: return &layers[layer].wv;
    case TensorRole::AttnQkv: return &layers[layer].wqkv;
    case TensorRole::AttnOutput: return &layers[layer].wo;
    case TensorRole::FfnGate: return &layers[layer].w_gate;
    case TensorRole::FfnUp: return &layers[layer].w_up;
    case TensorRole::FfnDown: return &layers[layer].w_down;
    default: return nullptr;
  }
}

const ops::Matrix* Weights::matrix(TensorRole role, int layer) const {
  return const_cast<Weights*>(this)->matrix(role, layer);
}

const float** Weights::vector(TensorRole role, int layer) {
  switch (role) {
    case TensorRole::OutputNorm: return &output_norm;
    case TensorRole::RopeFreqs: return &rope_freqs;
    case TensorRole::RopeFactorsShort: return &rope_factors_short;
    case TensorRole::RopeFactorsLong: return &rope_factors_long;
    case TensorRole::AttnNorm: return &layers[layer].attn_norm;
    case TensorRole::AttnQBias: return &layers[layer].bq;
    case TensorRole::AttnKBias: return &layers[layer].bk;
    case TensorRole::AttnVBias: return &layers[layer].bv;
    case TensorRole::PostAttnNorm: return &layers[layer].post_attn_norm;
    case TensorRole::FfnNorm: return &layers[layer].ffn_norm;
    case TensorRole::PostFfnNorm: return &layers[layer].post_ffn_norm;
    default: return nullptr;
  }
}

Weights Weights::bind(const gguf::File& file, const ModelConfig& c) {
  const Binder bind(file);
  Weights w;
  w.layers.resize(c.n_layer);
  for (const TensorEntry& e : architecture_tensors(c.traits, tensor_dims(c))) {
    if (ops::Matrix* m = w.matrix(e.role, e.layer)) {
      *m = e.required ? bind.matrix(e.name, e.shape[0], e.shape[1]) : bind.optional_matrix(e.name, e.shape[0], e.shape[1]);
    } else {
      *w.vector(e.role, e.layer) = e.required ? bind.vector(e.name, e.shape[0]) : bind.optional_vector(e.name, e.shape[0]);
    }
  }
  if (!w.output.data) w.output = w.token_embd;  // tied embeddings
  return w;
}

}  // namespace bantam
