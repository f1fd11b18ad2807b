// The C API end to end: load, tokenize, generate with a callback, errors as messages.
#include <gtest/gtest.h>

#include <string>

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
  bantam_session_params session_params{256, 1, 0};
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

TEST(CApi, ErrorsBecomeMessages) {
  EXPECT_EQ(bantam_model_load("/nonexistent/model.gguf"), nullptr);
  EXPECT_NE(std::string(bantam_last_error()).find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
