#include "train/lora_trainer.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "model/decoder.hpp"
#include "model/tensor_table.hpp"
#include "ops/matmul.hpp"
#include "train/chunked_loss.hpp"
#include "train/layer_pass.hpp"

namespace bantam::train {

namespace {

// Uniform in [-bound, bound) from a 64-bit state: the same values on every platform and standard
// library, so a seed names one initial adapter.
float uniform(uint64_t& state, float bound) {
  state += 0x9E3779B97F4A7C15ull;  // splitmix64
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const double unit = static_cast<double>(z >> 11) * 0x1.0p-53;
  return static_cast<float>((2.0 * unit - 1.0) * bound);
}

struct TargetPlan {
  std::string name;
  int layer;
  TensorRole role;
  const ops::Matrix* base;
};

std::vector<TargetPlan> plan_targets(const ModelConfig& config, const Weights& weights,
                                     const LoraTrainerOptions& options) {
  if (options.targets.empty()) throw Error("finetune: no target tensors given");
  if (options.rank < 1) throw Error(fmt::format("finetune: rank {} is below 1", options.rank));
  std::vector<TensorRole> roles;
  for (const std::string& kind : options.targets) {
    const auto role = role_of_kind(kind);
    if (!role || target_slot(*role) < 0) {
      std::string known;
      for (TensorRole r : kLayerTargets) known += fmt::format("{}{}", known.empty() ? "" : ", ", role_name(r));
      throw Error(fmt::format("finetune: '{}' is not a trainable matrix kind (one of: {})", kind, known));
    }
    if (std::find(roles.begin(), roles.end(), *role) == roles.end()) roles.push_back(*role);
  }
  std::vector<TargetPlan> plan;
  for (int il = 0; il < config.n_layer; ++il) {
    for (TensorRole role : roles) {
      const ops::Matrix* m = weights.matrix(role, il);
      if (!m || !m->data) {
        throw Error(fmt::format("finetune: this {} model has no {} matrix (target '{}')", config.traits.name,
                                tensor_name(role, il), role_name(role)));
      }
      if (options.rank > std::min(m->rows, m->cols)) {
        throw Error(fmt::format("finetune: rank {} exceeds the smaller side of {} ({} x {})", options.rank,
                                tensor_name(role, il), m->rows, m->cols));
      }
      plan.push_back({tensor_name(role, il), il, role, m});
    }
  }
  return plan;
}

void check_matrix_types(const Weights& weights) {
  const auto check = [](const ops::Matrix& m, const std::string& name) {
    if (m.data && !ops::matmul_supports(m.type)) {
      throw Error(fmt::format("finetune: {} is {}, which training cannot read", name, type_name(m.type)));
    }
  };
  check(weights.output, "output.weight");
}

}  // namespace

struct LoraTrainer::Impl {
  const ModelConfig& config;
  const Weights& weights;
  LoraTrainerOptions options;
  Decoder decoder;  // for its RoPE parameters
  std::vector<LoraTensor> tensors;
  std::vector<float> parameters, gradients;
  std::vector<LayerAdapters> adapters;  // per layer

  // Step state, sized to the longest sequence seen.
  std::vector<std::vector<float>> checkpoints;  // n_layer + 1: each layer's input, then the last output
  std::vector<float> cos_sin, scratch_out, hidden, d_hidden, grad, logits;
  LayerBuffers layer_buffers;

  Impl(const ModelConfig& c, const Weights& w, const LoraTrainerOptions& o)
      : config(c), weights(w), options(o), decoder(c, w) {}

  void build(const std::vector<TargetPlan>& plan);
  void bind_adapters();
  StepLoss run(std::span<const int32_t> tokens, std::span<const uint8_t> loss_mask, ops::ThreadPool& pool,
               bool backward);
  LayerPass layer_pass(int il, const ops::RopeParams& rope, ops::ThreadPool& pool) {
    return LayerPass{config, weights.layers[static_cast<size_t>(il)], il, adapters[static_cast<size_t>(il)], rope,
                     cos_sin.data(), layer_buffers, pool};
  }
};

void LoraTrainer::Impl::build(const std::vector<TargetPlan>& plan) {
  size_t offset = 0;
  for (const TargetPlan& target : plan) {
    LoraTensor t{.target = target.name, .n_in = target.base->cols, .n_out = target.base->rows, .rank = options.rank};
    t.a_offset = offset;
    offset += static_cast<size_t>(t.rank * t.n_in);
    t.b_offset = offset;
    offset += static_cast<size_t>(t.n_out * t.rank);
    tensors.push_back(t);
  }
  parameters.assign(offset, 0.0f);
  gradients.assign(offset, 0.0f);
  // A as PEFT initializes it (Kaiming-uniform bound 1/sqrt(n_in)); B zero, so the untrained
  // adapter leaves the base model's output unchanged.
  uint64_t state = options.seed;
  for (const LoraTensor& t : tensors) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(t.n_in));
    for (int64_t i = 0; i < t.rank * t.n_in; ++i) parameters[t.a_offset + static_cast<size_t>(i)] = uniform(state, bound);
  }
  adapters.assign(static_cast<size_t>(config.n_layer), LayerAdapters{});
  for (size_t i = 0; i < plan.size(); ++i) {
    LayerAdapters& layer = adapters[static_cast<size_t>(plan[i].layer)];
    const auto slot = static_cast<size_t>(target_slot(plan[i].role));
    layer.terms[slot] = LowRank{.a = nullptr, .b = nullptr, .n_in = tensors[i].n_in, .n_out = tensors[i].n_out,
                                .rank = tensors[i].rank, .scale = options.alpha / static_cast<float>(options.rank)};
  }
  bind_adapters();
}

// Points every term at its values and gradients (after the vectors have their final size).
void LoraTrainer::Impl::bind_adapters() {
  size_t i = 0;
  for (int il = 0; il < config.n_layer; ++il) {
    LayerAdapters& layer = adapters[static_cast<size_t>(il)];
    for (size_t slot = 0; slot < kLayerTargets.size(); ++slot) {
      if (layer.terms[slot].rank == 0) continue;
      const LoraTensor& t = tensors[i++];
      layer.terms[slot].a = parameters.data() + t.a_offset;
      layer.terms[slot].b = parameters.data() + t.b_offset;
      layer.grad_a[slot] = gradients.data() + t.a_offset;
      layer.grad_b[slot] = gradients.data() + t.b_offset;
    }
  }
}

StepLoss LoraTrainer::Impl::run(std::span<const int32_t> tokens, std::span<const uint8_t> loss_mask,
                                ops::ThreadPool& pool, bool backward) {
  const ModelConfig& c = config;
  const auto n = static_cast<int64_t>(tokens.size());
  if (n < 2) throw Error(fmt::format("finetune: a sequence of {} tokens has nothing to predict", n));
  if (!loss_mask.empty() && loss_mask.size() != tokens.size()) {
    throw Error(fmt::format("finetune: the loss mask has {} entries for {} tokens", loss_mask.size(), tokens.size()));
  }
  const int64_t e = c.n_embd;
  const auto resize = [](std::vector<float>& v, int64_t size) {
    if (v.size() < static_cast<size_t>(size)) v.resize(static_cast<size_t>(size));
  };
  checkpoints.resize(static_cast<size_t>(c.n_layer + 1));
  for (auto& x : checkpoints) resize(x, n * e);
  resize(cos_sin, n * c.n_rot);
  layer_buffers.resize(c, options.rank, n);

  // The RoPE parameters of a context as long as the sequence (LongRoPE picks its factors by it).
  const ops::RopeParams rope = decoder.rope_params(n);
  float* x0 = checkpoints[0].data();
  for (int64_t t = 0; t < n; ++t) {
    const int32_t token = tokens[static_cast<size_t>(t)];
    if (token < 0 || token >= c.n_vocab) {
      throw Error(fmt::format("finetune: token id {} is outside the vocabulary of {}", token, c.n_vocab));
    }
    ops::matrix_row(weights.token_embd, token, x0 + t * e);
    if (c.traits.embed_scale) ops::scale_inplace(x0 + t * e, std::sqrt(static_cast<float>(e)), e);
    ops::rope_cos_sin(rope, t, cos_sin.data() + t * c.n_rot);
  }
  for (int il = 0; il < c.n_layer; ++il) {
    layer_pass(il, rope, pool).forward(checkpoints[static_cast<size_t>(il)].data(),
                                       checkpoints[static_cast<size_t>(il) + 1].data(), n);
  }

  // Rows scored: position t predicts token t + 1.
  std::vector<int64_t> rows;
  std::vector<int32_t> targets;
  for (int64_t t = 0; t + 1 < n; ++t) {
    if (loss_mask.empty() || loss_mask[static_cast<size_t>(t + 1)]) {
      rows.push_back(t);
      targets.push_back(tokens[static_cast<size_t>(t + 1)]);
    }
  }
  const auto n_scored = static_cast<int64_t>(rows.size());
  StepLoss result{.loss_sum = 0, .n_targets = n_scored};
  if (n_scored == 0) return result;
  const float* last = checkpoints.back().data();
  resize(hidden, n_scored * e);
  for (int64_t i = 0; i < n_scored; ++i) {
    ops::rms_norm(last + rows[static_cast<size_t>(i)] * e, weights.output_norm, hidden.data() + i * e, e, c.rms_eps);
  }
  const OutputHead head{.weight = &weights.output, .final_softcap = c.final_softcap, .vocab_chunk = options.vocab_chunk};
  if (!backward) {
    result.loss_sum = output_head_loss(head, hidden.data(), targets, nullptr, logits, pool);
    return result;
  }
  resize(d_hidden, n_scored * e);
  std::fill(d_hidden.begin(), d_hidden.begin() + n_scored * e, 0.0f);
  result.loss_sum = output_head_loss(head, hidden.data(), targets, d_hidden.data(), logits, pool);

  resize(grad, n * e);
  std::fill(grad.begin(), grad.begin() + n * e, 0.0f);
  for (int64_t i = 0; i < n_scored; ++i) {
    const int64_t t = rows[static_cast<size_t>(i)];
    rms_norm_backward(last + t * e, weights.output_norm, d_hidden.data() + i * e, grad.data() + t * e, e, c.rms_eps);
  }
  resize(scratch_out, n * e);
  for (int il = c.n_layer - 1; il >= 0; --il) {
    LayerPass pass = layer_pass(il, rope, pool);
    const float* in = checkpoints[static_cast<size_t>(il)].data();
    // The last layer's activations are still in the buffers from the forward pass.
    if (il != c.n_layer - 1) pass.forward(in, scratch_out.data(), n);
    pass.backward(in, grad.data(), n, il > 0);
  }
  return result;
}

LoraTrainer::LoraTrainer(const ModelConfig& config, const Weights& weights, const LoraTrainerOptions& options)
    : impl_(nullptr) {
  check_matrix_types(weights);
  const std::vector<TargetPlan> plan = plan_targets(config, weights, options);
  impl_ = new Impl(config, weights, options);
  impl_->build(plan);
}

LoraTrainer::~LoraTrainer() { delete impl_; }

StepLoss LoraTrainer::step(std::span<const int32_t> tokens, std::span<const uint8_t> loss_mask,
                           ops::ThreadPool& pool) {
  return impl_->run(tokens, loss_mask, pool, true);
}

StepLoss LoraTrainer::evaluate(std::span<const int32_t> tokens, std::span<const uint8_t> loss_mask,
                               ops::ThreadPool& pool) {
  return impl_->run(tokens, loss_mask, pool, false);
}

void LoraTrainer::zero_gradients() { std::fill(impl_->gradients.begin(), impl_->gradients.end(), 0.0f); }

void LoraTrainer::scale_gradients(float factor) {
  for (float& g : impl_->gradients) g *= factor;
}

std::span<float> LoraTrainer::parameters() { return impl_->parameters; }
std::span<const float> LoraTrainer::parameters() const { return impl_->parameters; }
std::span<float> LoraTrainer::gradients() { return impl_->gradients; }
const std::vector<LoraTensor>& LoraTrainer::tensors() const { return impl_->tensors; }
int LoraTrainer::rank() const { return impl_->options.rank; }
float LoraTrainer::alpha() const { return impl_->options.alpha; }

TrainingMemory LoraTrainer::memory(const ModelConfig& config, const Weights& weights,
                                   const LoraTrainerOptions& options, int64_t n_ctx) {
  uint64_t n_parameters = 0;
  for (const TargetPlan& target : plan_targets(config, weights, options)) {
    n_parameters += static_cast<uint64_t>(options.rank) * static_cast<uint64_t>(target.base->cols + target.base->rows);
  }
  const auto ctx = static_cast<uint64_t>(n_ctx);
  const auto e = static_cast<uint64_t>(config.n_embd);
  const uint64_t chunk = static_cast<uint64_t>(std::min<int64_t>(options.vocab_chunk, config.n_vocab));
  TrainingMemory m;
  m.adapters = 2 * 4 * n_parameters;
  m.optimizer = 2 * 4 * n_parameters;
  // Each layer's input and the last layer's output, the gradient flowing down, a layer's output.
  m.checkpoints = 4 * (static_cast<uint64_t>(config.n_layer) + 1) * ctx * e;
  m.layer_activations = 4 * ctx * (static_cast<uint64_t>(LayerBuffers::floats_per_token(config, options.rank)) + 2 * e);
  // The chunk's logits, the scored rows' final hidden states and their gradients.
  m.loss_chunk = 4 * ctx * (chunk + 2 * e);
  return m;
}

TrainingMemory LoraTrainer::memory(int64_t n_ctx) const {
  return memory(impl_->config, impl_->weights, impl_->options, n_ctx);
}

}  // namespace bantam::train
