#include "model/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cmath>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "model/tensor_table.hpp"

namespace bantam {

namespace {

using ops::RopeStyle;

// One row per family. Adding a family means adding a row here (and a hook if truly needed).
const std::array<ArchitectureTraits, 5> kArchitectures = {{
    {.name = "llama"},
    {.name = "qwen2", .rope = RopeStyle::NeoX, .qkv_bias = true, .sliding = SlidingWindowLayers::None},
    {.name = "phi3", .rope = RopeStyle::NeoX, .fused_qkv = true, .fused_gate_up = true,
     .prescale_query = true, .longrope = true, .sliding = SlidingWindowLayers::None},
    {.name = "gemma", .rope = RopeStyle::NeoX, .activation = Activation::GeluTanh,
     .embed_scale = true, .prescale_query = true, .sliding = SlidingWindowLayers::None},
    {.name = "gemma2", .rope = RopeStyle::NeoX, .activation = Activation::GeluTanh,
     .embed_scale = true, .post_norms = true, .prescale_query = true,
     .sliding = SlidingWindowLayers::EvenLayers, .default_sliding_window = 4096},
}};

class MetadataReader {
 public:
  MetadataReader(const gguf::File& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  std::string key(std::string_view suffix) const { return fmt::format("{}.{}", arch_, suffix); }

  int required_int(std::string_view suffix) const {
    const auto value = file_.get_uint(key(suffix));
    if (!value) throw Error(fmt::format("{}: missing metadata key {}", file_.path(), key(suffix)));
    return checked_int(suffix, *value);
  }
  int optional_int(std::string_view suffix, int fallback) const {
    const auto value = file_.get_uint(key(suffix));
    return value ? checked_int(suffix, *value) : fallback;
  }
  float optional_float(std::string_view suffix, float fallback) const {
    const auto value = file_.get_double(key(suffix));
    return value ? static_cast<float>(*value) : fallback;
  }

 private:
  int checked_int(std::string_view suffix, uint64_t value) const {
    if (value > (1u << 30)) {
      throw Error(fmt::format("{}: metadata {} = {} is out of range", file_.path(), key(suffix), value));
    }
    return static_cast<int>(value);
  }

  const gguf::File& file_;
  std::string arch_;
};

void require_positive(const gguf::File& file, std::string_view what, int value) {
  if (value <= 0) throw Error(fmt::format("{}: {} must be positive, got {}", file.path(), what, value));
}

// Layers present: one more than the highest N of the blk.N.* tensors.
int64_t layers_in_tensors(const gguf::File& file) {
  int64_t layers = 0;
  for (const auto& t : file.tensors()) {
    if (!t.name.starts_with("blk.")) continue;
    int64_t n = 0;
    size_t i = 4;
    for (; i < t.name.size() && i < 14 && std::isdigit(static_cast<unsigned char>(t.name[i])); ++i) {
      n = n * 10 + (t.name[i] - '0');
    }
    if (i > 4 && i < t.name.size() && t.name[i] == '.') layers = std::max(layers, n + 1);
  }
  return layers;
}

// Hyper-parameters size every buffer, so each one is checked against a tensor that holds it
// before anything is allocated from it: a bad key is named rather than failing an allocation.
class ShapeCheck {
 public:
  ShapeCheck(const gguf::File& file, const MetadataReader& meta) : file_(file), meta_(meta) {}

  // `keys` (e.g. "attention.head_count x attention.key_length") = `value` must equal dimension
  // `dim` of `tensor`; a missing tensor is left to weight binding, which names it.
  void dimension(std::string_view keys, int64_t value, const std::string& tensor, size_t dim) const {
    const gguf::TensorInfo* t = file_.find_tensor(tensor);
    if (!t || dim >= t->shape.size() || t->shape[dim] == value) return;
    throw Error(fmt::format("{}: metadata {} = {} does not match tensor {} of shape {}", file_.path(),
                            keys, value, tensor, t->shape_string()));
  }
  std::string keys(std::string_view a, std::string_view b) const {
    return fmt::format("{} x {}", meta_.key(a), meta_.key(b));
  }

 private:
  const gguf::File& file_;
  const MetadataReader& meta_;
};

void check_shapes(const gguf::File& file, const MetadataReader& meta, ModelConfig& c) {
  const auto* embd = file.find_tensor(tensor_name(TensorRole::TokenEmbd, -1));
  if (!embd) throw Error(fmt::format("{}: missing tensor token_embd.weight", file.path()));
  if (embd->shape.size() != 2) {
    throw Error(fmt::format("{}: tensor token_embd.weight: expected 2 dimensions, got {}", file.path(),
                            embd->shape_string()));
  }
  if (embd->shape[1] > INT32_MAX) {
    throw Error(fmt::format("{}: tensor token_embd.weight: {} rows are more than a vocabulary may have",
                            file.path(), embd->shape[1]));
  }
  c.n_vocab = static_cast<int>(embd->shape[1]);
  const ShapeCheck check(file, meta);
  check.dimension(meta.key("embedding_length"), c.n_embd, tensor_name(TensorRole::TokenEmbd, -1), 0);
  if (const int64_t layers = layers_in_tensors(file); layers != c.n_layer) {
    throw Error(fmt::format("{}: metadata {} = {} but the file has tensors for {} layers", file.path(),
                            meta.key("block_count"), c.n_layer, layers));
  }
  const int64_t q = int64_t{c.n_head} * c.head_dim_k, k = int64_t{c.n_head_kv} * c.head_dim_k,
                v = int64_t{c.n_head_kv} * c.head_dim_v;
  check.dimension(meta.key("feed_forward_length"), c.n_ff, tensor_name(TensorRole::FfnDown, 0), 0);
  check.dimension(check.keys("attention.head_count", "attention.value_length"),
                  int64_t{c.n_head} * c.head_dim_v, tensor_name(TensorRole::AttnOutput, 0), 0);
  if (c.traits.fused_qkv) {
    check.dimension(fmt::format("{} and {}", check.keys("attention.head_count", "attention.key_length"),
                                meta.key("attention.head_count_kv")),
                    q + k + v, tensor_name(TensorRole::AttnQkv, 0), 1);
  } else {
    check.dimension(check.keys("attention.head_count", "attention.key_length"), q, tensor_name(TensorRole::AttnQ, 0), 1);
    check.dimension(check.keys("attention.head_count_kv", "attention.key_length"), k, tensor_name(TensorRole::AttnK, 0), 1);
    check.dimension(check.keys("attention.head_count_kv", "attention.value_length"), v,
                    tensor_name(TensorRole::AttnV, 0), 1);
  }
}

}  // namespace

const ArchitectureTraits& architecture_traits(std::string_view architecture) {
  for (const auto& traits : kArchitectures) {
    if (traits.name == architecture) return traits;
  }
  throw Error(fmt::format("unsupported architecture '{}' (supported: {})", architecture,
                          fmt::join(supported_architectures(), ", ")));
}

std::vector<std::string_view> supported_architectures() {
  std::vector<std::string_view> names;
  for (const auto& traits : kArchitectures) names.push_back(traits.name);
  return names;
}

ModelConfig ModelConfig::from_gguf(const gguf::File& file) {
  const std::string arch = file.architecture();
  if (arch.empty()) throw Error(fmt::format("{}: missing metadata key general.architecture", file.path()));
  ModelConfig c;
  c.traits = architecture_traits(arch);
  const MetadataReader meta(file, arch);

  c.n_embd = meta.required_int("embedding_length");
  c.n_layer = meta.required_int("block_count");
  c.n_ff = meta.required_int("feed_forward_length");
  c.n_head = meta.required_int("attention.head_count");
  c.n_head_kv = meta.optional_int("attention.head_count_kv", c.n_head);
  c.n_ctx_train = meta.optional_int("context_length", 4096);
  for (auto [what, value] : {std::pair{"embedding_length", c.n_embd}, {"block_count", c.n_layer},
                             {"context_length", c.n_ctx_train},
                             {"feed_forward_length", c.n_ff}, {"attention.head_count", c.n_head},
                             {"attention.head_count_kv", c.n_head_kv}}) {
    require_positive(file, meta.key(what), value);
  }
  if (c.n_head % c.n_head_kv != 0) {
    throw Error(fmt::format("{}: {} = {} is not a multiple of {} = {}", file.path(),
                            meta.key("attention.head_count"), c.n_head,
                            meta.key("attention.head_count_kv"), c.n_head_kv));
  }
  // Head size may differ from n_embd / n_head (Mistral Nemo).
  c.head_dim_k = meta.optional_int("attention.key_length", c.n_embd / c.n_head);
  c.head_dim_v = meta.optional_int("attention.value_length", c.n_embd / c.n_head);
  require_positive(file, meta.key("attention.key_length"), c.head_dim_k);
  require_positive(file, meta.key("attention.value_length"), c.head_dim_v);
  c.n_rot = meta.optional_int("rope.dimension_count", c.head_dim_k);
  if (c.n_rot <= 0 || c.n_rot > c.head_dim_k || c.n_rot % 2 != 0) {
    throw Error(fmt::format("{}: {} = {} must be even and at most the head size {}", file.path(),
                            meta.key("rope.dimension_count"), c.n_rot, c.head_dim_k));
  }
  check_shapes(file, meta, c);
  c.rms_eps = meta.optional_float("attention.layer_norm_rms_epsilon", 1e-5f);
  c.rope_freq_base = meta.optional_float("rope.freq_base", 10000.0f);
  const float rope_scale = meta.optional_float("rope.scaling.factor", 0.0f);
  c.rope_freq_scale = rope_scale == 0.0f ? 1.0f : 1.0f / rope_scale;
  c.rope_attn_factor = meta.optional_float("rope.scaling.attn_factor", 1.0f);
  c.rope_original_context = meta.optional_int("rope.scaling.original_context_length", c.n_ctx_train);

  c.sliding_window = meta.optional_int("attention.sliding_window", c.traits.default_sliding_window);
  c.layer_sliding.assign(c.n_layer, false);
  for (int il = 0; il < c.n_layer; ++il) {
    switch (c.traits.sliding) {
      case SlidingWindowLayers::None: break;
      case SlidingWindowLayers::All: c.layer_sliding[il] = c.sliding_window > 0; break;
      case SlidingWindowLayers::EvenLayers: c.layer_sliding[il] = c.sliding_window > 0 && il % 2 == 0; break;
    }
  }
  if (c.traits.sliding == SlidingWindowLayers::None) c.sliding_window = 0;

  // {arch}.attention.scale overrides 1/sqrt(head size) (Gemma 2's query_pre_attn_scalar).
  c.attn_scale = meta.optional_float("attention.scale", 1.0f / std::sqrt(static_cast<float>(c.head_dim_k)));
  c.attn_softcap = meta.optional_float("attn_logit_softcapping", 0.0f);
  c.final_softcap = meta.optional_float("final_logit_softcapping", 0.0f);

  return c;
}

}  // namespace bantam
