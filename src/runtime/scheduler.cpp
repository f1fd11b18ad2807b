#include "runtime/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "runtime/batch_decode.hpp"
#include "runtime/context_shift.hpp"
#include "runtime/speculative.hpp"
#include "runtime/token_filter.hpp"

namespace bantam {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

// ---- Job ----

void Job::push(GeneratedToken event) {
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
  cv_.notify_all();
}

void Job::finish(StopReason reason, std::string error) {
  std::lock_guard lock(mutex_);
  finished_at_ = Clock::now();
  finish_ = reason;
  error_ = std::move(error);
  done_ = true;
  cv_.notify_all();
}

bool Job::wait(std::vector<GeneratedToken>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, timeout, [this] { return done_ || !events_.empty(); });
  while (!events_.empty()) {
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  return done_;
}

std::optional<double> Job::ttft_ms() const {
  if (completion_tokens_ == 0) return std::nullopt;
  return std::chrono::duration<double, std::milli>(first_token_at_ - submitted_at_).count();
}

std::optional<double> Job::decode_tokens_per_s() const {
  const double seconds = seconds_between(first_token_at_, finished_at_);
  if (completion_tokens_ < 2 || seconds <= 0) return std::nullopt;
  return static_cast<double>(completion_tokens_ - 1) / seconds;
}

// ---- Scheduler ----

struct Scheduler::Engine {
  BatchDecoder decoder;
  TokenFilter filter;
  Engine(std::shared_ptr<const Model> model, const SchedulerOptions& o)
      : decoder(model, o.slots, o.context, o.threads, std::max(o.max_batch, o.slots), o.kv_types), filter(*model) {}
};

struct Scheduler::Slot {
  int index = 0;
  std::shared_ptr<Job> job;
  JobRequest request;
  Clock::time_point arrival, admitted, last_token;
  size_t prefilled = 0;   // prompt tokens in the cache
  bool decoding = false;  // the prompt is in; generation->next() waits to be evaluated
  bool processing = false;  // job is set (written under the scheduler's mutex, for slots_processing())
  std::optional<Generation> generation;
  std::string cache_lora_key;  // adapters the slot's cached tokens were computed with
  uint64_t last_used = 0;
  std::unique_ptr<DraftModel> draft_model;  // the draft model's cache of this slot's sequence
  std::optional<DraftController> draft_controller;  // whether drafts pay here, learnt across requests
  std::optional<Speculator> speculator;  // the current request's
  Clock::time_point pass_start;  // when the current speculative pass began drafting
  bool busy() const { return job != nullptr; }
};

struct Scheduler::EmbedTask {
  explicit EmbedTask(std::vector<std::vector<TokenId>> inputs) : run(std::move(inputs)) {}
  EmbeddingRun run;  // used by the scheduler thread alone; the rest under mutex_
  bool cancelled = false;
  std::string error;
  bool done = false;
};

Scheduler::Scheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options,
                     SchedulerObserver& observer)
    : model_(std::move(model)), options_(options), observer_(observer),
      engine_(std::make_unique<Engine>(model_, options)) {
  for (int i = 0; i < options_.slots; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    Slot& slot = *slots_.back();
    slot.index = i;
    if (options_.speculative.draft) {
      slot.draft_model = std::make_unique<DraftModel>(*model_, options_.speculative.draft, options_.context,
                                                      engine_->decoder.max_batch(), options_.kv_types);
    }
    if (options_.speculative.enabled()) slot.draft_controller.emplace(options_.speculative);
  }
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    quit_ = true;
    for (auto& p : queue_) p.job->cancel();
    for (auto& slot : slots_) {
      if (slot->job) slot->job->cancel();
    }
  }
  wake_.notify_all();
  thread_.join();
}

std::shared_ptr<Job> Scheduler::submit(JobRequest request) {
  auto job = std::make_shared<Job>();
  job->prompt_tokens_ = static_cast<int64_t>(request.prompt.size());
  job->submitted_at_ = Clock::now();
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) throw QueueFull("the server is shutting down");
    const int free_slots = options_.slots - active_;
    if (static_cast<int>(queue_.size()) >= options_.max_queue + std::max(0, free_slots)) {
      throw QueueFull(fmt::format("the request queue is full ({} waiting)", queue_.size()));
    }
    queue_.push_back(Pending{job, std::move(request), Clock::now()});
  }
  wake_.notify_all();
  return job;
}

std::optional<std::vector<std::vector<float>>> Scheduler::embed(std::vector<std::vector<TokenId>> inputs,
                                                                 const std::function<bool()>& abandoned) {
  auto task = std::make_shared<EmbedTask>(std::move(inputs));
  std::unique_lock lock(mutex_);
  if (!accepting_) throw QueueFull("the server is shutting down");
  if (static_cast<int>(embeds_.size()) >= options_.max_queue) throw QueueFull("the embedding queue is full");
  embeds_.push_back(task);
  wake_.notify_all();
  while (!idle_.wait_for(lock, std::chrono::milliseconds(50), [&] { return task->done; })) {
    if (task->cancelled || !abandoned) continue;
    lock.unlock();
    const bool gone = abandoned();
    lock.lock();
    if (gone) {
      task->cancelled = true;
      wake_.notify_all();
    }
  }
  if (!task->error.empty()) throw Error(task->error);
  if (task->cancelled) return std::nullopt;
  return task->run.take_results();
}

void Scheduler::drain(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  accepting_ = false;
  const auto busy = [this] { return active_ > 0 || !queue_.empty() || !embeds_.empty(); };
  if (!idle_.wait_until(lock, deadline, [&] { return !busy(); })) {
    for (auto& p : queue_) p.job->cancel();
    for (auto& slot : slots_) {
      if (slot->job) slot->job->cancel();
    }
    for (auto& task : embeds_) {
      task->error = "the server is shutting down";
      task->cancelled = true;
    }
    wake_.notify_all();
    idle_.wait(lock, [&] { return !busy(); });
  }
}

SchedulerGauges Scheduler::gauges() const {
  std::lock_guard lock(mutex_);
  SchedulerGauges g;
  g.queue_depth = static_cast<int>(queue_.size());
  g.active_slots = active_;
  g.slots = options_.slots;
  g.kv_used_tokens = kv_used_;
  g.kv_capacity_tokens = options_.context * options_.slots;
  g.kv_bytes = BatchDecoder::kv_bytes_per_slot(*model_, options_.context, engine_->decoder.max_batch(), options_.kv_types) *
               static_cast<size_t>(options_.slots);
  return g;
}

std::vector<bool> Scheduler::slots_processing() const {
  std::lock_guard lock(mutex_);
  std::vector<bool> processing;
  for (const auto& slot : slots_) processing.push_back(slot->processing);
  return processing;
}

double Scheduler::expected_wait_ms() const {
  std::lock_guard lock(mutex_);
  if (active_ < options_.slots && queue_.empty()) return 0;
  const double ahead = static_cast<double>(queue_.size()) + 1.0;
  return ahead * mean_occupancy_ms_ / static_cast<double>(options_.slots);
}

// Queued requests take free slots, preferring the slot whose cache shares the longest prefix,
// then the one idle longest.
void Scheduler::admit_locked() {
  static uint64_t use_counter = 0;
  while (!queue_.empty() && active_ < options_.slots) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    if (p.job->cancelled()) {
      p.job->finish(StopReason::Cancelled);
      continue;
    }
    Slot* best = nullptr;
    int64_t best_prefix = -1;
    for (auto& slot : slots_) {
      if (slot->busy()) continue;
      const int64_t prefix = slot->cache_lora_key == p.request.lora_key
                                 ? engine_->decoder.reusable_prefix(slot->index, p.request.prompt)
                                 : 0;
      if (prefix > best_prefix || (prefix == best_prefix && slot->last_used < best->last_used)) {
        best = slot.get();
        best_prefix = prefix;
      }
    }
    Slot& s = *best;
    s.job = p.job;
    s.processing = true;
    s.request = std::move(p.request);
    s.arrival = p.arrival;
    s.admitted = Clock::now();
    s.last_used = ++use_counter;
    // A cache computed with other adapters holds nothing this request can use.
    const bool same_adapters = s.cache_lora_key == s.request.lora_key;
    s.prefilled = static_cast<size_t>(engine_->decoder.keep_prefix(
        s.index, same_adapters ? std::span<const TokenId>(s.request.prompt) : std::span<const TokenId>()));
    s.cache_lora_key = s.request.lora_key;
    s.job->reused_tokens_ = static_cast<int64_t>(s.prefilled);
    s.decoding = false;
    if (options_.context_shift) s.request.generation.context_shift = true;
    s.generation.emplace(*model_, &engine_->filter, s.request.generation, s.request.prompt, options_.context);
    s.speculator.reset();
    if (s.draft_controller) {
      s.speculator.emplace(options_.speculative, s.draft_model.get(), *s.draft_controller,
                           s.generation->spec().sampling);
    }
    ++active_;
  }
}

void Scheduler::loop() {
  // Time share: while chat runs, the next embedding piece waits until decode steps have had as
  // long as the last piece took, so neither kind of request starves the other.
  Clock::duration piece_time{}, chat_time{};
  for (;;) {
    std::shared_ptr<EmbedTask> embedding;
    bool chatting = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] {
        return quit_ || !embeds_.empty() || active_ > 0 || (!queue_.empty() && active_ < options_.slots);
      });
      if (quit_ && active_ == 0) {
        for (auto& p : queue_) p.job->finish(StopReason::Cancelled);
        queue_.clear();
        for (auto& task : embeds_) {
          task->error = "the server is shutting down";
          task->done = true;
        }
        embeds_.clear();
        idle_.notify_all();
        return;
      }
      admit_locked();
      // Abandoned embeddings leave before they cost another piece.
      while (!embeds_.empty() && embeds_.front()->cancelled) {
        embeds_.front()->done = true;
        embeds_.pop_front();
        idle_.notify_all();
      }
      if (!embeds_.empty()) embedding = embeds_.front();
      chatting = active_ > 0;
    }
    if (embedding && (!chatting || chat_time >= piece_time)) {
      const auto start = Clock::now();
      run_embedding_piece(embedding);
      piece_time = Clock::now() - start;
      chat_time = {};
    }
    const auto start = Clock::now();
    run_step();
    chat_time += Clock::now() - start;
    std::lock_guard lock(mutex_);
    int64_t used = 0;
    for (auto& slot : slots_) used += static_cast<int64_t>(engine_->decoder.tokens(slot->index).size());
    kv_used_ = used;
    idle_.notify_all();
  }
}

void Scheduler::run_embedding_piece(const std::shared_ptr<EmbedTask>& task) {
  std::string error;
  try {
    observer_.embedding_tokens_evaluated(engine_->decoder.embed_piece(task->run));
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::lock_guard lock(mutex_);
  embeds_.pop_front();  // the task itself: only this thread removes tasks
  if (error.empty() && !task->run.done() && !task->cancelled) {
    embeds_.push_back(task);
    return;
  }
  if (!error.empty()) task->error = std::move(error);
  task->done = true;
  idle_.notify_all();
}

void Scheduler::run_step() {
  for (auto& slot : slots_) {
    if (slot->busy() && slot->job->cancelled()) {
      slot->generation->stop(StopReason::Cancelled);
      finish_slot(*slot);
    }
  }
  // Every decoding slot brings its sampled token (and its drafts); prompts fill the rest of the batch.
  std::vector<Slot*> decoding;
  for (auto& slot : slots_) {
    if (slot->busy() && slot->decoding && make_room(*slot)) decoding.push_back(slot.get());
  }
  std::vector<BatchSegment> segments;
  std::vector<Slot*> owners;
  std::vector<std::vector<TokenId>> inputs(slots_.size());
  std::vector<Draft> drafts(slots_.size());
  int budget = engine_->decoder.max_batch() - static_cast<int>(decoding.size());  // left for drafts
  for (Slot* slot : decoding) {
    const auto i = static_cast<size_t>(slot->index);
    inputs[i].assign(1, slot->generation->next());
    if (slot->speculator) {
      slot->pass_start = Clock::now();
      std::vector<TokenId> sequence = engine_->decoder.tokens(slot->index);
      sequence.push_back(inputs[i].front());
      const int64_t room = std::min<int64_t>(options_.context - static_cast<int64_t>(sequence.size()), budget);
      drafts[i] = slot->speculator->draft(sequence, static_cast<int>(std::max<int64_t>(0, room)),
                                          engine_->decoder.pool());
      inputs[i].insert(inputs[i].end(), drafts[i].tokens.begin(), drafts[i].tokens.end());
      budget -= static_cast<int>(drafts[i].tokens.size());
    }
    segments.push_back({slot->index, inputs[i], slot->request.lora.get(), !drafts[i].tokens.empty()});
    owners.push_back(slot);
  }
  for (auto& slot : slots_) {
    if (!slot->busy() || slot->decoding || budget <= 0) continue;
    const auto& prompt = slot->request.prompt;
    const size_t n = std::min(prompt.size() - slot->prefilled, static_cast<size_t>(budget));
    segments.push_back(
        {slot->index, std::span<const TokenId>(prompt).subspan(slot->prefilled, n), slot->request.lora.get()});
    owners.push_back(slot.get());
    budget -= static_cast<int>(n);
  }
  if (segments.empty()) return;
  std::vector<float> logits;
  try {
    engine_->decoder.step(segments, logits);
  } catch (const std::exception& e) {
    for (Slot* slot : owners) {
      slot->generation->stop(StopReason::Error, e.what());
      finish_slot(*slot);
    }
    return;
  }
  const size_t n_vocab = static_cast<size_t>(model_->impl().config.n_vocab);
  size_t row = 0;  // the segment's first row of logits
  for (size_t i = 0; i < owners.size(); ++i) {
    Slot& slot = *owners[i];
    const size_t rows = segments[i].all_logits ? segments[i].tokens.size() : 1;
    const auto slot_logits = std::span<const float>(logits).subspan(row * n_vocab, rows * n_vocab);
    row += rows;
    if (!slot.decoding) {
      slot.prefilled += segments[i].tokens.size();
      observer_.prompt_tokens_evaluated(static_cast<int64_t>(segments[i].tokens.size()));
      if (slot.prefilled < slot.request.prompt.size()) continue;
      slot.decoding = true;
    }
    sample_slot(slot, slot_logits, drafts[static_cast<size_t>(slot.index)]);
  }
}

// A decoding slot whose cache is full is shifted when its request allows it; otherwise (or when
// nothing can be dropped) it ends with ContextFull. False when the slot ended.
bool Scheduler::make_room(Slot& slot) {
  if (static_cast<int64_t>(engine_->decoder.tokens(slot.index).size()) < options_.context) return true;
  const GenerationSpec& spec = slot.generation->spec();
  if (spec.context_shift) {
    const Tokenizer* tokenizer = model_->impl().tokenizer.get();
    const int64_t keep = tokens_to_keep(spec.keep, slot.request.prompt, tokenizer ? tokenizer->bos() : -1);
    if (engine_->decoder.shift_context(slot.index, keep) > 0) return true;
  }
  slot.generation->stop(StopReason::ContextFull);
  finish_slot(slot);
  return false;
}

// As Session does: a draft is kept when the sampler, given its position's logits and the same
// state, keeps it (step_with_draft); the first one it replaces ends the pass, and the slot's
// sequence drops the positions after it (their cache rows are rewritten later).
void Scheduler::sample_slot(Slot& slot, std::span<const float> logits, const Draft& draft) {
  Generation& generation = *slot.generation;
  const size_t n_vocab = static_cast<size_t>(model_->impl().config.n_vocab);
  size_t accepted = 0;
  int emitted = 0;
  for (size_t i = 0; i <= draft.tokens.size(); ++i) {
    const bool first = generation.generated().empty();
    const auto row = logits.subspan(i * n_vocab, n_vocab);
    std::optional<GeneratedToken> token = i < draft.tokens.size()
                                              ? generation.step_with_draft(row, draft.tokens[i], draft.distribution(i))
                                              : generation.step(row);
    const auto now = Clock::now();
    if (first) slot.job->first_token_at_ = now;
    observer_.token_sampled(first, seconds_between(first ? slot.arrival : slot.last_token, now));
    slot.last_token = now;
    if (!token) break;
    ++emitted;
    const bool kept_draft = i < draft.tokens.size() && token->id == draft.tokens[i];
    slot.job->completion_tokens_ = static_cast<int64_t>(generation.generated().size());
    slot.job->push(std::move(*token));
    if (!kept_draft) break;
    ++accepted;  // draft i was right: its keys and values in the cache stay
    if (generation.finished()) break;
  }
  if (!draft.tokens.empty()) {
    const size_t evaluated = engine_->decoder.tokens(slot.index).size();
    engine_->decoder.truncate(slot.index, evaluated - draft.tokens.size() + accepted);
    const auto drafted = static_cast<int64_t>(draft.tokens.size());
    slot.job->drafted_tokens_ += drafted;
    slot.job->accepted_tokens_ += static_cast<int64_t>(accepted);
    observer_.drafts_verified(drafted, static_cast<int64_t>(accepted));
  }
  if (slot.speculator && emitted > 0 && slot.pass_start != Clock::time_point{}) {
    slot.speculator->record(static_cast<int>(draft.tokens.size()), static_cast<int>(accepted), emitted,
                            seconds_between(slot.pass_start, Clock::now()));
  }
  slot.pass_start = {};
  if (generation.finished()) finish_slot(slot);
}

void Scheduler::finish_slot(Slot& slot) {
  Generation& generation = *slot.generation;
  // Text held back (an unfinished character, a possible stop-string start) is final now.
  std::string tail = generation.flush();
  if (!tail.empty()) slot.job->push(GeneratedToken{std::move(tail), -1, 0.0f, 0.0f, {}});
  // The slot counts as free before the client hears the end, so its next request finds room.
  {
    std::lock_guard lock(mutex_);
    --active_;
    slot.processing = false;
    const double held_ms = std::chrono::duration<double, std::milli>(Clock::now() - slot.admitted).count();
    mean_occupancy_ms_ = mean_occupancy_ms_ == 0 ? held_ms : 0.8 * mean_occupancy_ms_ + 0.2 * held_ms;
  }
  slot.job->finish(generation.reason(), generation.error());
  slot.job.reset();
  slot.decoding = false;
}

}  // namespace bantam
