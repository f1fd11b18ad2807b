// A corpus of malformed GGUF files generated here: every one must be refused with an Error that
// names the file and byte offset, never a crash, hang or huge allocation.
#include <gtest/gtest.h>

#include <cstring>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "format/inspect.hpp"
#include "test_support.hpp"

namespace bantam::gguf {
namespace {

using Bytes = std::vector<uint8_t>;

// A small valid file: a few keys of mixed types and two tensors.
Bytes valid_file() {
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("llama.block_count", Value::u32(1));
  w.set("tokenizer.ggml.tokens",
        Value::array(ValueType::STRING, {Value::string("a"), Value::string("bc")}));
  w.set("nested", Value::array(ValueType::ARRAY, {Value::array(ValueType::INT16, {Value::i16(3)})}));
  w.add_tensor("t0", GgmlType::F32, {8, 2}, Bytes(64, 1));
  w.add_tensor("t1", GgmlType::Q8_0, {32}, Bytes(34, 2));
  return w.to_bytes();
}

std::string parse_error(const Bytes& bytes) {
  try {
    File::parse(bytes, "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_refused(const Bytes& bytes, const std::string& needle) {
  const std::string msg = parse_error(bytes);
  ASSERT_FALSE(msg.empty()) << "accepted a file that should fail with: " << needle;
  EXPECT_NE(msg.find("bad.gguf: at byte "), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
}

// Offsets of the fields of valid_file(), found by walking its layout.
struct Layout {
  size_t tensor_count = 8, kv_count = 16;
  size_t first_key = 24;  // length prefix of the first key
  size_t first_tensor_info = 0;
};

Layout layout_of(const Bytes& b) {
  Layout l;
  // The tensor infos start right after the last metadata pair; find "t0" with its length prefix.
  const uint8_t needle[] = {2, 0, 0, 0, 0, 0, 0, 0, 't', '0'};
  auto it = std::search(b.begin(), b.end(), std::begin(needle), std::end(needle));
  l.first_tensor_info = static_cast<size_t>(it - b.begin());
  return l;
}

template <class T>
void poke(Bytes& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

TEST(GgufMalformed, ValidBaselineParses) { EXPECT_EQ(parse_error(valid_file()), ""); }

TEST(GgufMalformed, TruncatedAtEveryByteIsRefused) {
  const Bytes full = valid_file();
  const File f = File::parse(full, "full");
  // Every prefix shorter than the end of the last tensor must fail cleanly.
  const size_t needed = f.data_offset() + f.find_tensor("t1")->offset + 34;
  for (size_t len = 0; len < needed; ++len) {
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    const std::string msg = parse_error(cut);
    EXPECT_FALSE(msg.empty()) << "prefix of " << len << " bytes accepted";
    EXPECT_NE(msg.find("bad.gguf"), std::string::npos) << msg;
  }
}

TEST(GgufMalformed, HugeCountsAreRefusedWithoutAllocating) {
  Bytes b = valid_file();
  poke<uint64_t>(b, 8, 1ull << 63);
  expect_refused(b, "tensor count 9223372036854775808 cannot fit");
  b = valid_file();
  poke<uint64_t>(b, 16, 1ull << 63);
  expect_refused(b, "metadata count 9223372036854775808 cannot fit");
  b = valid_file();
  poke<uint64_t>(b, 24, 1ull << 63);  // first key's string length
  expect_refused(b, "string length 9223372036854775808 exceeds");
}

TEST(GgufMalformed, HugeArrayCountIsRefused) {
  Writer w;
  w.set("arr", Value::array(ValueType::UINT32, {Value::u32(1)}));
  Bytes b = w.to_bytes();
  // key: 8 + 3 bytes, type 4 bytes, element type 4 bytes, then the count.
  poke<uint64_t>(b, 24 + 8 + 3 + 4 + 4, 1ull << 62);
  expect_refused(b, "array count 4611686018427387904 cannot fit");
}

TEST(GgufMalformed, BadMetadataValueTypeIsRefused) {
  Bytes b = valid_file();
  poke<uint32_t>(b, 24 + 8 + std::strlen("general.architecture"), 13);
  expect_refused(b, "unknown metadata value type 13");
}

TEST(GgufMalformed, BadTensorTypeIsRefused) {
  Bytes b = valid_file();
  const size_t type_at = layout_of(b).first_tensor_info + 10 + 4 + 2 * 8;
  poke<uint32_t>(b, type_at, 4);  // a retired ggml type id
  expect_refused(b, "unknown tensor type 4");
  poke<uint32_t>(b, type_at, 1000);
  expect_refused(b, "unknown tensor type 1000");
}

TEST(GgufMalformed, ZeroAndOverflowingDimsAreRefused) {
  Bytes b = valid_file();
  const size_t dims_at = layout_of(b).first_tensor_info + 10 + 4;
  poke<uint64_t>(b, dims_at, 0);
  expect_refused(b, "is zero or overflows");
  b = valid_file();
  poke<uint64_t>(b, dims_at, 1ull << 40);
  poke<uint64_t>(b, dims_at + 8, 1ull << 40);
  expect_refused(b, "is zero or overflows");
  b = valid_file();
  poke<uint32_t>(b, layout_of(b).first_tensor_info + 10, 5);
  expect_refused(b, "5 dimensions");
}

TEST(GgufMalformed, MisalignedOverlappingAndOutOfFileTensorsAreRefused) {
  const Bytes base = valid_file();
  const size_t t0_offset_at = layout_of(base).first_tensor_info + 10 + 4 + 2 * 8 + 4;
  const size_t t1_offset_at = t0_offset_at + 8 + 10 + 4 + 8 + 4;
  Bytes b = base;
  poke<uint64_t>(b, t0_offset_at, 4);
  expect_refused(b, "is not a multiple of the alignment");
  b = base;
  poke<uint64_t>(b, t1_offset_at, 32);  // t0 spans 0..64
  expect_refused(b, "overlaps");
  b = base;
  poke<uint64_t>(b, t1_offset_at, 1ull << 40);
  expect_refused(b, "extends past the end of the file");
  b = base;
  poke<uint64_t>(b, t1_offset_at, ~0ull - 31);  // aligned, and offset + size would wrap
  expect_refused(b, "extends past the end of the file");
}

TEST(GgufMalformed, RowsNotMultipleOfBlockAreRefused) {
  Bytes b = valid_file();
  // t1 is Q8_0 with 32 elements; make it 33.
  const size_t t1_dim_at = layout_of(b).first_tensor_info + 10 + 4 + 2 * 8 + 4 + 8 + 10 + 4;
  poke<uint64_t>(b, t1_dim_at, 33);
  expect_refused(b, "row of 33 elements is not a multiple of the Q8_0 block size 32");
}

TEST(GgufMalformed, NonUtf8KeysAndNamesAreRefused) {
  Writer w;
  w.set(std::string("bad\xff key"), Value::u8(1));
  expect_refused(w.to_bytes(), "is not valid UTF-8");
  Writer w2;
  w2.set(std::string("overlong\xc0\xaf"), Value::u8(1));
  expect_refused(w2.to_bytes(), "is not valid UTF-8");
  Writer w3;
  w3.add_tensor(std::string("t\xed\xa0\x80"), GgmlType::F32, {1}, Bytes(4));  // a surrogate
  expect_refused(w3.to_bytes(), "name is not valid UTF-8");
}

TEST(GgufMalformed, DuplicatesAreRefused) {
  Bytes b = valid_file();
  // Rename key "llama.block_count" to "general.architecture"'s length-equal sibling is awkward;
  // rename tensor t1 to t0 instead, and duplicate a key by rewriting bytes in place.
  const size_t t1_name_at = layout_of(b).first_tensor_info + 10 + 4 + 2 * 8 + 4 + 8 + 8 + 1;
  b[t1_name_at] = '0';
  expect_refused(b, "duplicate tensor name 't0'");
  Writer w;
  w.set("k1", Value::u8(1));
  w.set("k2", Value::u8(2));
  Bytes d = w.to_bytes();
  const size_t second_key_last_char = 24 + 8 + 2 + 4 + 1 + 8 + 1;
  d[second_key_last_char] = '1';
  expect_refused(d, "duplicate metadata key 'k1'");
}

TEST(GgufMalformed, BadMagicVersionAndAlignmentAreRefused) {
  Bytes b = valid_file();
  b[0] = 'X';
  expect_refused(b, "not a GGUF file");
  b = valid_file();
  poke<uint32_t>(b, 4, 1);
  expect_refused(b, "GGUF version 1");
  b = valid_file();
  poke<uint32_t>(b, 4, 3u << 24);
  expect_refused(b, "big-endian");
  b = valid_file();
  poke<uint32_t>(b, 4, 7);
  expect_refused(b, "unsupported GGUF version 7");
  Writer w;
  w.set("general.alignment", Value::u32(64));
  Bytes odd = w.to_bytes();
  poke<uint32_t>(odd, 24 + 8 + std::strlen("general.alignment") + 4, 48);
  expect_refused(odd, "not a power of two");
  Writer w2;
  w2.set("general.alignment", Value::u32(32));
  Bytes a = w2.to_bytes();
  poke<uint32_t>(a, 24 + 8 + std::strlen("general.alignment"), 5);  // stored as i32 instead
  expect_refused(a, "general.alignment must be u32");
  EXPECT_THROW(w2.set("general.alignment", Value::string("32")), Error);
  const Bytes ggjt = {'t', 'j', 'g', 'g', 3, 0, 0, 0};
  expect_refused(ggjt, "unsupported legacy format");
}

TEST(GgufMalformed, DeepArrayNestingAndBadBoolAreRefused) {
  Value v = Value::array(ValueType::UINT8, {});
  for (int i = 0; i < 12; ++i) v = Value::array(ValueType::ARRAY, {v});
  Writer w;
  w.set("deep", v);
  expect_refused(w.to_bytes(), "nested deeper than");
  Writer w2;
  w2.set("flag", Value::boolean(true));
  Bytes b = w2.to_bytes();
  b[24 + 8 + 4 + 4] = 7;
  expect_refused(b, "bool value 7");
}

// Found by fuzz_gguf: a summary field holding an array of strings that are not UTF-8 made the
// text summary throw a JSON error; such strings are shown with replacement characters.
TEST(GgufMalformed, InspectTextShowsNonUtf8Strings) {
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("llama.attention.key_length", Value::array(ValueType::STRING, {Value::string("\xff\xfe")}));
  const Bytes b = w.to_bytes();
  const File f = File::parse(b, "odd.gguf");
  const std::string text = format_inspect_text(inspect_gguf(f));
  EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos) << text;
}

TEST(GgufMalformed, CliPrintsOneLineAndExitsOne) {
  const auto dir = test::temp_dir();
  Bytes b = valid_file();
  poke<uint64_t>(b, 8, 1ull << 63);
  const auto path = dir / "huge-count.gguf";
  test::write_file(path, std::string(b.begin(), b.end()));
  const auto r = test::run_cli({"inspect", path.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("tensor count"), std::string::npos) << r.err;
  const auto missing = test::run_cli({"inspect", (dir / "nope.gguf").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.gguf: does not exist"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace bantam::gguf
