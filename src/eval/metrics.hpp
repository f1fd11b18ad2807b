// Task metrics computed the standard way so numbers compare with published tools:
// exact match (SQuAD normalization), ROUGE-L F1 (rouge-score tokenization), corpus BLEU
// (sacreBLEU: 13a tokenization, exp smoothing) and chrF (sacreBLEU defaults: chrF2).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bantam::metrics {

// Lowercase, drop punctuation and the articles a/an/the, collapse whitespace.
std::string normalize_answer(std::string_view text);
bool exact_match(std::string_view hypothesis, std::string_view reference);

// rouge-score's default tokenizer: lowercase, non-alphanumerics become spaces.
std::vector<std::string> rouge_tokenize(std::string_view text);
double rouge_l_f1(std::string_view hypothesis, std::string_view reference);  // 0..1

// sacreBLEU's 13a tokenizer (mteval-v13a).
std::vector<std::string> tokenize_13a(std::string_view text);

// references[r][i] is reference r of segment i (several reference sets allowed).
double corpus_bleu(const std::vector<std::string>& hypotheses,
                   const std::vector<std::vector<std::string>>& references);  // 0..100
double corpus_chrf(const std::vector<std::string>& hypotheses,
                   const std::vector<std::vector<std::string>>& references);  // 0..100

}  // namespace bantam::metrics
