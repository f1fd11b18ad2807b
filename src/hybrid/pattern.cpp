#include "hybrid/pattern.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hybrid {

Pattern::Pattern(const std::string& regex, const std::string& what, bool caseless) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (caseless ? PCRE2_CASELESS : 0u);
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(), flags, &error, &offset, nullptr);
  if (!code_) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw Error(fmt::format("{} ({}) does not compile at offset {}: {}", what, regex, offset,
                            reinterpret_cast<const char*>(message)));
  }
}

Pattern::~Pattern() { pcre2_code_free(code_); }

std::vector<std::pair<size_t, size_t>> Pattern::all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
  size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start, 0, data, nullptr);
    if (rc < 0) break;  // no match, or a limit hit: stop rather than guess
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    size_t begin = ovector[0], end = ovector[1];
    if (end > begin) out.emplace_back(begin, end);
    start = end > begin ? end : begin + 1;
  }
  pcre2_match_data_free(data);
  return out;
}

bool Pattern::matches(std::string_view text) const {
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
  const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0, data, nullptr);
  pcre2_match_data_free(data);
  return rc >= 0;
}

}  // namespace bantam::hybrid
