// What the decoder needs to know about a model: one row of traits per architecture (how the
// family differs) plus the hyper-parameters read from the GGUF metadata.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.hpp"
#include "ops/ops.hpp"

namespace bantam {

enum class Activation { SiLU, GeluTanh };

// Which layers use sliding-window attention.
enum class SlidingWindowLayers {
  None,       // never (Phi-3: llama.cpp ignores its window, so do we)
  All,        // every layer, when the metadata sets a window (Mistral)
  EvenLayers, // layers 0, 2, 4, ... local, the others global (Gemma 2)
};

// How one architecture departs from the plain Llama decoder.
struct ArchitectureTraits {
  std::string_view name;
  ops::RopeStyle rope = ops::RopeStyle::Normal;
  Activation activation = Activation::SiLU;
  bool qkv_bias = false;        // attn_{q,k,v}.bias required (Qwen2)
  bool fused_qkv = false;       // one attn_qkv matrix (Phi-3)
  bool fused_gate_up = false;   // ffn_up holds gate then up, 2 * n_ff rows (Phi-3)
  bool embed_scale = false;     // embeddings times sqrt(n_embd) (Gemma)
  bool post_norms = false;      // post_attention_norm and post_ffw_norm (Gemma 2)
  bool prescale_query = false;  // Q scaled before attention rather than the scores (Phi-3, Gemma)
  bool longrope = false;        // rope_factors_short/long chosen by context length (Phi-3)
  SlidingWindowLayers sliding = SlidingWindowLayers::All;
  int default_sliding_window = 0;  // used when the metadata has none
};

// The traits row for `architecture`; Error listing the supported ones otherwise.
const ArchitectureTraits& architecture_traits(std::string_view architecture);
std::vector<std::string_view> supported_architectures();

struct ModelConfig {
  ArchitectureTraits traits;
  int n_vocab = 0;
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim_k = 0;
  int head_dim_v = 0;
  int n_ff = 0;
  int n_rot = 0;
  int n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  float rope_attn_factor = 1.0f;
  int rope_original_context = 0;  // LongRoPE: longer contexts use the long factors
  int sliding_window = 0;
  std::vector<bool> layer_sliding;  // per layer: attends within sliding_window only
  float attn_scale = 0.0f;          // scale of q.k
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;

  // Reads and checks the hyper-parameters; n_vocab comes from token_embd.
  static ModelConfig from_gguf(const gguf::File& file);
};

}  // namespace bantam
