// The C API end to end: load, tokenize, generate with a callback, errors as messages.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.h"
#include "test_support.hpp"

namespace {

int collect(void* user, int32_t, const char* text, size_t len, float logprob) {
  static_cast<std::string*>(user)->append(text, len);
  return logprob <= 0.0f ? 1 : 0;
}

TEST(CApi, GeneratesText) {
  bantam_model* model = bantam_model_load(bantam::test::shared("models/weights/stories260K.gguf").c_str());
  ASSERT_NE(model, nullptr) << bantam_last_error();
  EXPECT_EQ(bantam_model_n_vocab(model), 512);
  int32_t ids[16];
  const int32_t n = bantam_tokenize(model, "Once upon a time", 1, ids, 16);
  ASSERT_GT(n, 1);
  bantam_session_params session_params = bantam_session_default_params();
  session_params.context_length = 256;
  session_params.threads = 1;
  bantam_session* session = bantam_session_new(model, &session_params);
  bantam_model_free(model);  // the session keeps it alive
  ASSERT_NE(session, nullptr) << bantam_last_error();
  bantam_generate_params params = bantam_generate_default_params();
  params.max_tokens = 12;
  params.temperature = 0;
  std::string text;
  EXPECT_EQ(bantam_generate(session, ids, n, &params, collect, &text), 12);
  EXPECT_EQ(text.rfind(", there was a little girl", 0), 0u) << text;
  bantam_session_free(session);
}

int collect_ids(void* user, int32_t id, const char*, size_t, float) {
  if (id >= 0) static_cast<std::vector<int32_t>*>(user)->push_back(id);
  return 1;
}

// Adapters through the C API reproduce llama.cpp's greedy continuations with them (ref/lora.json).
TEST(CApi, AdaptersReproduceLlamaCppContinuations) {
  std::ifstream in(bantam::test::shared("ref/lora.json"));
  int checked = 0;
  for (const auto& row : nlohmann::json::parse(in)) {
    if (row["model"] != "stories260K.gguf") continue;
    bantam_model* model = bantam_model_load(bantam::test::shared("models/weights/stories260K.gguf").c_str());
    ASSERT_NE(model, nullptr) << bantam_last_error();
    const std::string path = bantam::test::shared("models/adapters/" + row["lora"].get<std::string>()).string();
    bantam_adapter* adapter = bantam_adapter_load(model, path.c_str());
    ASSERT_NE(adapter, nullptr) << bantam_last_error();
    const float scale = row["lora_scale"];
    bantam_session_params session_params = bantam_session_default_params();
    session_params.context_length = 512;
    session_params.threads = 1;
    bantam_session* session = bantam_session_new_with_adapters(model, &session_params, &adapter, &scale, 1);
    bantam_adapter_free(adapter);  // the session keeps it
    bantam_model_free(model);
    ASSERT_NE(session, nullptr) << bantam_last_error();
    const std::vector<int32_t> prompt = row["prompt_ids"];
    const std::vector<int32_t> want = row["greedy_ids"];
    bantam_generate_params params = bantam_generate_default_params();
    params.max_tokens = static_cast<int32_t>(want.size());
    params.temperature = 0;
    std::vector<int32_t> got;
    EXPECT_EQ(bantam_generate(session, prompt.data(), static_cast<int32_t>(prompt.size()), &params, collect_ids, &got),
              params.max_tokens);
    EXPECT_EQ(got, want) << row["lora"] << " " << row["prompt_name"];
    bantam_session_free(session);
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

TEST(CApi, AdapterForAnotherModelIsRefusedWithItsName) {
  bantam_model* model = bantam_model_load(bantam::test::shared("models/weights/stories260K.gguf").c_str());
  ASSERT_NE(model, nullptr) << bantam_last_error();
  const std::string path = bantam::test::shared("models/adapters/synth-qwen2-lora-qkvu-r8-f16.gguf").string();
  EXPECT_EQ(bantam_adapter_load(model, path.c_str()), nullptr);
  EXPECT_NE(std::string(bantam_last_error()).find("synth-qwen2-lora-qkvu-r8-f16.gguf"), std::string::npos)
      << bantam_last_error();
  const bantam_adapter* none = nullptr;
  EXPECT_EQ(bantam_session_new_with_adapters(model, nullptr, &none, nullptr, 1), nullptr);
  EXPECT_NE(std::string(bantam_last_error()).find("NULL"), std::string::npos);
  bantam_model_free(model);
}

TEST(CApi, ErrorsBecomeMessages) {
  EXPECT_EQ(bantam_model_load("/nonexistent/model.gguf"), nullptr);
  EXPECT_NE(std::string(bantam_last_error()).find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
