// The C API's library and model side: versions, loading (path, memory, fd, progress, cancel),
// model info, text, chat prompts, embeddings, and every error path as a status and message.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "bantam/bantam.h"
#include "test_support.hpp"

namespace {

std::string stories() { return bantam::test::shared("models/weights/stories260K.gguf").string(); }
std::string last_error() { return bantam_last_error(); }

// A model freed at the end of the scope.
struct Model {
  bantam_model* handle;
  explicit Model(bantam_model* m) : handle(m) {}
  ~Model() { bantam_model_free(handle); }
};

TEST(CApiLibrary, VersionsAndStatusNames) {
  EXPECT_EQ(bantam_api_version(), BANTAM_API_VERSION);
  EXPECT_NE(std::string(bantam_version()).find("commit"), std::string::npos) << bantam_version();
  EXPECT_STREQ(bantam_status_name(BANTAM_OK), "ok");
  EXPECT_STREQ(bantam_status_name(BANTAM_ERROR_STATE_MISMATCH), "state_mismatch");
  for (int s = BANTAM_ERROR_INTERNAL; s <= BANTAM_OK; ++s) {
    EXPECT_STRNE(bantam_status_name(static_cast<bantam_status>(s)), "unknown") << s;
  }
  bantam_free(nullptr);
}

TEST(CApiModel, PathMemoryAndFdGiveTheSameModel) {
  const Model from_path(bantam_model_load(stories().c_str()));
  ASSERT_NE(from_path.handle, nullptr) << last_error();
  EXPECT_EQ(bantam_last_error_code(), BANTAM_OK);
  EXPECT_EQ(last_error(), "");

  const std::string bytes = bantam::test::read_file(stories());
  const Model from_memory(bantam_model_load_from_memory(bytes.data(), bytes.size(), nullptr));
  ASSERT_NE(from_memory.handle, nullptr) << last_error();

  const int fd = ::open(stories().c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  const Model from_fd(bantam_model_load_from_fd(fd, nullptr));
  ::close(fd);  // the mapping stays
  ASSERT_NE(from_fd.handle, nullptr) << last_error();

  for (const Model* m : {&from_path, &from_memory, &from_fd}) {
    bantam_model_info info{};
    info.struct_size = sizeof info;
    ASSERT_EQ(bantam_model_get_info(m->handle, &info), BANTAM_OK) << last_error();
    EXPECT_STREQ(info.architecture, "llama");
    EXPECT_EQ(info.n_vocab, 512);
    EXPECT_EQ(info.n_embd, 64);
    EXPECT_EQ(info.n_layer, 5);
    EXPECT_EQ(info.context_length, 2048);
    EXPECT_EQ(info.n_params, 292800);  // ../shared/models/MANIFEST.md
    EXPECT_EQ(info.has_chat_template, 0);
    EXPECT_EQ(bantam_model_n_vocab(m->handle), 512);
  }
  // The same weights give the same text.
  int32_t a[8], b[8];
  EXPECT_EQ(bantam_tokenize(from_path.handle, "Once upon", 1, a, 8), bantam_tokenize(from_fd.handle, "Once upon", 1, b, 8));
  EXPECT_EQ(std::vector<int32_t>(a, a + 3), std::vector<int32_t>(b, b + 3));
}

TEST(CApiModel, InfoHonoursAShorterStructSize) {
  const Model model(bantam_model_load(stories().c_str()));
  ASSERT_NE(model.handle, nullptr) << last_error();
  bantam_model_info info{};
  info.struct_size = offsetof(bantam_model_info, n_params);  // an older caller's struct
  info.n_params = -7;
  ASSERT_EQ(bantam_model_get_info(model.handle, &info), BANTAM_OK) << last_error();
  EXPECT_STREQ(info.architecture, "llama");
  EXPECT_EQ(info.n_params, -7);  // past its struct_size: untouched
  info.struct_size = 0;
  EXPECT_EQ(bantam_model_get_info(model.handle, &info), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_model_get_info(model.handle, nullptr), BANTAM_ERROR_INVALID_ARGUMENT);
}

int record_progress(void* user, float fraction) {
  static_cast<std::vector<float>*>(user)->push_back(fraction);
  return 1;
}

int cancel_halfway(void* user, float fraction) {
  static_cast<std::vector<float>*>(user)->push_back(fraction);
  return fraction < 0.5f ? 1 : 0;
}

TEST(CApiModel, ProgressRisesToOneAndCancelStopsTheLoad) {
  std::vector<float> seen;
  bantam_model_params params = bantam_model_default_params();
  params.progress = record_progress;
  params.progress_user_data = &seen;
  const Model model(bantam_model_load_with_params(stories().c_str(), &params));
  ASSERT_NE(model.handle, nullptr) << last_error();
  ASSERT_GT(seen.size(), 3u);
  EXPECT_EQ(seen.front(), 0.0f);
  EXPECT_EQ(seen.back(), 1.0f);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  seen.clear();
  params.progress = cancel_halfway;
  EXPECT_EQ(bantam_model_load_with_params(stories().c_str(), &params), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_CANCELLED);
  EXPECT_NE(last_error().find("cancelled"), std::string::npos) << last_error();
  EXPECT_LT(seen.back(), 1.0f);
}

TEST(CApiModel, LoadErrorsNameTheProblem) {
  EXPECT_EQ(bantam_model_load(nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_model_load("/nonexistent/model.gguf"), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_LOAD);
  EXPECT_NE(last_error().find("/nonexistent/model.gguf"), std::string::npos);

  const std::string garbage = "this is not a GGUF file at all";
  EXPECT_EQ(bantam_model_load_from_memory(garbage.data(), garbage.size(), nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_LOAD);
  EXPECT_NE(last_error().find("not a GGUF file"), std::string::npos) << last_error();
  const std::string bytes = bantam::test::read_file(stories());
  EXPECT_EQ(bantam_model_load_from_memory(bytes.data(), bytes.size() / 2, nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_LOAD);
  EXPECT_EQ(bantam_model_load_from_memory(nullptr, 10, nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_INVALID_ARGUMENT);

  EXPECT_EQ(bantam_model_load_from_fd(-1, nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_INVALID_ARGUMENT);
  const int dir = ::open("/", O_RDONLY);
  EXPECT_EQ(bantam_model_load_from_fd(dir, nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_LOAD);
  EXPECT_NE(last_error().find("not a regular file"), std::string::npos) << last_error();
  ::close(dir);

  bantam_model_params unset{};
  EXPECT_EQ(bantam_model_load_with_params(stories().c_str(), &unset), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("struct_size"), std::string::npos);
}

TEST(CApiModel, ErrorsArePerThread) {
  EXPECT_EQ(bantam_model_load("/nonexistent/a.gguf"), nullptr);
  std::string other;
  std::thread([&] { other = bantam_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_NE(last_error(), "");
}

TEST(CApiText, TokenizeAndDetokenize) {
  const Model model(bantam_model_load(stories().c_str()));
  ASSERT_NE(model.handle, nullptr) << last_error();
  const int32_t needed = bantam_tokenize(model.handle, "Once upon a time", 1, nullptr, 0);
  ASSERT_GT(needed, 2);
  std::vector<int32_t> ids(static_cast<size_t>(needed));
  EXPECT_EQ(bantam_tokenize(model.handle, "Once upon a time", 1, ids.data(), 2), needed);  // only 2 written
  EXPECT_EQ(bantam_tokenize(model.handle, "Once upon a time", 1, ids.data(), needed), needed);
  EXPECT_EQ(bantam_tokenize(model.handle, "Once upon a time", 0, nullptr, 0), needed - 1);  // no BOS
  char* text = bantam_detokenize(model.handle, ids.data(), needed);
  ASSERT_NE(text, nullptr) << last_error();
  EXPECT_EQ(std::string(text), " Once upon a time");  // SentencePiece's leading space
  bantam_free(text);

  EXPECT_EQ(bantam_tokenize(nullptr, "x", 1, nullptr, 0), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_tokenize(model.handle, nullptr, 1, nullptr, 0), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_tokenize(model.handle, "x", 1, nullptr, 4), BANTAM_ERROR_INVALID_ARGUMENT);
  const int32_t bad[] = {1, 9999};
  EXPECT_EQ(bantam_detokenize(model.handle, bad, 2), nullptr);
  EXPECT_NE(last_error().find("9999"), std::string::npos);
  EXPECT_EQ(bantam_detokenize(model.handle, nullptr, 3), nullptr);
  EXPECT_EQ(bantam_detokenize(nullptr, bad, 1), nullptr);
  EXPECT_EQ(bantam_model_n_vocab(nullptr), BANTAM_ERROR_INVALID_ARGUMENT);
}

const char* kTools = R"([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])";

TEST(CApiChat, RendersWithTheModelsOrAGivenTemplateAndTools) {
  const Model model(bantam_model_load(stories().c_str()));
  ASSERT_NE(model.handle, nullptr) << last_error();
  const bantam_chat_message messages[] = {{"system", "Be brief."}, {"user", "Hello there"}};
  char* fallback = bantam_chat_render(model.handle, messages, 2, nullptr, nullptr);
  ASSERT_NE(fallback, nullptr) << last_error();
  EXPECT_NE(std::string(fallback).find("Hello there"), std::string::npos) << fallback;
  bantam_free(fallback);

  const std::string qwen = bantam::test::read_file(bantam::test::shared("templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
  char* rendered = bantam_chat_render(model.handle, messages, 2, kTools, qwen.c_str());
  ASSERT_NE(rendered, nullptr) << last_error();
  const std::string prompt = rendered;
  bantam_free(rendered);
  EXPECT_NE(prompt.find("<|im_start|>user\nHello there<|im_end|>"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("get_weather"), std::string::npos) << prompt;
  EXPECT_EQ(prompt.substr(prompt.size() - 22), "<|im_start|>assistant\n");

  const int32_t n = bantam_chat_tokenize(model.handle, messages, 2, kTools, qwen.c_str(), nullptr, 0);
  ASSERT_GT(n, 10) << last_error();
  std::vector<int32_t> ids(static_cast<size_t>(n));
  EXPECT_EQ(bantam_chat_tokenize(model.handle, messages, 2, kTools, qwen.c_str(), ids.data(), n), n);
}

TEST(CApiChat, ErrorsSayWhatIsWrong) {
  const Model model(bantam_model_load(stories().c_str()));
  ASSERT_NE(model.handle, nullptr) << last_error();
  const bantam_chat_message messages[] = {{"user", "Hi"}};
  // The fallback format has no place for tools: refused rather than silently dropped.
  EXPECT_EQ(bantam_chat_render(model.handle, messages, 1, kTools, nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_TEMPLATE);
  EXPECT_NE(last_error().find("no place for tools"), std::string::npos) << last_error();
  const std::string qwen = bantam::test::read_file(bantam::test::shared("templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
  EXPECT_EQ(bantam_chat_render(model.handle, messages, 1, "[{not json", qwen.c_str()), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_TEMPLATE);
  EXPECT_EQ(bantam_chat_render(model.handle, messages, 1, nullptr, "{% if %}"), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_TEMPLATE);
  const bantam_chat_message broken[] = {{"user", nullptr}};
  EXPECT_EQ(bantam_chat_render(model.handle, broken, 1, nullptr, nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_chat_render(model.handle, nullptr, 1, nullptr, nullptr), nullptr);
  EXPECT_EQ(bantam_chat_render(nullptr, messages, 1, nullptr, nullptr), nullptr);
  EXPECT_EQ(bantam_chat_tokenize(nullptr, messages, 1, nullptr, nullptr, nullptr, 0), BANTAM_ERROR_INVALID_ARGUMENT);
}

TEST(CApiEmbed, UnitVectorsThatTellTextsApart) {
  const Model model(bantam_model_load(stories().c_str()));
  ASSERT_NE(model.handle, nullptr) << last_error();
  const int32_t n = bantam_embed(model.handle, "The cat sat on the mat.", 1, nullptr, 0);
  ASSERT_EQ(n, 64) << last_error();
  std::vector<float> a(64), b(64), c(64);
  ASSERT_EQ(bantam_embed(model.handle, "The cat sat on the mat.", 1, a.data(), 64), 64);
  ASSERT_EQ(bantam_embed(model.handle, "The cat sat on the mat.", 1, b.data(), 64), 64);
  ASSERT_EQ(bantam_embed(model.handle, "A dragon flew over the sea.", 1, c.data(), 64), 64);
  double norm = 0, same = 0;
  for (int i = 0; i < 64; ++i) norm += a[i] * a[i], same += std::abs(a[i] - c[i]);
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_EQ(a, b);
  EXPECT_GT(same, 1e-3);
  EXPECT_EQ(bantam_embed(nullptr, "x", 1, a.data(), 64), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_embed(model.handle, nullptr, 1, a.data(), 64), BANTAM_ERROR_INVALID_ARGUMENT);
}

TEST(CApiAdapter, NullArgumentsAreRefused) {
  EXPECT_EQ(bantam_adapter_load(nullptr, "x.gguf"), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_INVALID_ARGUMENT);
  const Model model(bantam_model_load(stories().c_str()));
  EXPECT_EQ(bantam_adapter_load(model.handle, nullptr), nullptr);
  EXPECT_EQ(bantam_adapter_load(model.handle, "/nonexistent/adapter.gguf"), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_LOAD);
  bantam_adapter_free(nullptr);
  bantam_model_free(nullptr);
}

}  // namespace
