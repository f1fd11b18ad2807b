// Memory amplification: a small file must not make loading allocate far more than its size.
// Each case is a copy of stories260K with hostile metadata, run through the CLI, whose peak RSS
// is compared with the same run on the plain copy (a memory bound, not a timing).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "test_support.hpp"

namespace bantam::gguf {
namespace {

constexpr long kMiB = 1024;  // in the KiB of max_rss_kb

// stories260K rewritten with `edit` applied to its metadata.
std::vector<uint8_t> stories_with(const std::function<void(Writer&, const File&)>& edit) {
  const File base = File::open(test::shared("models/weights/stories260K.gguf").string());
  Writer w;
  w.copy_metadata(base);
  for (const auto& t : base.tensors()) w.add_tensor_view(t.name, t.type, t.shape, base.tensor_data(t));
  edit(w, base);
  return w.to_bytes();
}

// Writes `bytes` with `extra` bytes of `fill` inserted at `at`, a chunk at a time: the child's
// peak RSS counts this process's own peak (the child starts as its copy), so it stays small.
std::string save(const std::string& name, const std::vector<uint8_t>& bytes, size_t at = 0,
                 uint64_t extra = 0, char fill = 0) {
  const auto path = test::temp_dir() / name;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(at));
  const std::string chunk(1 << 20, fill);
  for (uint64_t left = extra; left > 0; left -= std::min<uint64_t>(left, chunk.size())) {
    out.write(chunk.data(), static_cast<std::streamsize>(std::min<uint64_t>(left, chunk.size())));
  }
  out.write(reinterpret_cast<const char*>(bytes.data() + at), static_cast<std::streamsize>(bytes.size() - at));
  EXPECT_TRUE(out.good());
  return path.string();
}

// Grows the u64 length or count at `field` by `extra`; extra bytes are then inserted after the
// field's value (`value_bytes` long). The extra must be a multiple of the alignment so that the
// tensors behind stay aligned.
size_t grow_field(std::vector<uint8_t>& bytes, size_t field, uint64_t expected, uint64_t extra,
                  size_t value_bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data() + field, 8);
  EXPECT_EQ(n, expected);
  n += extra;
  std::memcpy(bytes.data() + field, &n, 8);
  return field + 8 + value_bytes;
}

// One token from a text prompt, so that the tokenizer is built and used.
test::RunResult generate_one(const std::string& path) {
  return test::run_cli({"run", "-m", path, "-p", "Once upon", "-n", "1", "--temp", "0", "-t", "1"});
}

long baseline_rss_kb() {
  static const long rss = [] {
    const auto r = generate_one(save("plain.gguf", stories_with([](Writer&, const File&) {})));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.max_rss_kb;
  }();
  return rss;
}

// A u8 metadata array of 48 Mi elements (48 MiB on disk) used to cost ~50 bytes per element.
TEST(GgufMemory, HugeMetadataArrayIsReadInPlace) {
  constexpr uint64_t kExtra = 48ull << 20;  // a multiple of the alignment: tensors stay aligned
  auto bytes = stories_with([](Writer& w, const File&) { w.set("test.big", Value::array(ValueType::UINT8, {Value::u8(7)})); });
  // The key, type ARRAY, element type u8, then the count and the one element.
  const std::string key = "test.big";
  const auto key_at = std::search(bytes.begin(), bytes.end(), key.begin(), key.end()) - bytes.begin();
  const size_t at = grow_field(bytes, static_cast<size_t>(key_at) + key.size() + 8, 1, kExtra, 1);
  const auto path = save("big-array.gguf", bytes, at, kExtra, 1);

  const File f = File::open(path);
  ASSERT_EQ(f.get_array("test.big")->size(), kExtra + 1);
  EXPECT_EQ((*f.get_array("test.big"))[kExtra].as_uint(), 1u);

  const auto r = generate_one(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(r.max_rss_kb, baseline_rss_kb() + 16 * kMiB) << "baseline " << baseline_rss_kb() << " KiB";
  const auto inspected = test::run_cli({"inspect", path, "--json"});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_NE(inspected.out.find("\"length\": 50331649"), std::string::npos);
  EXPECT_LT(inspected.max_rss_kb, baseline_rss_kb() + 16 * kMiB);
}

std::vector<Value> tokens_of(const File& base) {
  const ArrayView& stored = *base.get_array("tokenizer.ggml.tokens");
  return {stored.begin(), stored.end()};
}

// Token 0 of 32 MiB built a special-token trie of ~100 bytes per byte: it is refused by id.
TEST(GgufMemory, OverlongTokenIsRefusedWithItsId) {
  constexpr uint64_t kExtra = 32u << 20;
  auto bytes = stories_with([](Writer& w, const File& base) {
    auto tokens = tokens_of(base);
    tokens[0] = Value::string("\x01\x02\x03");  // found below, then grown in place
    w.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, tokens));
  });
  const std::string text = "\x01\x02\x03";
  const auto text_at = std::search(bytes.begin(), bytes.end(), text.begin(), text.end()) - bytes.begin();
  const size_t at = grow_field(bytes, static_cast<size_t>(text_at) - 8, 3, kExtra, 3);
  const auto path = save("long-token.gguf", bytes, at, kExtra, 'x');
  const auto r = generate_one(path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(path + ": tokenizer.ggml.tokens token 0 is 33554435 bytes long (at most 1024)"),
            std::string::npos)
      << r.err;
  EXPECT_LT(r.max_rss_kb, baseline_rss_kb() + 64 * kMiB);
}

// Every token a control token of the longest allowed text: what loading builds from them stays
// a small multiple of their bytes (the trie used to take ~100 bytes per byte).
TEST(GgufMemory, LongSpecialTokensCostASmallMultipleOfTheirSize) {
  size_t text_bytes = 0;
  const auto bytes = stories_with([&text_bytes](Writer& w, const File& base) {
    auto tokens = tokens_of(base);
    std::mt19937 random(7);
    for (auto& token : tokens) {
      std::string text(1024, ' ');
      for (char& c : text) c = static_cast<char>('a' + random() % 26);
      text_bytes += text.size();
      token = Value::string(text);
    }
    w.set("tokenizer.ggml.tokens", Value::array(ValueType::STRING, tokens));
    w.set("tokenizer.ggml.token_type", Value::array(ValueType::INT32, std::vector<Value>(tokens.size(), Value::i32(3))));
  });
  const auto path = save("long-specials.gguf", bytes);
  const auto r = generate_one(path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(r.max_rss_kb, baseline_rss_kb() + 16 * static_cast<long>(text_bytes / 1024))
      << "baseline " << baseline_rss_kb() << " KiB, " << text_bytes << " bytes of token text";
}

}  // namespace
}  // namespace bantam::gguf
