#include "serve/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "api/model_impl.hpp"
#include "runtime/batch_decode.hpp"
#include "runtime/json_token_filter.hpp"
#include "runtime/sampler.hpp"
#include "runtime/stop_strings.hpp"
#include "text/tokenizer.hpp"

namespace bantam::serve {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The k most likely tokens under softmax(logits), with their log-probabilities.
std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int k) {
  std::vector<TokenLogprob> top;
  if (k <= 0) return top;
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - max_logit);
  const double log_sum = std::log(sum) + max_logit;
  std::vector<TokenId> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<TokenId>(i);
  const size_t n = std::min(ids.size(), static_cast<size_t>(k));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(),
                    [&](TokenId a, TokenId b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  for (size_t i = 0; i < n; ++i) top.push_back({ids[i], static_cast<float>(logits[ids[i]] - log_sum)});
  return top;
}

}  // namespace

// ---- Job ----

void Job::push(JobEvent event) {
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
  cv_.notify_all();
}

void Job::finish(FinishReason reason, std::string error) {
  std::lock_guard lock(mutex_);
  finished_at_ = Clock::now();
  finish_ = reason;
  error_ = std::move(error);
  done_ = true;
  cv_.notify_all();
}

bool Job::wait(std::vector<JobEvent>& out, std::chrono::milliseconds timeout) {
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
  JsonTokenFilter filter;
  const Tokenizer& tokenizer;
  Engine(std::shared_ptr<const Model> model, const SchedulerOptions& o)
      : decoder(model, o.slots, o.context, o.threads, std::max(o.max_batch, o.slots)), filter(*model),
        tokenizer(model->impl().text()) {}
};

struct Scheduler::Slot {
  int index = 0;
  std::shared_ptr<Job> job;
  JobRequest request;
  Clock::time_point arrival, admitted, last_token;
  size_t prefilled = 0;  // prompt tokens in the cache
  TokenId pending = -1;  // sampled, not yet evaluated
  std::optional<Sampler> sampler;
  std::optional<StreamingDetokenizer> detokenizer;
  std::optional<StopStringFilter> stops;
  std::optional<JsonMatcher> matcher;
  std::vector<TokenId> generated;
  std::string cache_lora_key;  // adapters the slot's cached tokens were computed with
  uint64_t last_used = 0;
  bool busy() const { return job != nullptr; }
};

struct Scheduler::EmbedTask {
  explicit EmbedTask(std::vector<std::vector<TokenId>> inputs) : run(std::move(inputs)) {}
  EmbeddingRun run;  // used by the scheduler thread alone; the rest under mutex_
  bool cancelled = false;
  std::string error;
  bool done = false;
};

Scheduler::Scheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options, Metrics& metrics)
    : model_(std::move(model)), options_(options), metrics_(metrics),
      engine_(std::make_unique<Engine>(model_, options)) {
  for (int i = 0; i < options_.slots; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->index = i;
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

GaugeValues Scheduler::gauges() const {
  std::lock_guard lock(mutex_);
  GaugeValues g;
  g.queue_depth = static_cast<int>(queue_.size());
  g.active_slots = active_;
  g.slots = options_.slots;
  g.kv_used_tokens = kv_used_;
  g.kv_capacity_tokens = options_.context * options_.slots;
  g.kv_bytes = BatchDecoder::kv_bytes_per_slot(*model_, options_.context, engine_->decoder.max_batch()) *
               static_cast<size_t>(options_.slots);
  return g;
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
      p.job->finish(FinishReason::Cancelled);
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
    s.pending = -1;
    s.generated.clear();
    s.sampler.emplace(s.request.sampling);
    s.detokenizer.emplace(engine_->tokenizer, true);
    s.stops.emplace(s.request.stop);
    if (s.request.grammar) {
      s.matcher.emplace(s.request.grammar);
    } else {
      s.matcher.reset();
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
        for (auto& p : queue_) p.job->finish(FinishReason::Cancelled);
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
    metrics_.add_embedding_tokens(engine_->decoder.embed_piece(task->run));
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
    if (slot->busy() && slot->job->cancelled()) finish_slot(*slot, FinishReason::Cancelled);
  }
  // Every decoding slot brings its sampled token; prompts fill the rest of the batch.
  std::vector<BatchSegment> segments;
  std::vector<Slot*> owners;
  int budget = engine_->decoder.max_batch();
  for (auto& slot : slots_) {
    if (slot->busy() && slot->pending >= 0) {
      segments.push_back({slot->index, std::span<const TokenId>(&slot->pending, 1), slot->request.lora.get()});
      owners.push_back(slot.get());
      --budget;
    }
  }
  for (auto& slot : slots_) {
    if (!slot->busy() || slot->pending >= 0 || budget <= 0) continue;
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
    for (Slot* slot : owners) finish_slot(*slot, FinishReason::Error, e.what());
    return;
  }
  const size_t n_vocab = static_cast<size_t>(model_->impl().config.n_vocab);
  for (size_t i = 0; i < owners.size(); ++i) {
    Slot& slot = *owners[i];
    if (slot.pending < 0) {
      slot.prefilled += segments[i].tokens.size();
      metrics_.add_tokens(static_cast<int64_t>(segments[i].tokens.size()), 0);
      if (slot.prefilled < slot.request.prompt.size()) continue;
    }
    sample_slot(slot, std::span<const float>(logits).subspan(i * n_vocab, n_vocab));
  }
}

void Scheduler::sample_slot(Slot& slot, std::span<const float> model_logits) {
  const JobRequest& r = slot.request;
  std::vector<float> logits(model_logits.begin(), model_logits.end());
  for (const auto& [id, bias] : r.logit_bias) {
    if (id >= 0 && static_cast<size_t>(id) < logits.size()) logits[static_cast<size_t>(id)] += bias;
  }
  if (slot.matcher && engine_->filter.mask(*slot.matcher, logits) == 0) {
    return finish_slot(slot, FinishReason::Error, "no token of the vocabulary can continue the constrained output");
  }
  SampledToken sampled = slot.sampler->sample(logits, slot.generated);
  TokenId id = sampled.id;
  if (!std::isfinite(logits[static_cast<size_t>(id)])) {
    id = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    sampled = score_token(logits, id);
  }
  const auto now = Clock::now();
  if (slot.generated.empty()) {
    slot.job->first_token_at_ = now;
    metrics_.time_to_first_token.observe(seconds_between(slot.arrival, now));
  } else {
    metrics_.time_per_output_token.observe(seconds_between(slot.last_token, now));
  }
  slot.last_token = now;
  if (model_->is_end_of_generation(id)) return finish_slot(slot, FinishReason::Stop);

  slot.generated.push_back(id);
  slot.job->completion_tokens_ = static_cast<int64_t>(slot.generated.size());
  metrics_.add_tokens(0, 1);
  if (slot.matcher) slot.matcher->feed(engine_->filter.bytes(id));
  JobEvent event;
  event.id = id;
  event.text = slot.stops->push(slot.detokenizer->push(id));
  event.logprob = sampled.logprob;
  event.entropy = sampled.entropy;
  if (r.top_logprobs >= 0) {
    event.logprob = score_token(model_logits, id).logprob;
    event.top = top_logprobs(model_logits, r.top_logprobs);
  }
  slot.job->push(std::move(event));

  if (slot.stops->stopped()) return finish_slot(slot, FinishReason::Stop);
  if (slot.matcher && slot.matcher->complete() && !slot.matcher->can_continue()) {
    return finish_slot(slot, FinishReason::Stop);
  }
  if (r.max_tokens >= 0 && static_cast<int>(slot.generated.size()) >= r.max_tokens) {
    return finish_slot(slot, FinishReason::Length);
  }
  if (static_cast<int64_t>(engine_->decoder.tokens(slot.index).size()) >= options_.context) {
    return finish_slot(slot, FinishReason::Length);
  }
  slot.pending = id;
}

void Scheduler::finish_slot(Slot& slot, FinishReason reason, std::string error) {
  if (reason != FinishReason::Error && reason != FinishReason::Cancelled) {
    // Text held back (an unfinished character, a possible stop-string start) is final now.
    if (!slot.stops->stopped()) {
      std::string tail = slot.stops->push(slot.detokenizer->flush());
      if (!slot.stops->stopped()) tail += slot.stops->flush();
      if (slot.stops->stopped()) reason = FinishReason::Stop;
      if (!tail.empty()) slot.job->push(JobEvent{tail, -1, 0.0f, 0.0f, {}});
    }
  }
  // The slot counts as free before the client hears the end, so its next request finds room.
  {
    std::lock_guard lock(mutex_);
    --active_;
    const double held_ms = std::chrono::duration<double, std::milli>(Clock::now() - slot.admitted).count();
    mean_occupancy_ms_ = mean_occupancy_ms_ == 0 ? held_ms : 0.8 * mean_occupancy_ms_ + 0.2 * held_ms;
  }
  slot.job->finish(reason, std::move(error));
  slot.job.reset();
  slot.pending = -1;
}

}  // namespace bantam::serve
