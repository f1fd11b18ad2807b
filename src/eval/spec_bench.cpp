#include "eval/spec_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "eval/bench.hpp"

namespace bantam {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const size_t n = xs.size();
  return n == 0 ? 0.0 : n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

std::vector<TokenId> random_ids(int n, int n_vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int> dist(0, std::max(0, n_vocab - 1));
  std::vector<TokenId> ids(static_cast<size_t>(n));
  for (TokenId& id : ids) id = dist(rng);
  return ids;
}

}  // namespace

ordered_json run_verify_cost(const VerifyCostOptions& o) {
  const auto model = Model::load(o.model);
  const int n_vocab = model->info().n_vocab;
  const int64_t passes_tokens = static_cast<int64_t>(o.repetitions) * o.max_k * (o.max_k + 1) / 2;
  Session session(model, {.context_length = o.context_tokens + passes_tokens + 1 + o.max_k, .threads = o.threads});
  std::mt19937 rng(42);
  session.evaluate_last(random_ids(o.context_tokens, n_vocab, rng));
  session.evaluate(random_ids(o.max_k, n_vocab, rng));  // warm-up: scratch buffers at their largest
  // Every k in each repetition, so that the slowly growing context weighs on all k alike.
  std::vector<std::vector<double>> seconds(static_cast<size_t>(o.max_k));
  for (int r = 0; r < o.repetitions; ++r) {
    for (int k = 1; k <= o.max_k; ++k) {
      const auto ids = random_ids(k, n_vocab, rng);
      const auto start = Clock::now();
      session.evaluate(ids);  // every position's logits, as verification needs
      seconds[static_cast<size_t>(k - 1)].push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
  }
  ordered_json rows = ordered_json::array();
  const double one = median(seconds.front());
  for (int k = 1; k <= o.max_k; ++k) {
    const double s = median(seconds[static_cast<size_t>(k - 1)]);
    rows.push_back({{"model_filename", o.model},
                    {"model_name", model->info().name},
                    {"cpu_info", cpu_model_name()},
                    {"n_threads", o.threads},
                    {"k", k},
                    {"seconds", s},
                    {"relative_to_one_token", s / one}});
  }
  return rows;
}

ordered_json run_spec_bench(const SpecBenchOptions& o) {
  const auto model = Model::load(o.model);
  const std::vector<TokenId> prompt = model->tokenize(o.prompt);
  const SessionOptions plain_options{.context_length = static_cast<int64_t>(prompt.size()) + o.n_gen + 1,
                                     .threads = o.threads};
  SessionOptions spec_options = plain_options;
  spec_options.speculative = o.speculative;
  GenerateOptions greedy;
  greedy.max_tokens = o.n_gen;
  greedy.sampling.temperature = 0.0f;
  Session(model, plain_options).generate(prompt, greedy);  // warm-up: the model's pages
  std::vector<double> plain_rate, spec_rate;
  int64_t drafted = 0, accepted = 0, passes = 0, generated = 0;
  bool same_tokens = true;
  for (int r = 0; r < o.repetitions; ++r) {
    // Fresh sessions on both sides: each pays its cache's and buffers' first touch alike.
    Session plain(model, plain_options);
    const GenerateResult base = plain.generate(prompt, greedy);
    plain_rate.push_back(static_cast<double>(base.tokens.size()) / base.generation_seconds);
    // A fresh session each time: the draft model's prompt is part of the cost.
    Session speculative(model, spec_options);
    const GenerateResult fast = speculative.generate(prompt, greedy);
    spec_rate.push_back(static_cast<double>(fast.tokens.size()) / fast.generation_seconds);
    same_tokens = same_tokens && fast.tokens == base.tokens;
    drafted += fast.drafted_tokens;
    accepted += fast.accepted_tokens;
    passes += fast.forward_passes;
    generated += static_cast<int64_t>(fast.tokens.size());
  }
  const double plain_tps = median(plain_rate), spec_tps = median(spec_rate);
  ordered_json row;
  row["model_filename"] = o.model;
  row["draft_filename"] = o.speculative.draft ? o.speculative.draft->info().name : "";
  row["lookup"] = o.speculative.lookup;
  row["draft_max"] = o.speculative.draft_max;
  row["adaptive"] = o.speculative.adaptive;
  row["cpu_info"] = cpu_model_name();
  row["n_threads"] = o.threads;
  row["n_prompt"] = prompt.size();
  row["n_gen"] = o.n_gen;
  row["plain_tokens_per_second"] = plain_tps;
  row["spec_tokens_per_second"] = spec_tps;
  row["speedup"] = plain_tps > 0 ? spec_tps / plain_tps : 0.0;
  row["drafted_tokens"] = drafted;
  row["accepted_tokens"] = accepted;
  row["acceptance_rate"] = drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0;
  row["tokens_per_pass"] = passes > 0 ? static_cast<double>(generated) / static_cast<double>(passes) : 0.0;
  row["same_tokens"] = same_tokens;
  return row;
}

std::string format_verify_cost(const ordered_json& rows) {
  std::string out = "| model | threads | k | ms per pass | x one token |\n|---|---:|---:|---:|---:|\n";
  for (const auto& row : rows) {
    out += fmt::format("| {} | {} | {} | {:.2f} | {:.2f} |\n", row["model_name"].get<std::string>(),
                       row["n_threads"].get<int>(), row["k"].get<int>(), row["seconds"].get<double>() * 1000,
                       row["relative_to_one_token"].get<double>());
  }
  return out;
}

std::string format_spec_bench(const ordered_json& row) {
  return fmt::format(
      "plain {:.1f} tok/s | speculative {:.1f} tok/s ({:.2f}x) | acceptance {:.0f}% of {} drafted | "
      "{:.2f} tokens per pass | same tokens: {}\n",
      row["plain_tokens_per_second"].get<double>(), row["spec_tokens_per_second"].get<double>(),
      row["speedup"].get<double>(), 100 * row["acceptance_rate"].get<double>(), row["drafted_tokens"].get<int64_t>(),
      row["tokens_per_pass"].get<double>(), row["same_tokens"].get<bool>() ? "yes" : "no");
}

}  // namespace bantam
