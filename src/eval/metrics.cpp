#include "eval/metrics.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <map>
#include <regex>
#include <sstream>

#include "bantam/error.hpp"

namespace bantam::metrics {
namespace {

std::vector<std::string> split_whitespace(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

void check_shapes(size_t n_hyp, const std::vector<std::vector<std::string>>& references) {
  if (references.empty()) throw Error("metrics: no references");
  for (const auto& refs : references) {
    if (refs.size() != n_hyp) {
      throw Error("metrics: a reference set has " + std::to_string(refs.size()) +
                  " segments for " + std::to_string(n_hyp) + " hypotheses");
    }
  }
}

using NgramCounts = std::map<std::vector<std::string>, int>;

NgramCounts ngrams(const std::vector<std::string>& tokens, size_t n) {
  NgramCounts counts;
  for (size_t i = 0; i + n <= tokens.size(); ++i) {
    ++counts[std::vector<std::string>(tokens.begin() + static_cast<std::ptrdiff_t>(i),
                                      tokens.begin() + static_cast<std::ptrdiff_t>(i + n))];
  }
  return counts;
}

// Character n-gram statistics of chrF: per order n, {hypothesis, reference, matching} counts.
constexpr int kCharOrder = 6;
constexpr double kBeta = 2.0;
using ChrfStats = std::array<double, 3 * kCharOrder>;

std::map<std::string, int> char_ngrams(const std::string& s, size_t n) {
  std::map<std::string, int> counts;
  // Operate on code points so multi-byte characters count once.
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  starts.push_back(s.size());
  for (size_t i = 0; i + n < starts.size(); ++i) ++counts[s.substr(starts[i], starts[i + n] - starts[i])];
  return counts;
}

std::string without_whitespace(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

ChrfStats chrf_stats(const std::string& hyp, const std::string& ref) {
  ChrfStats stats{};
  for (int n = 1; n <= kCharOrder; ++n) {
    const auto h = char_ngrams(hyp, static_cast<size_t>(n));
    const auto r = char_ngrams(ref, static_cast<size_t>(n));
    double nh = 0, nr = 0, match = 0;
    for (const auto& [g, c] : h) {
      nh += c;
      if (auto it = r.find(g); it != r.end()) match += std::min(c, it->second);
    }
    for (const auto& [g, c] : r) nr += c;
    stats[3 * (n - 1)] = nh;
    stats[3 * (n - 1) + 1] = nr;
    stats[3 * (n - 1) + 2] = match;
  }
  return stats;
}

// F-beta of the precision and recall averaged over the orders that have n-grams.
double chrf_score(const ChrfStats& s) {
  double avg_prec = 0, avg_rec = 0;
  int effective = 0;
  for (int n = 0; n < kCharOrder; ++n) {
    const double nh = s[3 * n], nr = s[3 * n + 1], match = s[3 * n + 2];
    if (nh > 0 && nr > 0) {
      avg_prec += match / nh;
      avg_rec += match / nr;
      ++effective;
    }
  }
  if (effective == 0) return 0;
  avg_prec /= effective;
  avg_rec /= effective;
  const double f = kBeta * kBeta;
  if (avg_prec + avg_rec == 0) return 0;
  return 100 * (1 + f) * avg_prec * avg_rec / (f * avg_prec + avg_rec);
}

}  // namespace

std::string normalize_answer(std::string_view text) {
  std::string lowered;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::ispunct(u)) continue;
    lowered += static_cast<char>(std::tolower(u));
  }
  std::string out;
  for (const auto& w : split_whitespace(lowered)) {
    if (w == "a" || w == "an" || w == "the") continue;
    out += (out.empty() ? "" : " ") + w;
  }
  return out;
}

bool exact_match(std::string_view hypothesis, std::string_view reference) {
  return normalize_answer(hypothesis) == normalize_answer(reference);
}

std::vector<std::string> rouge_tokenize(std::string_view text) {
  std::string cleaned;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    cleaned += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : ' ';
  }
  return split_whitespace(cleaned);
}

double rouge_l_f1(std::string_view hypothesis, std::string_view reference) {
  const auto h = rouge_tokenize(hypothesis), r = rouge_tokenize(reference);
  if (h.empty() || r.empty()) return 0;
  std::vector<size_t> prev(r.size() + 1, 0), cur(r.size() + 1, 0);
  for (size_t i = 1; i <= h.size(); ++i) {
    for (size_t j = 1; j <= r.size(); ++j) {
      cur[j] = h[i - 1] == r[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    }
    std::swap(prev, cur);
  }
  const double lcs = static_cast<double>(prev[r.size()]);
  if (lcs == 0) return 0;
  const double p = lcs / static_cast<double>(h.size()), rc = lcs / static_cast<double>(r.size());
  return 2 * p * rc / (p + rc);
}

std::vector<std::string> tokenize_13a(std::string_view text) {
  std::string line(text);
  line = replace_all(line, "<skipped>", "");
  line = replace_all(line, "-\n", "");
  line = replace_all(line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    line = replace_all(line, "&quot;", "\"");
    line = replace_all(line, "&amp;", "&");
    line = replace_all(line, "&lt;", "<");
    line = replace_all(line, "&gt;", ">");
  }
  static const std::regex kPunct(R"(([\{-\~\[-\` -\&\(-\+\:-\@\/]))");
  static const std::regex kPeriodCommaUnlessPrecededByDigit(R"(([^0-9])([\.,]))");
  static const std::regex kPeriodCommaUnlessFollowedByDigit(R"(([\.,])([^0-9]))");
  static const std::regex kDashPrecededByDigit(R"(([0-9])(-))");
  line = " " + line + " ";
  line = std::regex_replace(line, kPunct, " $1 ");
  line = std::regex_replace(line, kPeriodCommaUnlessPrecededByDigit, "$1 $2 ");
  line = std::regex_replace(line, kPeriodCommaUnlessFollowedByDigit, " $1 $2");
  line = std::regex_replace(line, kDashPrecededByDigit, "$1 $2 ");
  return split_whitespace(line);
}

double corpus_bleu(const std::vector<std::string>& hypotheses,
                   const std::vector<std::vector<std::string>>& references) {
  check_shapes(hypotheses.size(), references);
  constexpr size_t kOrder = 4;
  std::array<double, kOrder> correct{}, total{};
  double hyp_len = 0, ref_len = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    const auto hyp = tokenize_13a(hypotheses[i]);
    hyp_len += static_cast<double>(hyp.size());
    // Closest reference length (ties: the shorter), and n-gram counts clipped by the max over refs.
    size_t best_len = 0;
    long best_diff = -1;
    std::vector<NgramCounts> max_ref(kOrder);
    for (const auto& ref_set : references) {
      const auto ref = tokenize_13a(ref_set[i]);
      const long diff = std::labs(static_cast<long>(ref.size()) - static_cast<long>(hyp.size()));
      if (best_diff < 0 || diff < best_diff || (diff == best_diff && ref.size() < best_len)) {
        best_diff = diff;
        best_len = ref.size();
      }
      for (size_t n = 1; n <= kOrder; ++n) {
        for (const auto& [g, c] : ngrams(ref, n)) max_ref[n - 1][g] = std::max(max_ref[n - 1][g], c);
      }
    }
    ref_len += static_cast<double>(best_len);
    for (size_t n = 1; n <= kOrder; ++n) {
      for (const auto& [g, c] : ngrams(hyp, n)) {
        total[n - 1] += c;
        if (auto it = max_ref[n - 1].find(g); it != max_ref[n - 1].end()) {
          correct[n - 1] += std::min(c, it->second);
        }
      }
    }
  }
  if (hyp_len == 0) return 0;
  double log_sum = 0, smooth = 1;
  for (size_t n = 0; n < kOrder; ++n) {
    if (total[n] == 0) return 0;
    double precision;
    if (correct[n] == 0) {  // sacreBLEU's default 'exp' smoothing
      smooth *= 2;
      precision = 1.0 / (smooth * total[n]);
    } else {
      precision = correct[n] / total[n];
    }
    log_sum += std::log(precision);
  }
  const double bp = hyp_len < ref_len ? std::exp(1 - ref_len / hyp_len) : 1.0;
  return 100 * bp * std::exp(log_sum / kOrder);
}

double corpus_chrf(const std::vector<std::string>& hypotheses,
                   const std::vector<std::vector<std::string>>& references) {
  check_shapes(hypotheses.size(), references);
  ChrfStats totals{};
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    const std::string hyp = without_whitespace(hypotheses[i]);
    ChrfStats best{};
    double best_score = -1;
    for (const auto& ref_set : references) {
      const ChrfStats s = chrf_stats(hyp, without_whitespace(ref_set[i]));
      const double score = chrf_score(s);
      if (score > best_score) {
        best_score = score;
        best = s;
      }
    }
    for (size_t k = 0; k < totals.size(); ++k) totals[k] += best[k];
  }
  return chrf_score(totals);
}

}  // namespace bantam::metrics
