// Fuzzes the tokenizers on real vocabs: any bytes (invalid UTF-8 included) through encode, with
// and without parse_special, then decode and the streaming detokenizer; the input's bytes are
// also read as arbitrary token ids. Findings: crashes, exceptions, ids out of range, output that
// is not UTF-8, streaming that disagrees with decode, and plain text that does not round-trip.
//
// The vocabs come from $BANTAM_SHARED_DIR or ../shared (scripts/fuzz.sh runs from the repo root).
// The first input byte picks the vocab and the flags; the rest is the text.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "format/gguf.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"

namespace {

using bantam::StreamingDetokenizer;
using bantam::TokenId;
using bantam::Tokenizer;

// What plain valid text decodes back to.
enum class RoundTrip { kExact, kNfc, kSpm, kNone };

struct Vocab {
  std::unique_ptr<Tokenizer> tokenizer;
  RoundTrip round_trip;
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_tokenizer: %s\n", what);
  std::abort();
}

const std::vector<Vocab>& vocabs() {
  static const std::vector<Vocab> all = [] {
    const char* env = std::getenv("BANTAM_SHARED_DIR");
    const std::filesystem::path shared = env ? env : "../shared";
    std::vector<Vocab> v;
    const std::pair<const char*, RoundTrip> files[] = {
        {"models/vocab/ggml-vocab-llama-spm.gguf", RoundTrip::kSpm},
        {"models/vocab/ggml-vocab-phi-3.gguf", RoundTrip::kSpm},
        {"models/vocab-derived/ggml-vocab-llama-bpe.gguf", RoundTrip::kExact},
        {"models/vocab-derived/ggml-vocab-qwen2.gguf", RoundTrip::kNfc},
        {"models/vocab/ggml-vocab-deepseek-llm.gguf", RoundTrip::kExact},
        {"models/vocab/ggml-vocab-bert-bge.gguf", RoundTrip::kNone},  // WordPiece is lossy
    };
    for (const auto& [file, round_trip] : files) {
      const auto path = shared / file;
      if (!std::filesystem::exists(path)) {
        std::fprintf(stderr, "fuzz_tokenizer: %s not found (set BANTAM_SHARED_DIR)\n",
                     path.c_str());
        std::abort();
      }
      v.push_back({Tokenizer::from_gguf(bantam::gguf::File::open(path.string())), round_trip});
    }
    return v;
  }();
  return all;
}

// Streams `ids`, checking every chunk, and returns the text.
std::string stream(const Tokenizer& tok, const std::vector<TokenId>& ids, bool skip_special) {
  StreamingDetokenizer detok(tok, skip_special);
  std::string all;
  for (const TokenId id : ids) {
    const std::string chunk = detok.push(id);
    if (!bantam::unicode::is_valid_utf8(chunk)) fail("stream emitted invalid UTF-8");
    all += chunk;
  }
  const std::string rest = detok.flush();
  if (!bantam::unicode::is_valid_utf8(rest)) fail("flush emitted invalid UTF-8");
  return all + rest;
}

// decode() and streaming must agree: the same pieces, decode() minus SPM's leading space.
void check_decoding(const Tokenizer& tok, const std::vector<TokenId>& ids) {
  for (const bool skip : {false, true}) {
    const std::string decoded = tok.decode(ids, skip);
    if (!bantam::unicode::is_valid_utf8(decoded)) fail("decode gave invalid UTF-8");
    std::string pieces;
    for (const TokenId id : ids) {
      if (!(skip && tok.is_skipped_when_decoding(id))) pieces += tok.token_bytes(id);
    }
    if (stream(tok, ids, skip) != bantam::unicode::sanitize_utf8(pieces)) {
      fail("streaming differs from the concatenated pieces");
    }
    if (!skip) {
      if (tok.add_space_prefix() && !ids.empty() && tok.token_bytes(ids[0]).starts_with(' ')) {
        pieces.erase(0, 1);
      }
      if (decoded != bantam::unicode::sanitize_utf8(pieces)) fail("decode differs from the pieces");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& all = vocabs();
  const uint8_t control = data[0];
  const Vocab& vocab = all[control % all.size()];
  const Tokenizer& tok = *vocab.tokenizer;
  const bool parse_special = (control & 0x40) != 0;
  const bool add_special = (control & 0x80) != 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  const auto ids = tok.encode(text, add_special, parse_special);
  for (const TokenId id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= tok.vocab_size()) fail("id out of range");
  }
  check_decoding(tok, ids);

  // Plain valid text comes back as it went in (SPM turns U+2581 into a space; Qwen2 gives NFC).
  // Not across SPM user-defined tokens: a space is prepended after them (and Phi-3 strips the
  // whitespace that follows its </s>), as in llama.cpp.
  const bool spm = vocab.round_trip == RoundTrip::kSpm;
  const bool spm_special = spm && std::any_of(ids.begin(), ids.end(), [&](TokenId id) {
                             return tok.token_type(id) == Tokenizer::kUserDefined;
                           });
  if (vocab.round_trip != RoundTrip::kNone && !parse_special && !add_special && !spm_special &&
      bantam::unicode::is_valid_utf8(text)) {
    std::string expected = vocab.round_trip == RoundTrip::kNfc ? bantam::unicode::nfc(text) : text;
    if (spm) expected = bantam::unicode::replace_all(expected, "\xE2\x96\x81", " ");
    if (tok.decode(ids, false) != expected) fail("plain text does not round-trip");
  }

  // The same bytes as arbitrary ids.
  std::vector<TokenId> random_ids;
  for (size_t i = 1; i + 2 < size; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    random_ids.push_back(static_cast<TokenId>(v % tok.vocab_size()));
  }
  check_decoding(tok, random_ids);
  return 0;
}
