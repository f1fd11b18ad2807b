#include "train/finetune.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "model/config.hpp"
#include "model/lora.hpp"
#include "model/tensor_table.hpp"
#include "model/weights.hpp"
#include "ops/thread_pool.hpp"
#include "text/chat_template.hpp"
#include "text/tokenizer.hpp"
#include "train/adapter_writer.hpp"
#include "train/lora_trainer.hpp"

namespace bantam::train {

namespace {

// The training core behind the loop's interface: one trainer step per sequence of a batch.
class LoraTrainable : public TrainableModel {
 public:
  LoraTrainable(LoraTrainer& trainer, ops::ThreadPool& pool) : trainer_(trainer), pool_(pool) {}

  std::vector<ParameterView> parameters() override {
    std::vector<ParameterView> views;
    const std::span<float> values = trainer_.parameters();
    const std::span<float> gradients = trainer_.gradients();
    for (const LoraTensor& t : trainer_.tensors()) {
      const auto a_size = static_cast<size_t>(t.rank * t.n_in);
      const auto b_size = static_cast<size_t>(t.n_out * t.rank);
      views.push_back(ParameterView{.name = t.target + ".lora_a", .shape = {t.n_in, t.rank},
                                    .values = values.subspan(t.a_offset, a_size),
                                    .gradient = gradients.subspan(t.a_offset, a_size)});
      views.push_back(ParameterView{.name = t.target + ".lora_b", .shape = {t.rank, t.n_out},
                                    .values = values.subspan(t.b_offset, b_size),
                                    .gradient = gradients.subspan(t.b_offset, b_size)});
    }
    return views;
  }
  void zero_gradients() override { trainer_.zero_gradients(); }
  BatchLoss accumulate(std::span<const Example> batch) override { return run(batch, true); }
  BatchLoss evaluate(std::span<const Example> batch) override { return run(batch, false); }

 private:
  BatchLoss run(std::span<const Example> batch, bool gradients) {
    BatchLoss total;
    for (const Example& e : batch) {
      const StepLoss loss = gradients ? trainer_.step(e.tokens, e.target, pool_) : trainer_.evaluate(e.tokens, e.target, pool_);
      total.loss_sum += loss.loss_sum;
      total.tokens += static_cast<uint64_t>(loss.n_targets);
    }
    return total;
  }
  LoraTrainer& trainer_;
  ops::ThreadPool& pool_;
};

// The kinds given, or the default kinds the model has (checked on layer 0).
std::vector<std::string> resolve_targets(const FinetuneOptions& options, const Weights& weights) {
  if (!options.targets.empty()) return options.targets;
  const auto matrices = lora_targets(weights);
  std::vector<std::string> kinds;
  for (const char* kind : kDefaultTargets) {
    const std::optional<TensorRole> role = role_of_kind(kind);
    if (role && matrices.contains(tensor_name(*role, 0))) kinds.emplace_back(kind);
  }
  if (kinds.empty()) throw Error(fmt::format("{}: the model has none of the default target matrices", options.model));
  return kinds;
}

std::vector<AdapterPair> adapter_pairs(const LoraTrainer& trainer) {
  const std::span<const float> values = trainer.parameters();
  std::vector<AdapterPair> pairs;
  for (const LoraTensor& t : trainer.tensors()) {
    pairs.push_back(AdapterPair{.target = t.target, .n_in = t.n_in, .n_out = t.n_out, .rank = t.rank,
                                .a = values.subspan(t.a_offset, static_cast<size_t>(t.rank * t.n_in)),
                                .b = values.subspan(t.b_offset, static_cast<size_t>(t.n_out * t.rank))});
  }
  return pairs;
}

}  // namespace

std::string fingerprint_options(const FinetuneOptions& o, const std::vector<std::string>& targets) {
  // Epochs and threads are left out: a resumed run may train longer, on another thread count.
  return fmt::format("rank={} alpha={} targets={} lr={} c={} b={} grad-accum={} eval-split={} seed={}", o.rank,
                     o.alpha, fmt::join(targets, ","), o.lr, o.context, o.batch, o.grad_accum, o.eval_split, o.seed);
}

FinetuneReport finetune(const FinetuneOptions& options, const FinetuneCallbacks& callbacks) {
  if (options.output.empty()) throw Error("finetune: no output adapter given (-o ADAPTER.gguf)");
  const gguf::File file = gguf::File::open(options.model);
  const ModelConfig config = ModelConfig::from_gguf(file);
  const Weights weights = Weights::bind(file, config);
  const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(file);
  std::optional<ChatTemplate> chat;
  if (options.data.ends_with(".jsonl")) chat.emplace(ChatTemplate::from_gguf(file));
  const Dataset data = load_dataset(options.data, *tokenizer, chat ? &*chat : nullptr,
                                    DataOptions{.context = options.context, .eval_split = options.eval_split,
                                                .seed = options.seed, .format = DataFormat::Auto});

  FinetuneReport report;
  report.train_examples = data.train.size();
  report.held_out_examples = data.held_out.size();
  report.truncated = data.truncated;
  report.dropped = data.dropped;
  report.targets = resolve_targets(options, weights);
  const LoraTrainerOptions trainer_options{.targets = report.targets, .rank = options.rank, .alpha = options.alpha,
                                           .seed = options.seed, .vocab_chunk = LoraTrainerOptions{}.vocab_chunk};
  LoraTrainer trainer(config, weights, trainer_options);
  report.parameters = trainer.parameters().size();
  report.memory_bytes = trainer.memory(options.context).total();
  report.checkpoint = options.checkpoint.empty() ? options.output + ".ckpt" : options.checkpoint;

  LoopOptions loop{.epochs = options.epochs, .batch = options.batch, .grad_accum = options.grad_accum,
                   .seed = options.seed, .adamw = AdamWOptions{.lr = options.lr},
                   .fingerprint = {.model_hash = hash_file(options.model), .data_hash = data.content_hash,
                                   .options = fingerprint_options(options, report.targets)},
                   .checkpoint_path = report.checkpoint,
                   .checkpoint_every = options.checkpoint_every};
  std::optional<Checkpoint> resume;
  if (!options.resume.empty()) {
    resume = read_checkpoint(options.resume);
    check_resumable(options.resume, *resume, loop.fingerprint);
  }
  if (callbacks.on_start) callbacks.on_start(report);

  ops::ThreadPool pool(options.threads);
  LoraTrainable model(trainer, pool);
  report.loop = run_training(model, data, loop, resume, callbacks.loop);
  if (!report.loop.stopped) {
    const AdapterFileInfo info{
        .architecture = file.architecture(),
        .name = fmt::format("rank-{} LoRA of {} trained on {}", options.rank,
                            std::filesystem::path(options.model).filename().string(),
                            std::filesystem::path(options.data).filename().string()),
        .alpha = options.alpha,
        .type = GgmlType::F32};
    write_lora_adapter(options.output, info, adapter_pairs(trainer));
  }
  return report;
}

}  // namespace bantam::train
