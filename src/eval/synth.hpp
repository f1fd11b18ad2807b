// Random-weight models of real models' shapes, so anyone can benchmark without downloading
// weights: `bantam synth --arch ARCH --preset NAME --type TYPE OUT.gguf`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bantam {

struct SynthPreset {
  std::string name;
  std::string arch;  // general.architecture
  int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
  double rope_base, rms_eps;
  bool tied_output;
  int64_t sliding_window = 0;        // 0: none
  double llama3_rope_factor = 0;     // > 0: write rope_freqs from llama3 scaling
  int64_t llama3_original_ctx = 8192;
};

const std::vector<SynthPreset>& synth_presets();
const SynthPreset& find_synth_preset(const std::string& name);  // Error listing the presets

struct SynthOptions {
  std::string preset;
  std::string arch;        // must match the preset's architecture when given
  std::string file_type;   // F16, Q8_0, Q4_0, Q4_K_M, ...
  std::string vocab_file;  // GGUF whose tokenizer.* keys are copied; empty: a byte-level stub
  std::string out;
  int64_t layers = 0;      // > 0: fewer layers of the same shape (quick experiments, tests)
  uint64_t seed = 42;
  int threads = 1;
  std::function<void(size_t done, size_t total, const std::string& tensor)> progress;
};

void write_synthetic_model(const SynthOptions& options);

}  // namespace bantam
