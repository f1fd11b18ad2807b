#include "train/train_loop.hpp"

#include <chrono>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::train {

namespace {

std::vector<NamedTensor> snapshot(const std::vector<ParameterView>& params, const std::vector<std::vector<float>>* moments) {
  std::vector<NamedTensor> out;
  out.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const std::span<const float> values = moments ? std::span<const float>((*moments)[i]) : params[i].values;
    out.push_back(NamedTensor{.name = params[i].name, .shape = params[i].shape,
                              .values = std::vector<float>(values.begin(), values.end())});
  }
  return out;
}

// Puts a checkpoint's parameters and moments in place; Error naming the first tensor that differs.
void restore(const Checkpoint& c, std::vector<ParameterView>& params, AdamW& adam) {
  if (c.params.size() != params.size()) {
    throw Error(fmt::format("the checkpoint holds {} trainable tensors, the model {}", c.params.size(), params.size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const NamedTensor& saved = c.params[i];
    if (saved.name != params[i].name || saved.shape != params[i].shape || saved.values.size() != params[i].values.size()) {
      throw Error(fmt::format("the checkpoint's tensor {} does not match the model's {}", saved.name, params[i].name));
    }
    std::copy(saved.values.begin(), saved.values.end(), params[i].values.begin());
    adam.first_moments()[i] = c.first_moments[i].values;
    adam.second_moments()[i] = c.second_moments[i].values;
  }
  adam.set_steps(c.cursor.optimizer_steps);
}

}  // namespace

std::optional<double> held_out_loss(TrainableModel& model, std::span<const Example> held_out, int batch) {
  if (held_out.empty()) return std::nullopt;
  BatchLoss total;
  for (size_t i = 0; i < held_out.size(); i += static_cast<size_t>(batch)) {
    const BatchLoss b = model.evaluate(held_out.subspan(i, std::min(held_out.size() - i, static_cast<size_t>(batch))));
    total.loss_sum += b.loss_sum;
    total.tokens += b.tokens;
  }
  if (total.tokens == 0) return std::nullopt;
  return total.loss_sum / static_cast<double>(total.tokens);
}

LoopResult run_training(TrainableModel& model, const Dataset& data, const LoopOptions& options,
                        const std::optional<Checkpoint>& resume, const LoopCallbacks& callbacks) {
  if (options.epochs < 1) throw Error(fmt::format("--epochs {} must be at least 1", options.epochs));
  if (options.batch < 1) throw Error(fmt::format("-b {} must be at least 1", options.batch));
  if (options.grad_accum < 1) throw Error(fmt::format("--grad-accum {} must be at least 1", options.grad_accum));
  if (data.train.empty()) throw Error("no training examples");

  std::vector<ParameterView> params = model.parameters();
  std::vector<size_t> sizes;
  std::vector<std::span<float>> values;
  std::vector<std::span<const float>> gradients;
  for (const ParameterView& p : params) {
    if (p.values.size() != p.gradient.size()) {
      throw Error(fmt::format("{}: {} values but {} gradients", p.name, p.values.size(), p.gradient.size()));
    }
    sizes.push_back(p.values.size());
    values.push_back(p.values);
    gradients.push_back(p.gradient);
  }
  AdamW adam(sizes, options.adamw);
  TrainCursor cursor;
  cursor.rng_state = options.seed;
  if (resume) {
    restore(*resume, params, adam);
    cursor = resume->cursor;
  }

  const size_t n = data.train.size();
  const auto batch = static_cast<size_t>(options.batch);
  const size_t per_update = batch * static_cast<size_t>(options.grad_accum);
  const auto updates_per_epoch = static_cast<int64_t>((n + per_update - 1) / per_update);
  const int64_t total_steps = updates_per_epoch * options.epochs;
  const int64_t first_step = cursor.optimizer_steps;

  LoopResult result;
  LoopProgress progress;
  progress.epoch = cursor.epoch;
  progress.epochs = options.epochs;
  progress.step = cursor.optimizer_steps;
  progress.total_steps = total_steps;
  const auto save = [&](const TrainCursor& at) {
    if (options.checkpoint_path.empty()) return;
    write_checkpoint(options.checkpoint_path,
                     Checkpoint{.fingerprint = options.fingerprint, .cursor = at, .params = snapshot(params, nullptr),
                                .first_moments = snapshot(params, &adam.first_moments()),
                                .second_moments = snapshot(params, &adam.second_moments())});
  };
  if (cursor.epoch == 0 && cursor.next_example == 0 && cursor.optimizer_steps == 0) {
    result.initial_held_out_loss = held_out_loss(model, data.held_out, options.batch);
    progress.held_out_loss = result.initial_held_out_loss;
  }

  const auto start = std::chrono::steady_clock::now();
  uint64_t tokens_seen = 0;
  std::vector<Example> group;
  for (; cursor.epoch < options.epochs; ++cursor.epoch, cursor.next_example = 0) {
    progress.epoch = cursor.epoch;
    const std::vector<size_t> order = epoch_order(n, options.seed, cursor.epoch);
    while (cursor.next_example < n) {
      model.zero_gradients();
      BatchLoss update;
      for (int a = 0; a < options.grad_accum && cursor.next_example < n; ++a) {
        group.clear();
        for (size_t i = 0; i < batch && cursor.next_example < n; ++i) {
          group.push_back(data.train[order[cursor.next_example++]]);
          tokens_seen += group.back().tokens.size();
        }
        const BatchLoss b = model.accumulate(group);
        update.loss_sum += b.loss_sum;
        update.tokens += b.tokens;
      }
      if (update.tokens > 0) adam.step(values, gradients, 1.0f / static_cast<float>(update.tokens));
      ++cursor.optimizer_steps;
      cursor.tokens_trained += update.tokens;
      result.last_train_loss = update.tokens ? update.loss_sum / static_cast<double>(update.tokens) : 0.0;
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress.step = cursor.optimizer_steps;
      progress.train_loss = result.last_train_loss;
      progress.tokens_per_second = seconds > 0 ? static_cast<double>(tokens_seen) / seconds : 0.0;
      progress.fraction = total_steps > first_step ? static_cast<double>(cursor.optimizer_steps - first_step) /
                                                         static_cast<double>(total_steps - first_step)
                                                   : 1.0;
      if (options.checkpoint_every > 0 && cursor.optimizer_steps % options.checkpoint_every == 0) save(cursor);
      if (callbacks.on_step) callbacks.on_step(progress);
      if (callbacks.should_stop && callbacks.should_stop()) {
        save(cursor);
        result.stopped = true;
        result.steps = cursor.optimizer_steps;
        return result;
      }
    }
    result.final_held_out_loss = held_out_loss(model, data.held_out, options.batch);
    progress.held_out_loss = result.final_held_out_loss;
    if (callbacks.on_epoch) callbacks.on_epoch(progress);
    // An epoch's checkpoint resumes at the next one (after the last: a longer --epochs continues).
    TrainCursor next_epoch = cursor;
    ++next_epoch.epoch;
    next_epoch.next_example = 0;
    save(next_epoch);
  }
  result.steps = cursor.optimizer_steps;
  return result;
}

}  // namespace bantam::train
