#include "model/tensor_table.hpp"

#include <array>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "model/config.hpp"

namespace bantam {

namespace {

// When a file holds the tensor, given the architecture's traits.
enum class When { Always, Optional, SeparateQkv, FusedQkv, QkvBias, PostNorms, LongRope, SeparateGateUp };

enum class Dim { One, Embd, Vocab, Ff, HalfRot, Q, K, V, QKV, AttnOut, GateUp };

struct Row {
  TensorRole role;
  std::string_view kind;    // "attn_q"
  std::string_view suffix;  // "weight" or "bias"
  bool per_layer;
  When when;
  Dim cols, rows;  // rows One: a vector of `cols`
  bool lora_target;
};

// In file order (llama.cpp's converters write globals first, then each layer in this order).
constexpr std::array kRows = {
    Row{TensorRole::TokenEmbd, "token_embd", "weight", false, When::Always, Dim::Embd, Dim::Vocab, false},
    Row{TensorRole::OutputNorm, "output_norm", "weight", false, When::Always, Dim::Embd, Dim::One, false},
    Row{TensorRole::Output, "output", "weight", false, When::Optional, Dim::Embd, Dim::Vocab, true},
    Row{TensorRole::RopeFreqs, "rope_freqs", "weight", false, When::Optional, Dim::HalfRot, Dim::One, false},
    Row{TensorRole::RopeFactorsShort, "rope_factors_short", "weight", false, When::LongRope, Dim::HalfRot, Dim::One,
        false},
    Row{TensorRole::RopeFactorsLong, "rope_factors_long", "weight", false, When::LongRope, Dim::HalfRot, Dim::One,
        false},
    Row{TensorRole::AttnNorm, "attn_norm", "weight", true, When::Always, Dim::Embd, Dim::One, false},
    Row{TensorRole::AttnQkv, "attn_qkv", "weight", true, When::FusedQkv, Dim::Embd, Dim::QKV, true},
    Row{TensorRole::AttnQ, "attn_q", "weight", true, When::SeparateQkv, Dim::Embd, Dim::Q, true},
    Row{TensorRole::AttnK, "attn_k", "weight", true, When::SeparateQkv, Dim::Embd, Dim::K, true},
    Row{TensorRole::AttnV, "attn_v", "weight", true, When::SeparateQkv, Dim::Embd, Dim::V, true},
    Row{TensorRole::AttnQBias, "attn_q", "bias", true, When::QkvBias, Dim::Q, Dim::One, false},
    Row{TensorRole::AttnKBias, "attn_k", "bias", true, When::QkvBias, Dim::K, Dim::One, false},
    Row{TensorRole::AttnVBias, "attn_v", "bias", true, When::QkvBias, Dim::V, Dim::One, false},
    Row{TensorRole::AttnOutput, "attn_output", "weight", true, When::Always, Dim::AttnOut, Dim::Embd, true},
    Row{TensorRole::PostAttnNorm, "post_attention_norm", "weight", true, When::PostNorms, Dim::Embd, Dim::One, false},
    Row{TensorRole::FfnNorm, "ffn_norm", "weight", true, When::Always, Dim::Embd, Dim::One, false},
    Row{TensorRole::FfnGate, "ffn_gate", "weight", true, When::SeparateGateUp, Dim::Embd, Dim::Ff, true},
    Row{TensorRole::FfnUp, "ffn_up", "weight", true, When::Always, Dim::Embd, Dim::GateUp, true},
    Row{TensorRole::FfnDown, "ffn_down", "weight", true, When::Always, Dim::Ff, Dim::Embd, true},
    Row{TensorRole::PostFfnNorm, "post_ffw_norm", "weight", true, When::PostNorms, Dim::Embd, Dim::One, false},
};

const Row& row_of(TensorRole role) {
  for (const Row& row : kRows) {
    if (row.role == role) return row;
  }
  throw Error(fmt::format("tensor table: no row for role {}", static_cast<int>(role)));
}

bool present(When when, const ArchitectureTraits& t) {
  switch (when) {
    case When::Always:
    case When::Optional: return true;
    case When::SeparateQkv: return !t.fused_qkv;
    case When::FusedQkv: return t.fused_qkv;
    case When::QkvBias: return t.qkv_bias;
    case When::PostNorms: return t.post_norms;
    case When::LongRope: return t.longrope;
    case When::SeparateGateUp: return !t.fused_gate_up;
  }
  return false;
}

int64_t size_of(Dim dim, const TensorDims& d, const ArchitectureTraits& t) {
  switch (dim) {
    case Dim::One: return 1;
    case Dim::Embd: return d.n_embd;
    case Dim::Vocab: return d.n_vocab;
    case Dim::Ff: return d.n_ff;
    case Dim::HalfRot: return d.n_rot / 2;
    case Dim::Q: return d.q_width;
    case Dim::K: return d.k_width;
    case Dim::V: return d.v_width;
    case Dim::QKV: return d.q_width + d.k_width + d.v_width;
    case Dim::AttnOut: return d.attn_out_width;
    case Dim::GateUp: return t.fused_gate_up ? 2 * d.n_ff : d.n_ff;  // gate then up in one matrix
  }
  return 0;
}

}  // namespace

std::vector<TensorEntry> architecture_tensors(const ArchitectureTraits& traits, const TensorDims& dims) {
  std::vector<TensorEntry> entries;
  const auto add = [&](const Row& row, int layer) {
    if (!present(row.when, traits)) return;
    TensorEntry e{row.role, layer, tensor_name(row.role, layer), {size_of(row.cols, dims, traits)},
                  row.when != When::Optional && row.when != When::LongRope};
    if (row.rows != Dim::One) e.shape.push_back(size_of(row.rows, dims, traits));
    entries.push_back(std::move(e));
  };
  for (const Row& row : kRows) {
    if (!row.per_layer) add(row, -1);
  }
  for (int layer = 0; layer < dims.n_layer; ++layer) {
    for (const Row& row : kRows) {
      if (row.per_layer) add(row, layer);
    }
  }
  return entries;
}

std::string_view role_name(TensorRole role) { return row_of(role).kind; }

std::string tensor_name(TensorRole role, int layer) {
  const Row& row = row_of(role);
  if (!row.per_layer) return fmt::format("{}.{}", row.kind, row.suffix);
  return fmt::format("blk.{}.{}.{}", layer, row.kind, row.suffix);
}

std::optional<TensorRole> tensor_role(std::string_view name) {
  if (name.starts_with("blk.")) {
    const size_t dot = name.find('.', 4);
    if (dot == std::string_view::npos) return std::nullopt;
    name.remove_prefix(dot + 1);
  }
  for (const Row& row : kRows) {
    if (name.size() == row.kind.size() + 1 + row.suffix.size() && name.starts_with(row.kind) &&
        name[row.kind.size()] == '.' && name.ends_with(row.suffix)) {
      return row.role;
    }
  }
  return std::nullopt;
}

std::optional<TensorRole> role_of_kind(std::string_view kind) {
  for (const Row& row : kRows) {
    if (row.kind == kind && row.suffix == "weight") return row.role;
  }
  return std::nullopt;
}

bool is_lora_target(TensorRole role) { return row_of(role).lora_target; }

std::span<const TensorRole> per_layer_lora_targets() {
  static const std::vector<TensorRole> roles = [] {
    std::vector<TensorRole> out;
    for (const Row& row : kRows) {
      if (row.per_layer && row.lora_target) out.push_back(row.role);
    }
    return out;
  }();
  return roles;
}

}  // namespace bantam
