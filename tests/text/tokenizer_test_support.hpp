// Helpers for the tokenizer tests: loading vocabs once, llama.cpp's test-vector files.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "format/gguf.hpp"
#include "test_support.hpp"
#include "text/tokenizer.hpp"

namespace bantam::test {

// Loads (once per process) the tokenizer of a GGUF file under shared/.
inline const Tokenizer& shared_tokenizer(const std::string& relative) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[relative];
  if (!slot) slot = Tokenizer::from_gguf(gguf::File::open(shared(relative).string()));
  return *slot;
}

struct VocabVector {
  std::string text;
  std::vector<TokenId> ids;
};

// llama.cpp's test-tokenizer-0 format: `<prefix>.inp` holds strings separated by a line
// "__ggml_vocab_test__", `<prefix>.out` one line of ids per string.
inline std::vector<VocabVector> read_vocab_vectors(const std::string& prefix) {
  const std::string inp = read_file(shared(prefix + ".inp"));
  const std::string out = read_file(shared(prefix + ".out"));
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(separator, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + separator.size();
  }
  std::vector<VocabVector> vectors;
  std::istringstream lines(out);
  std::string line;
  for (size_t i = 0; std::getline(lines, line); ++i) {
    VocabVector v;
    v.text = i < texts.size() ? texts[i] : std::string();
    std::istringstream ids(line);
    for (TokenId id; ids >> id;) v.ids.push_back(id);
    vectors.push_back(std::move(v));
  }
  if (vectors.size() != texts.size()) vectors.clear();  // malformed pair: the test reports it
  return vectors;
}

}  // namespace bantam::test
