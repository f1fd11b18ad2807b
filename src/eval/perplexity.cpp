#include "eval/perplexity.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "format/input_file.hpp"

namespace bantam {
namespace {

constexpr char kLogitsMagic[8] = {'B', 'N', 'T', 'L', 'O', 'G', 'P', '1'};

// What the base model said about one scored position: its top-k log-probabilities, the
// log-probability of the true next token, and its argmax.
struct SavedPosition {
  std::vector<std::pair<int32_t, float>> top;  // (token, log-prob), most likely first
  float true_logprob = 0;
};

std::vector<float> log_softmax(const float* logits, int n) {
  const float max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i] - max));
  const float lse = max + static_cast<float>(std::log(sum));
  std::vector<float> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[i] = logits[i] - lse;
  return out;
}

SavedPosition summarize(const std::vector<float>& logprobs, int32_t next, int top_k) {
  SavedPosition s;
  std::vector<int32_t> ids(logprobs.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  const size_t k = std::min<size_t>(static_cast<size_t>(top_k), ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                    [&](int32_t a, int32_t b) { return logprobs[a] > logprobs[b]; });
  for (size_t i = 0; i < k; ++i) s.top.emplace_back(ids[i], logprobs[ids[i]]);
  s.true_logprob = logprobs[next];
  return s;
}

// KL(base || model) over the base's top-k tokens plus one bucket for the rest of the mass.
double kl_divergence(const SavedPosition& base, const std::vector<float>& model_logprobs) {
  double kl = 0, base_mass = 0, model_mass = 0;
  for (const auto& [id, lp] : base.top) {
    const double p = std::exp(static_cast<double>(lp));
    kl += p * (lp - model_logprobs[id]);
    base_mass += p;
    model_mass += std::exp(static_cast<double>(model_logprobs[id]));
  }
  const double base_rest = std::max(0.0, 1 - base_mass), model_rest = std::max(1e-30, 1 - model_mass);
  if (base_rest > 1e-12) kl += base_rest * std::log(base_rest / model_rest);
  return std::max(0.0, kl);
}

class LogitsWriter {
 public:
  LogitsWriter(const std::string& path, int64_t ctx, int top_k) : path_(path), out_(path, std::ios::binary) {
    if (!out_) throw Error(fmt::format("{}: cannot create", path));
    out_.write(kLogitsMagic, sizeof(kLogitsMagic));
    put<int64_t>(ctx);
    put<int32_t>(top_k);
  }
  void add(const SavedPosition& s) {
    put<float>(s.true_logprob);
    put<int32_t>(static_cast<int32_t>(s.top.size()));
    for (const auto& [id, lp] : s.top) {
      put<int32_t>(id);
      put<float>(lp);
    }
  }
  void close() {
    out_.close();
    if (!out_) throw Error(fmt::format("{}: write failed", path_));
  }

 private:
  template <class T>
  void put(T v) {
    out_.write(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  std::string path_;
  std::ofstream out_;
};

class LogitsReader {
 public:
  LogitsReader(const std::string& path, int64_t ctx) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw Error(fmt::format("{}: cannot open", path));
    char magic[8];
    in_.read(magic, sizeof(magic));
    if (!in_ || std::memcmp(magic, kLogitsMagic, sizeof(magic)) != 0) {
      throw Error(fmt::format("{}: not a bantam --save-logits file", path));
    }
    const auto saved_ctx = get<int64_t>();
    get<int32_t>();
    if (saved_ctx != ctx) {
      throw Error(fmt::format("{}: saved with context {}, this run uses {}", path, saved_ctx, ctx));
    }
  }
  SavedPosition next() {
    SavedPosition s;
    s.true_logprob = get<float>();
    const auto k = get<int32_t>();
    if (k < 0 || k > 1 << 20) throw Error(fmt::format("{}: corrupt record", path_));
    for (int32_t i = 0; i < k; ++i) {
      const auto id = get<int32_t>();
      s.top.emplace_back(id, get<float>());
    }
    return s;
  }

 private:
  template <class T>
  T get() {
    T v;
    in_.read(reinterpret_cast<char*>(&v), sizeof(T));
    if (!in_) throw Error(fmt::format("{}: ends early (saved from a different text or model?)", path_));
    return v;
  }
  std::string path_;
  std::ifstream in_;
};

double percentile(std::vector<double> xs, double q) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const size_t i = std::min(xs.size() - 1, static_cast<size_t>(q * static_cast<double>(xs.size() - 1) + 0.5));
  return xs[i];
}

}  // namespace

PerplexityResult compute_perplexity(const PerplexityOptions& o) {
  const std::string text = read_input_file(o.text_file);

  const auto model = Model::load(o.model);
  std::vector<TokenId> tokens = model->tokenize(text, true, false);
  const TokenId bos = tokens.empty() ? -1 : model->tokenize("", true, false).empty() ? -1 : tokens[0];
  const int64_t ctx = o.context;
  if (ctx < 4) throw Error(fmt::format("context {} is too small for perplexity", ctx));
  if (static_cast<int64_t>(tokens.size()) < 2 * ctx) {
    throw Error(fmt::format("{}: {} tokens; need at least 2 x context = {}", o.text_file, tokens.size(),
                            2 * ctx));
  }
  int n_chunks = static_cast<int>(static_cast<int64_t>(tokens.size()) / ctx);
  if (o.max_chunks >= 0) n_chunks = std::min(n_chunks, o.max_chunks);

  std::vector<AdapterUse> adapters;
  for (const auto& [path, scale] : o.adapters) adapters.push_back({Adapter::load(path, *model), scale});
  Session session(model, {.context_length = ctx,
                          .threads = o.threads,
                          .batch_size = o.batch_size > 0 ? o.batch_size : static_cast<int>(ctx),
                          .adapters = std::move(adapters)});
  std::optional<LogitsWriter> writer;
  std::optional<LogitsReader> reader;
  if (!o.save_logits.empty()) writer.emplace(o.save_logits, ctx, o.saved_top_k);
  if (!o.kl_base.empty()) reader.emplace(o.kl_base, ctx);

  PerplexityResult r;
  r.ctx = ctx;
  r.tokens = static_cast<int64_t>(tokens.size());
  r.chunks = n_chunks;
  double nll = 0, nll2 = 0, base_nll = 0;
  std::vector<double> kls;
  int64_t agree = 0;
  const int64_t first = ctx / 2;
  const int n_vocab = model->info().n_vocab;
  for (int c = 0; c < n_chunks; ++c) {
    std::vector<TokenId> chunk(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx);
    if (bos >= 0) chunk[0] = bos;
    session.reset();
    const std::vector<float> logits = session.evaluate(chunk);
    for (int64_t j = first; j < ctx - 1; ++j) {
      const TokenId next = tokens[static_cast<size_t>(c * ctx + j + 1)];
      const auto lp = log_softmax(logits.data() + j * n_vocab, n_vocab);
      const double l = -static_cast<double>(lp[next]);
      nll += l;
      nll2 += l * l;
      ++r.scored;
      if (writer) writer->add(summarize(lp, next, o.saved_top_k));
      if (reader) {
        const SavedPosition base = reader->next();
        kls.push_back(kl_divergence(base, lp));
        base_nll -= base.true_logprob;
        const auto model_top = std::max_element(lp.begin(), lp.end()) - lp.begin();
        if (!base.top.empty() && base.top[0].first == model_top) ++agree;
      }
    }
    if (o.progress) o.progress(c + 1, n_chunks, std::exp(nll / static_cast<double>(r.scored)));
  }
  if (writer) writer->close();
  const double n = static_cast<double>(r.scored);
  const double mean = nll / n;
  r.ppl = std::exp(mean);
  const double var = nll2 / n - mean * mean;
  r.ppl_stderr = var > 0 && n > 1 ? r.ppl * std::sqrt(var / (n - 1)) : 0;
  if (reader) {
    r.has_kl = true;
    double sum = 0, sum2 = 0;
    for (double k : kls) {
      sum += k;
      sum2 += k * k;
    }
    r.kl_mean = sum / n;
    const double kvar = sum2 / n - r.kl_mean * r.kl_mean;
    r.kl_stderr = kvar > 0 && n > 1 ? std::sqrt(kvar / (n - 1)) : 0;
    r.kl_median = percentile(kls, 0.5);
    r.kl_p90 = percentile(kls, 0.9);
    r.kl_p99 = percentile(kls, 0.99);
    r.kl_max = kls.empty() ? 0 : *std::max_element(kls.begin(), kls.end());
    r.top1_agreement = static_cast<double>(agree) / n;
    r.base_ppl = std::exp(base_nll / n);
    r.delta_ppl = r.ppl - r.base_ppl;
  }
  return r;
}

nlohmann::ordered_json perplexity_to_json(const PerplexityResult& r) {
  nlohmann::ordered_json j = {{"ppl", r.ppl},       {"ppl_stderr", r.ppl_stderr}, {"chunks", r.chunks},
                              {"ctx", r.ctx},       {"tokens", r.tokens},         {"scored", r.scored}};
  if (r.has_kl) {
    j["kl_mean"] = r.kl_mean;
    j["kl_stderr"] = r.kl_stderr;
    j["kl_median"] = r.kl_median;
    j["kl_p90"] = r.kl_p90;
    j["kl_p99"] = r.kl_p99;
    j["kl_max"] = r.kl_max;
    j["top1_agreement"] = r.top1_agreement;
    j["base_ppl"] = r.base_ppl;
    j["delta_ppl"] = r.delta_ppl;
  }
  return j;
}

}  // namespace bantam
