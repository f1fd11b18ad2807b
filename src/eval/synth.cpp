#include "eval/synth.hpp"

#include <cmath>
#include <functional>
#include <numeric>
#include <numbers>
#include <thread>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "model/config.hpp"
#include "model/tensor_table.hpp"
#include "quant/file_mix.hpp"
#include "quant/quant.hpp"

namespace bantam {
namespace {

using gguf::Value;
using gguf::ValueType;

// Published dimensions of each model (config.json of the official checkpoints).
const std::vector<SynthPreset> kPresets = {
    {"qwen2-0.5b", "qwen2", 896, 24, 14, 2, 64, 4864, 151936, 32768, 1000000.0, 1e-6, true},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 500000.0, 1e-5, true, 0,
     32.0, 8192},
    {"llama-3.1-8b", "llama", 4096, 32, 32, 8, 128, 14336, 128256, 131072, 500000.0, 1e-5, false,
     0, 8.0, 8192},
    {"phi-3-mini", "phi3", 3072, 32, 32, 32, 96, 8192, 32064, 4096, 10000.0, 1e-5, false, 2047},
    {"gemma-2-2b", "gemma2", 2304, 26, 8, 4, 256, 9216, 256000, 8192, 10000.0, 1e-6, true, 4096},
    {"mistral-nemo-12b", "llama", 5120, 40, 32, 8, 128, 14336, 131072, 1024000, 1000000.0, 1e-5,
     false},
};

// splitmix64: fast, seedable, good enough for benchmark weights.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  float normal() {
    const float u1 = std::max(uniform(), 1e-7f), u2 = uniform();
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(2.0f * std::numbers::pi_v<float> * u2);
  }
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  enum Fill { kNormal, kOnes, kRopeFreqs } fill = kNormal;
};

// The architecture's tensors from the model's table: norms filled with ones, the rest random.
std::vector<TensorSpec> tensor_specs(const SynthPreset& p, int64_t n_vocab) {
  const int64_t q = p.n_head * p.head_dim, kv = p.n_head_kv * p.head_dim;
  const TensorDims dims{.n_embd = p.n_embd, .n_vocab = n_vocab, .n_ff = p.n_ff, .n_layer = p.n_layer,
                        .n_rot = p.head_dim, .q_width = q, .k_width = kv, .v_width = kv, .attn_out_width = q};
  std::vector<TensorSpec> specs;
  for (TensorEntry& e : architecture_tensors(architecture_traits(p.arch), dims)) {
    TensorSpec spec{std::move(e.name), std::move(e.shape)};
    switch (e.role) {
      case TensorRole::Output:
        if (p.tied_output) continue;
        break;
      case TensorRole::RopeFreqs:
        if (p.llama3_rope_factor <= 0) continue;
        spec.fill = TensorSpec::kRopeFreqs;
        break;
      case TensorRole::RopeFactorsShort:
      case TensorRole::RopeFactorsLong: continue;  // LongRoPE factors are optional; synth leaves them out
      case TensorRole::OutputNorm:
      case TensorRole::AttnNorm:
      case TensorRole::PostAttnNorm:
      case TensorRole::FfnNorm:
      case TensorRole::PostFfnNorm: spec.fill = TensorSpec::kOnes; break;
      default: break;
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

// Llama 3 RoPE scaling as per-dimension frequency divisors (what rope_freqs holds).
std::vector<float> llama3_rope_factors(const SynthPreset& p) {
  const double low_freq_factor = 1.0, high_freq_factor = 4.0;
  const double low_wavelen = p.llama3_original_ctx / low_freq_factor;
  const double high_wavelen = p.llama3_original_ctx / high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < p.head_dim / 2; ++i) {
    const double freq = std::pow(p.rope_base, -2.0 * static_cast<double>(i) / p.head_dim);
    const double wavelen = 2 * std::numbers::pi / freq;
    double factor = 1.0;
    if (wavelen > low_wavelen) {
      factor = p.llama3_rope_factor;
    } else if (wavelen > high_wavelen) {
      const double smooth = (p.llama3_original_ctx / wavelen - low_freq_factor) /
                            (high_freq_factor - low_freq_factor);
      factor = 1.0 / ((1 - smooth) / p.llama3_rope_factor + smooth);
    }
    factors.push_back(static_cast<float>(factor));
  }
  return factors;
}

// A byte-fallback SentencePiece vocab: <unk> <s> </s>, 256 byte tokens, then filler pieces.
void write_stub_vocab(gguf::Writer& w, int64_t n_vocab) {
  Value::Array tokens, scores, types;
  for (int64_t i = 0; i < n_vocab; ++i) {
    std::string text;
    int32_t type = 1;
    if (i == 0) text = "<unk>", type = 2;
    else if (i == 1) text = "<s>", type = 3;
    else if (i == 2) text = "</s>", type = 3;
    else if (i < 3 + 256) text = fmt::format("<0x{:02X}>", i - 3), type = 6;
    else text = fmt::format("\xe2\x96\x81t{}", i);
    tokens.push_back(Value::string(text));
    scores.push_back(Value::f32(-static_cast<float>(i)));
    types.push_back(Value::i32(type));
  }
  w.set("tokenizer.ggml.model", Value::string("llama"));
  w.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, std::move(tokens)));
  w.set("tokenizer.ggml.scores", Value::array(ValueType::FLOAT32, std::move(scores)));
  w.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, std::move(types)));
  w.set("tokenizer.ggml.unknown_token_id", Value::u32(0));
  w.set("tokenizer.ggml.bos_token_id", Value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", Value::u32(2));
}

std::vector<uint8_t> produce(const TensorSpec& spec, GgmlType type, uint64_t seed, int threads,
                             const SynthPreset& preset) {
  const int64_t row = spec.shape[0];
  const int64_t rows = static_cast<int64_t>(
      std::accumulate(spec.shape.begin() + 1, spec.shape.end(), int64_t{1}, std::multiplies<>()));
  const size_t row_size = row_bytes(type, row);
  std::vector<uint8_t> out(row_size * static_cast<size_t>(rows));
  std::vector<float> rope;
  if (spec.fill == TensorSpec::kRopeFreqs) rope = llama3_rope_factors(preset);
  // 1/sqrt(fan_in) keeps activations in a sane range through the layers.
  const float scale = 1.0f / std::sqrt(static_cast<float>(row));
  const auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> values(static_cast<size_t>(row));
    for (int64_t r = begin; r < end; ++r) {
      Rng rng{seed ^ (static_cast<uint64_t>(r) * 0x632BE59BD9B4E019ull)};
      for (int64_t i = 0; i < row; ++i) {
        switch (spec.fill) {
          case TensorSpec::kOnes: values[i] = 1.0f; break;
          case TensorSpec::kRopeFreqs: values[i] = rope[i]; break;
          case TensorSpec::kNormal: values[i] = rng.normal() * scale; break;
        }
      }
      quant::quantize_row(type, values.data(), out.data() + static_cast<size_t>(r) * row_size, row);
    }
  };
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(rows)));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work, rows * t / n, rows * (t + 1) / n);
  work(0, rows / n);
  for (auto& th : pool) th.join();
  return out;
}

}  // namespace

const std::vector<SynthPreset>& synth_presets() { return kPresets; }

const SynthPreset& find_synth_preset(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& p : kPresets) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  throw Error(fmt::format("unknown preset '{}' (known: {})", name, fmt::join(names, ", ")));
}

void write_synthetic_model(const SynthOptions& o) {
  SynthPreset p = find_synth_preset(o.preset);
  if (o.layers > 0) p.n_layer = o.layers;
  if (!o.arch.empty() && o.arch != p.arch) {
    throw Error(fmt::format("preset {} is a '{}' model, not '{}'", p.name, p.arch, o.arch));
  }
  const auto ft = quant::file_type_from_name(o.file_type);
  if (!ft) {
    throw Error(fmt::format("unknown type '{}' (known: {})", o.file_type,
                            fmt::join(quant::file_type_names(), ", ")));
  }
  gguf::Writer w;
  const std::string& a = p.arch;
  w.set("general.architecture", Value::string(a));
  w.set("general.name", Value::string(fmt::format("bantam synth {}", p.name)));
  w.set("general.file_type", Value::u32(ft->llama_ftype));
  w.set("general.quantization_version", Value::u32(2));
  w.set(a + ".context_length", Value::u32(static_cast<uint32_t>(p.n_ctx)));
  w.set(a + ".embedding_length", Value::u32(static_cast<uint32_t>(p.n_embd)));
  w.set(a + ".block_count", Value::u32(static_cast<uint32_t>(p.n_layer)));
  w.set(a + ".feed_forward_length", Value::u32(static_cast<uint32_t>(p.n_ff)));
  w.set(a + ".attention.head_count", Value::u32(static_cast<uint32_t>(p.n_head)));
  w.set(a + ".attention.head_count_kv", Value::u32(static_cast<uint32_t>(p.n_head_kv)));
  w.set(a + ".attention.key_length", Value::u32(static_cast<uint32_t>(p.head_dim)));
  w.set(a + ".attention.value_length", Value::u32(static_cast<uint32_t>(p.head_dim)));
  w.set(a + ".attention.layer_norm_rms_epsilon", Value::f32(static_cast<float>(p.rms_eps)));
  w.set(a + ".rope.freq_base", Value::f32(static_cast<float>(p.rope_base)));
  w.set(a + ".rope.dimension_count", Value::u32(static_cast<uint32_t>(p.head_dim)));
  if (p.sliding_window > 0) {
    w.set(a + ".attention.sliding_window", Value::u32(static_cast<uint32_t>(p.sliding_window)));
  }
  if (a == "gemma2") {
    w.set(a + ".attn_logit_softcapping", Value::f32(50.0f));
    w.set(a + ".final_logit_softcapping", Value::f32(30.0f));
  }
  if (a == "phi3") {
    w.set(a + ".rope.scaling.original_context_length", Value::u32(static_cast<uint32_t>(p.n_ctx)));
  }

  int64_t n_vocab = p.n_vocab;
  if (!o.vocab_file.empty()) {
    const auto vocab = gguf::File::open(o.vocab_file);
    const auto* tokens = vocab.get_array("tokenizer.ggml.tokens");
    if (tokens == nullptr) throw Error(o.vocab_file + ": has no tokenizer.ggml.tokens");
    n_vocab = static_cast<int64_t>(tokens->size());
    for (const auto& [k, v] : vocab.metadata()) {
      if (k.starts_with("tokenizer.")) w.set(k, v);
    }
  } else {
    write_stub_vocab(w, n_vocab);
  }
  w.set(a + ".vocab_size", Value::u32(static_cast<uint32_t>(n_vocab)));

  uint64_t index = 0;
  for (const auto& spec : tensor_specs(p, n_vocab)) {
    const quant::TensorPlacement placement{spec.name, spec.shape, static_cast<int>(p.n_layer),
                                           static_cast<int>(p.n_head / p.n_head_kv),
                                           !p.tied_output};
    const GgmlType type =
        quant::block_compatible_type(quant::tensor_type_for(*ft, placement), spec.shape[0]);
    const uint64_t seed = o.seed * 1000003ull + index++;
    w.add_tensor_lazy(spec.name, type, spec.shape, [spec, type, seed, &o, &p] {
      return produce(spec, type, seed, o.threads, p);
    });
  }
  if (o.progress) w.on_progress(o.progress);
  w.write(o.out);
}

}  // namespace bantam
