// The one table of tensors per architecture: each tensor's role, GGUF name, shape and whether a
// file must hold it. Weight binding (model/weights), `synth` (eval/synth), LoRA targets (model/lora,
// lora_synth, `bantam lora synth --targets`) and quantization mixes (quant/file_mix) all read it,
// so a name is spelled once. The header needs nothing from the model so quant can read roles.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bantam {

struct ArchitectureTraits;

enum class TensorRole {
  TokenEmbd, OutputNorm, Output, RopeFreqs, RopeFactorsShort, RopeFactorsLong,
  // per layer
  AttnNorm, AttnQ, AttnK, AttnV, AttnQkv, AttnQBias, AttnKBias, AttnVBias, AttnOutput, PostAttnNorm,
  FfnNorm, FfnGate, FfnUp, FfnDown, PostFfnNorm,
};

// The dimensions tensor shapes are made of.
struct TensorDims {
  int64_t n_embd = 0, n_vocab = 0, n_ff = 0, n_layer = 0, n_rot = 0;
  int64_t q_width = 0, k_width = 0, v_width = 0;  // n_head * head_dim_k, n_head_kv * head_dim_k / _v
  int64_t attn_out_width = 0;                     // n_head * head_dim_v
};

struct TensorEntry {
  TensorRole role;
  int layer = -1;  // -1: not per layer
  std::string name;            // "blk.3.attn_q.weight"
  std::vector<int64_t> shape;  // GGUF order: {row length, rows} for matrices, {n} for vectors
  bool required = true;        // output (tied embeddings) and RoPE factors may be absent
};

// The tensors a file of this architecture holds, in file order (globals, then layer by layer).
std::vector<TensorEntry> architecture_tensors(const ArchitectureTraits& traits, const TensorDims& dims);

// "attn_q" for TensorRole::AttnQ: the kind names users give (`--targets attn_q,attn_v`).
std::string_view role_name(TensorRole role);
// The role of a tensor name ("blk.3.attn_v.weight", "output.weight"); nullopt when the table
// has no such tensor.
std::optional<TensorRole> tensor_role(std::string_view tensor_name);
// The role of a kind name ("attn_v"); nullopt when no tensor has it.
std::optional<TensorRole> role_of_kind(std::string_view kind);
std::string tensor_name(TensorRole role, int layer);

// Matrices multiplied with activations, which LoRA adapters may target (per layer, and output).
bool is_lora_target(TensorRole role);
std::span<const TensorRole> per_layer_lora_targets();

}  // namespace bantam
