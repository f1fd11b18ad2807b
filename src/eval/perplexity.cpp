#include "eval/perplexity.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "eval/kl_base_file.hpp"
#include "format/input_file.hpp"

namespace bantam {
namespace {

// -log p(next), the softmax's sum in double.
double negative_log_likelihood(const float* logits, int n_vocab, TokenId next) {
  const double max = *std::max_element(logits, logits + n_vocab);
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(logits[i] - max);
  return max + std::log(sum) - logits[next];
}

double percentile(std::vector<double> xs, double q) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  const size_t i = std::min(xs.size() - 1, static_cast<size_t>(q * static_cast<double>(xs.size() - 1) + 0.5));
  return xs[i];
}

}  // namespace

PerplexityResult compute_perplexity(const PerplexityOptions& o) {
  const auto model = Model::load(o.model);
  const int n_vocab = model->info().n_vocab;
  std::optional<KlBaseReader> base;
  std::vector<TokenId> tokens;
  int64_t ctx = o.context;
  int n_chunks = 0;
  if (o.kl_divergence) {
    if (o.kl_divergence_base.empty()) throw Error("--kl-divergence needs --kl-divergence-base FILE to compare with");
    base.emplace(o.kl_divergence_base);
    if (base->n_vocab() != n_vocab) {
      throw Error(fmt::format("{}: saved over a {}-token vocabulary, {} has {}", o.kl_divergence_base,
                              base->n_vocab(), o.model, n_vocab));
    }
    ctx = base->n_ctx();  // the base decides the chunking, as llama-perplexity does
    tokens = base->tokens();
    n_chunks = base->n_chunk();
    if (o.max_chunks >= 0) n_chunks = std::min(n_chunks, o.max_chunks);
  } else {
    tokens = model->tokenize(read_input_file(o.text_file), true, false);
    if (ctx < 4) throw Error(fmt::format("context {} is too small for perplexity", ctx));
    if (static_cast<int64_t>(tokens.size()) < 2 * ctx) {
      throw Error(fmt::format("{}: {} tokens; need at least 2 x context = {}", o.text_file, tokens.size(),
                              2 * ctx));
    }
    n_chunks = static_cast<int>(static_cast<int64_t>(tokens.size()) / ctx);
    if (o.max_chunks >= 0) n_chunks = std::min(n_chunks, o.max_chunks);
  }
  const std::vector<TokenId> bos_probe = model->tokenize("", true, false);
  const TokenId bos = bos_probe.empty() ? -1 : bos_probe[0];

  std::vector<AdapterUse> adapters;
  for (const auto& [path, scale] : o.adapters) adapters.push_back({Adapter::load(path, *model), scale});
  Session session(model, {.context_length = ctx,
                          .threads = o.threads,
                          .kv_type = o.kv_types.keys,
                          .kv_type_v = o.kv_types.values,
                          .batch_size = o.batch_size > 0 ? o.batch_size : static_cast<int>(ctx),
                          .adapters = std::move(adapters)});
  std::optional<KlBaseWriter> writer;
  if (!o.kl_divergence && !o.kl_divergence_base.empty()) {
    writer.emplace(o.kl_divergence_base, static_cast<uint32_t>(ctx), n_vocab, n_chunks,
                   std::vector<int32_t>(tokens.begin(), tokens.begin() + n_chunks * ctx));
  }

  PerplexityResult r;
  r.ctx = ctx;
  r.tokens = static_cast<int64_t>(tokens.size());
  r.chunks = n_chunks;
  double nll = 0, nll2 = 0, base_nll = 0;
  std::vector<double> kls;
  int64_t agree = 0;
  const int64_t first = ctx / 2;
  for (int c = 0; c < n_chunks; ++c) {
    std::vector<TokenId> chunk(tokens.begin() + c * ctx, tokens.begin() + (c + 1) * ctx);
    if (bos >= 0) chunk[0] = bos;
    session.reset();
    const std::vector<float> logits = session.evaluate(chunk);
    for (int64_t j = first; j < ctx - 1; ++j) {
      const TokenId next = tokens[static_cast<size_t>(c * ctx + j + 1)];
      const float* row = logits.data() + j * n_vocab;
      double l = 0;
      if (base) {
        const KlPosition k = compare_with_base(base->next(), row, n_vocab, next);
        l = k.nll;
        kls.push_back(k.kl);
        base_nll += k.nll_base;
        agree += k.same_top;
      } else {
        l = negative_log_likelihood(row, n_vocab, next);
        if (writer) writer->add(KlBaseRow::from_logits(row, n_vocab));
      }
      nll += l;
      nll2 += l * l;
      ++r.scored;
    }
    if (o.progress) o.progress(c + 1, n_chunks, std::exp(nll / static_cast<double>(r.scored)));
  }
  if (writer) writer->close();
  const double n = static_cast<double>(r.scored);
  const double mean = nll / n;
  r.ppl = std::exp(mean);
  const double var = nll2 / n - mean * mean;
  r.ppl_stderr = var > 0 && n > 1 ? r.ppl * std::sqrt(var / (n - 1)) : 0;
  if (base) {
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
