#include <gtest/gtest.h>

#include <cstring>

#include "bantam/error.hpp"
#include "format/gguf.hpp"
#include "format/gguf_writer.hpp"
#include "test_support.hpp"

namespace bantam::gguf {
namespace {

Writer writer_with_every_value_type() {
  Writer w;
  w.set("general.architecture", Value::string("llama"));
  w.set("t.u8", Value::u8(250));
  w.set("t.i8", Value::i8(-120));
  w.set("t.u16", Value::u16(65000));
  w.set("t.i16", Value::i16(-32000));
  w.set("t.u32", Value::u32(4000000000u));
  w.set("t.i32", Value::i32(-2000000000));
  w.set("t.f32", Value::f32(1.5f));
  w.set("t.bool", Value::boolean(true));
  w.set("t.string", Value::string("héllo ▁world"));
  w.set("t.u64", Value::u64(1ull << 60));
  w.set("t.i64", Value::i64(-(1ll << 60)));
  w.set("t.f64", Value::f64(-2.25e-300));
  w.set("t.array.f32", Value::array(ValueType::FLOAT32, {Value::f32(1), Value::f32(-2)}));
  w.set("t.array.str", Value::array(ValueType::STRING, {Value::string("a"), Value::string("")}));
  w.set("t.array.nested",
        Value::array(ValueType::ARRAY,
                     {Value::array(ValueType::INT32, {Value::i32(1), Value::i32(2)}),
                      Value::array(ValueType::INT32, {})}));
  w.set("t.array.empty", Value::array(ValueType::UINT8, {}));
  return w;
}

TEST(GgufRoundTrip, EveryValueTypeAndTensorBytesSurvive) {
  Writer w = writer_with_every_value_type();
  std::vector<uint8_t> a(4 * 3 * 4);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint8_t> q8(2 * 34, 0x5A);
  w.add_tensor("a", GgmlType::F32, {4, 3}, a);
  w.add_tensor("q", GgmlType::Q8_0, {32, 2}, q8);
  const auto path = test::temp_dir() / "rt.gguf";
  w.write(path);

  const File f = File::open(path);
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.metadata().size(), 17u);
  Writer expected = writer_with_every_value_type();
  // Order and values are preserved exactly.
  size_t i = 0;
  for (const auto& [k, v] : f.metadata()) {
    const Value* orig = f.find(k);
    ASSERT_NE(orig, nullptr);
    EXPECT_EQ(*orig, v) << k;
    ++i;
  }
  EXPECT_EQ(f.find("t.string")->as_string(), "héllo ▁world");
  EXPECT_EQ(f.find("t.u64")->as_uint(), 1ull << 60);
  EXPECT_EQ(f.find("t.i64")->as_int(), -(1ll << 60));
  EXPECT_DOUBLE_EQ(f.find("t.f64")->as_double(), -2.25e-300);
  EXPECT_EQ(f.find("t.array.nested")->as_array()[0].as_array()[1].as_int(), 2);
  EXPECT_EQ(f.find("t.f32")->type(), ValueType::FLOAT32);
  EXPECT_EQ(f.find("t.array.str")->element_type(), ValueType::STRING);

  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo* ta = f.find_tensor("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{4, 3}));
  auto da = f.tensor_data(*ta);
  ASSERT_EQ(da.size(), a.size());
  EXPECT_EQ(0, std::memcmp(da.data(), a.data(), a.size()));
  const TensorInfo* tq = f.find_tensor("q");
  ASSERT_NE(tq, nullptr);
  EXPECT_EQ(tq->type, GgmlType::Q8_0);
  EXPECT_EQ(tq->nbytes, 68u);
  EXPECT_EQ((f.data_offset() + tq->offset) % 32, 0u);

  // Writing what was read gives identical bytes.
  Writer again;
  again.copy_metadata(f);
  for (const auto& t : f.tensors()) again.add_tensor_view(t.name, t.type, t.shape, f.tensor_data(t));
  EXPECT_EQ(again.to_bytes(), w.to_bytes());
}

TEST(GgufRoundTrip, CustomAlignmentIsHonoured) {
  Writer w;
  w.set("general.alignment", Value::u32(64));
  w.add_tensor("x", GgmlType::F16, {3}, std::vector<uint8_t>(6, 1));
  w.add_tensor("y", GgmlType::F16, {5}, std::vector<uint8_t>(10, 2));
  const auto bytes = w.to_bytes();
  const File f = File::parse(bytes, "mem");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.find_tensor("y")->offset % 64, 0u);
  EXPECT_EQ(f.tensor_data(*f.find_tensor("y"))[9], 2);
}

TEST(GgufRoundTrip, WriterRefusesWrongDataSize) {
  Writer w;
  EXPECT_THROW(w.add_tensor("x", GgmlType::Q4_0, {32}, std::vector<uint8_t>(17)), Error);
  EXPECT_THROW(w.add_tensor("x", GgmlType::Q4_0, {31}, std::vector<uint8_t>(18)), Error);
}

TEST(GgufRoundTrip, TypedGettersNameTheKeyOnMismatch) {
  Writer w = writer_with_every_value_type();
  const auto bytes = w.to_bytes();
  const File f = File::parse(bytes, "mem");
  EXPECT_EQ(f.get_uint("t.u32"), 4000000000u);
  EXPECT_FALSE(f.get_uint("absent").has_value());
  try {
    (void)f.get_uint("t.string");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.string"), std::string::npos);
  }
  EXPECT_THROW((void)f.get_uint("t.i8"), Error);  // negative
}

}  // namespace
}  // namespace bantam::gguf
