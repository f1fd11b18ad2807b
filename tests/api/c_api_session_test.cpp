// The C API's sessions: generation results and finish reasons, streaming with cancel,
// log-probabilities, JSON-schema output, chat, adapters through params, and saving/restoring state
// (a restored session continues exactly as an uninterrupted one; mismatched states are refused).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/bantam.h"
#include "test_support.hpp"

namespace {

std::string shared_path(const std::string& relative) { return bantam::test::shared(relative).string(); }
std::string last_error() { return bantam_last_error(); }

struct Stream {
  std::vector<int32_t> ids;
  std::string text;
  std::vector<float> logprobs;
  int stop_after = -1;  // return 0 after this many tokens
};

int on_token(void* user, int32_t id, const char* text, size_t len, float logprob) {
  auto& s = *static_cast<Stream*>(user);
  if (id >= 0) s.ids.push_back(id), s.logprobs.push_back(logprob);
  s.text.append(text, len);
  return s.stop_after < 0 || static_cast<int>(s.ids.size()) < s.stop_after;
}

class CApiSession : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = bantam_model_load(shared_path("models/weights/stories260K.gguf").c_str());
    ASSERT_NE(model_, nullptr) << last_error();
    prompt_.resize(16);
    prompt_.resize(static_cast<size_t>(bantam_tokenize(model_, "Once upon a time", 1, prompt_.data(), 16)));
  }
  void TearDown() override {
    for (bantam_session* s : sessions_) bantam_session_free(s);
    bantam_model_free(model_);
  }
  bantam_session* session(bantam_kv_type kv = BANTAM_KV_F16, int64_t context = 256, const bantam_model* m = nullptr) {
    bantam_session_params params = bantam_session_default_params();
    params.context_length = context;
    params.threads = 1;
    params.kv_type = kv;
    bantam_session* s = bantam_session_new(m ? m : model_, &params);
    EXPECT_NE(s, nullptr) << last_error();
    sessions_.push_back(s);
    return s;
  }
  static bantam_generate_params greedy(int max_tokens) {
    bantam_generate_params params = bantam_generate_default_params();
    params.temperature = 0;
    params.max_tokens = max_tokens;
    return params;
  }
  bantam_generate_result generate(bantam_session* s, const std::vector<int32_t>& prompt,
                                  const bantam_generate_params& params, Stream& out) {
    bantam_generate_result result{};
    result.struct_size = sizeof result;
    EXPECT_EQ(bantam_session_generate(s, prompt.data(), static_cast<int32_t>(prompt.size()), &params, on_token, &out,
                                      &result),
              BANTAM_OK)
        << last_error();
    return result;
  }
  std::vector<uint8_t> save(const bantam_session* s) {
    size_t size = 0;
    EXPECT_EQ(bantam_session_save_state(s, nullptr, 0, &size), BANTAM_ERROR_BUFFER_TOO_SMALL);
    std::vector<uint8_t> state(size);
    EXPECT_EQ(bantam_session_save_state(s, state.data(), state.size(), &size), BANTAM_OK) << last_error();
    EXPECT_EQ(size, state.size());
    return state;
  }

  bantam_model* model_ = nullptr;
  std::vector<int32_t> prompt_;
  std::vector<bantam_session*> sessions_;
};

TEST_F(CApiSession, ResultsFinishReasonsAndLogprobs) {
  bantam_session* s = session();
  Stream out;
  const auto result = generate(s, prompt_, greedy(12), out);
  EXPECT_EQ(result.n_tokens, 12);
  EXPECT_EQ(result.finish_reason, BANTAM_FINISH_MAX_TOKENS);
  EXPECT_EQ(result.n_prompt_tokens, static_cast<int32_t>(prompt_.size()));
  EXPECT_EQ(out.text.rfind(", there was a little girl", 0), 0u) << out.text;
  ASSERT_EQ(out.logprobs.size(), 12u);
  for (float lp : out.logprobs) EXPECT_LE(lp, 0.0f);
  // The cache holds the prompt and all but the last token (which was never evaluated).
  EXPECT_EQ(bantam_session_tokens(s, nullptr, 0), static_cast<int32_t>(prompt_.size()) + 11);
  std::vector<int32_t> held(prompt_.size());
  EXPECT_EQ(bantam_session_tokens(s, held.data(), static_cast<int32_t>(held.size())), static_cast<int32_t>(prompt_.size()) + 11);
  EXPECT_EQ(held, prompt_);

  // The same prompt again reuses the cache.
  Stream again;
  EXPECT_EQ(generate(s, prompt_, greedy(12), again).n_reused_tokens, static_cast<int32_t>(prompt_.size()) - 1);
  EXPECT_EQ(again.ids, out.ids);

  bantam_generate_params stop = greedy(40);
  const char* stops[] = {"little"};
  stop.stop = stops;
  stop.n_stop = 1;
  Stream stopped;
  EXPECT_EQ(generate(s, prompt_, stop, stopped).finish_reason, BANTAM_FINISH_STOP_STRING);
  EXPECT_EQ(stopped.text, ", there was a ");

  Stream cancelled;
  cancelled.stop_after = 3;
  const auto r = generate(s, prompt_, greedy(40), cancelled);
  EXPECT_EQ(r.finish_reason, BANTAM_FINISH_CANCELLED);
  EXPECT_EQ(r.n_tokens, 3);

  ASSERT_EQ(bantam_session_reset(s), BANTAM_OK);
  EXPECT_EQ(bantam_session_tokens(s, nullptr, 0), 0);
  EXPECT_EQ(bantam_generate(s, prompt_.data(), static_cast<int32_t>(prompt_.size()), nullptr, nullptr, nullptr) > 0, true);
}

TEST_F(CApiSession, JsonSchemaConstrainsTheOutput) {
  bantam_session* s = session();
  bantam_generate_params params = greedy(60);
  params.json_schema = R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
    "age": {"type": "integer"}}, "required": ["name", "age"], "additionalProperties": false})";
  Stream out;
  const auto result = generate(s, prompt_, params, out);
  EXPECT_EQ(result.finish_reason, BANTAM_FINISH_END_OF_GENERATION) << out.text;
  const auto doc = nlohmann::json::parse(out.text);
  EXPECT_TRUE(doc["name"].is_string()) << out.text;
  EXPECT_TRUE(doc["age"].is_number_integer()) << out.text;

  params.json_schema = R"({"type": "string", "pattern": "a+"})";
  EXPECT_EQ(bantam_session_generate(s, prompt_.data(), static_cast<int32_t>(prompt_.size()), &params, nullptr, nullptr,
                                    nullptr),
            BANTAM_ERROR_GENERATION);
  EXPECT_NE(last_error().find("pattern"), std::string::npos) << last_error();
}

TEST_F(CApiSession, ChatStreamsTheAssistantTurn) {
  bantam_session* s = session();
  const std::string qwen = bantam::test::read_file(bantam::test::shared("templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
  const bantam_chat_message messages[] = {{"user", "Tell me a story."}};
  const bantam_generate_params params = greedy(8);
  Stream out;
  bantam_generate_result result{};
  result.struct_size = sizeof result;
  ASSERT_EQ(bantam_session_chat(s, messages, 1, nullptr, qwen.c_str(), &params, on_token, &out, &result), BANTAM_OK)
      << last_error();
  EXPECT_EQ(result.n_tokens, 8);
  EXPECT_FALSE(out.text.empty());
  const int32_t n_prompt = bantam_chat_tokenize(model_, messages, 1, nullptr, qwen.c_str(), nullptr, 0);
  EXPECT_EQ(result.n_prompt_tokens, n_prompt);

  EXPECT_EQ(bantam_session_chat(s, messages, 1, nullptr, "{% for %}", &params, nullptr, nullptr, nullptr),
            BANTAM_ERROR_TEMPLATE);
  EXPECT_EQ(bantam_session_chat(nullptr, messages, 1, nullptr, nullptr, &params, nullptr, nullptr, nullptr),
            BANTAM_ERROR_INVALID_ARGUMENT);
}

TEST_F(CApiSession, AdaptersInParamsMatchNewWithAdapters) {
  const std::string path = shared_path("models/adapters/stories260K-lora-qvd-r8-f32.gguf");
  bantam_adapter* adapter = bantam_adapter_load(model_, path.c_str());
  ASSERT_NE(adapter, nullptr) << last_error();
  const float scale = 0.75f;
  bantam_session_params params = bantam_session_default_params();
  params.context_length = 256;
  params.threads = 1;
  params.adapters = &adapter;
  params.adapter_scales = &scale;
  params.n_adapters = 1;
  bantam_session* via_params = bantam_session_new(model_, &params);
  params.n_adapters = 0;
  bantam_session* via_call = bantam_session_new_with_adapters(model_, &params, &adapter, &scale, 1);
  bantam_adapter_free(adapter);
  ASSERT_NE(via_params, nullptr) << last_error();
  ASSERT_NE(via_call, nullptr) << last_error();
  sessions_.push_back(via_params);
  sessions_.push_back(via_call);
  Stream a, b, base;
  generate(via_params, prompt_, greedy(16), a);
  generate(via_call, prompt_, greedy(16), b);
  generate(session(), prompt_, greedy(16), base);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_NE(a.ids, base.ids);

  // A state saved with the adapter is refused by a session without it.
  const auto state = save(via_params);
  EXPECT_EQ(bantam_session_restore_state(session(), state.data(), state.size()), BANTAM_ERROR_STATE_MISMATCH);
  EXPECT_NE(last_error().find("adapters"), std::string::npos) << last_error();
  EXPECT_EQ(bantam_session_restore_state(via_call, state.data(), state.size()), BANTAM_OK) << last_error();
}

// Suspend after 10 tokens, restore in a fresh session, continue: the same tokens as 24 at once.
// (Q8_0 caches need heads of 32; stories260K's are 8 wide.)
TEST_F(CApiSession, RestoredStateContinuesLikeAnUninterruptedSession) {
  for (bantam_kv_type kv : {BANTAM_KV_F16, BANTAM_KV_F32}) {
    Stream whole;
    generate(session(kv), prompt_, greedy(24), whole);
    ASSERT_EQ(whole.ids.size(), 24u);

    bantam_session* first = session(kv);
    Stream head;
    generate(first, prompt_, greedy(10), head);
    const auto state = save(first);
    bantam_session_free(first);
    sessions_.erase(std::find(sessions_.begin(), sessions_.end(), first));

    bantam_session* resumed = session(kv);
    ASSERT_EQ(bantam_session_restore_state(resumed, state.data(), state.size()), BANTAM_OK) << last_error();
    std::vector<int32_t> sequence = prompt_;
    sequence.insert(sequence.end(), head.ids.begin(), head.ids.end());
    EXPECT_EQ(bantam_session_tokens(resumed, nullptr, 0), static_cast<int32_t>(sequence.size()) - 1);
    Stream tail;
    const auto result = generate(resumed, sequence, greedy(14), tail);
    EXPECT_EQ(result.n_reused_tokens, static_cast<int32_t>(sequence.size()) - 1);  // nothing recomputed
    std::vector<int32_t> joined = head.ids;
    joined.insert(joined.end(), tail.ids.begin(), tail.ids.end());
    EXPECT_EQ(joined, whole.ids) << "kv type " << kv;
  }
}

// Sliding-window layers keep a ring of positions: a state saved after the ring wrapped round
// still continues exactly (phi3's window is 32; a batch of 4 gives rings of 35).
TEST_F(CApiSession, RestoredStateContinuesOnSlidingWindowLayers) {
  bantam_model* phi3 = bantam_model_load(shared_path("models/synthetic/synth-phi3-f16.gguf").c_str());
  ASSERT_NE(phi3, nullptr) << last_error();
  bantam_session_params params = bantam_session_default_params();
  params.context_length = 128;
  params.threads = 1;
  params.batch_size = 4;
  bantam_session* whole = bantam_session_new(phi3, &params);
  bantam_session* first = bantam_session_new(phi3, &params);
  bantam_session* resumed = bantam_session_new(phi3, &params);
  bantam_model_free(phi3);
  for (bantam_session* s : {whole, first, resumed}) {
    ASSERT_NE(s, nullptr) << last_error();
    sessions_.push_back(s);
  }
  Stream all, head, tail;
  generate(whole, prompt_, greedy(70), all);
  generate(first, prompt_, greedy(45), head);
  ASSERT_EQ(head.ids.size(), 45u);
  const auto state = save(first);
  ASSERT_EQ(bantam_session_restore_state(resumed, state.data(), state.size()), BANTAM_OK) << last_error();
  std::vector<int32_t> sequence = prompt_;
  sequence.insert(sequence.end(), head.ids.begin(), head.ids.end());
  EXPECT_EQ(generate(resumed, sequence, greedy(25), tail).n_reused_tokens, static_cast<int32_t>(sequence.size()) - 1);
  std::vector<int32_t> joined = head.ids;
  joined.insert(joined.end(), tail.ids.begin(), tail.ids.end());
  EXPECT_EQ(joined, all.ids);
}

TEST_F(CApiSession, MismatchedOrDamagedStatesAreRefused) {
  bantam_session* s = session();
  Stream out;
  generate(s, prompt_, greedy(6), out);
  const auto state = save(s);
  const auto refused = [&](bantam_session* target, const std::vector<uint8_t>& bytes, const std::string& says) {
    EXPECT_EQ(bantam_session_restore_state(target, bytes.data(), bytes.size()), BANTAM_ERROR_STATE_MISMATCH);
    EXPECT_NE(last_error().find(says), std::string::npos) << last_error();
    EXPECT_EQ(bantam_session_tokens(target, nullptr, 0), 0);  // left empty
  };

  bantam_model* other = bantam_model_load(shared_path("models/weights/stories260K-Q8_0.gguf").c_str());
  ASSERT_NE(other, nullptr) << last_error();
  refused(session(BANTAM_KV_F16, 256, other), state, "another model");
  bantam_model_free(other);
  refused(session(BANTAM_KV_F32), state, "KV cache type");
  refused(session(BANTAM_KV_F16, 8), state, "do not fit");
  refused(session(), std::vector<uint8_t>(state.begin(), state.begin() + static_cast<long>(state.size()) / 2), "checksum");
  refused(session(), std::vector<uint8_t>(state.begin(), state.begin() + 10), "truncated");
  refused(session(), {}, "truncated");
  auto corrupted = state;
  corrupted[corrupted.size() / 2] ^= 0x40;
  refused(session(), corrupted, "checksum");
  auto future = state;
  future[8] = 99;  // the version field
  refused(session(), future, "version 99");
  auto foreign = state;
  foreign[0] = 'X';
  refused(session(), foreign, "not a bantam session state");

  size_t size = 0;
  std::vector<uint8_t> small(10);
  EXPECT_EQ(bantam_session_save_state(s, small.data(), small.size(), &size), BANTAM_ERROR_BUFFER_TOO_SMALL);
  EXPECT_EQ(size, state.size());
  EXPECT_NE(last_error().find(std::to_string(state.size())), std::string::npos);
  EXPECT_EQ(bantam_session_save_state(nullptr, small.data(), small.size(), &size), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_session_restore_state(nullptr, state.data(), state.size()), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_session_restore_state(s, nullptr, 5), BANTAM_ERROR_INVALID_ARGUMENT);
}

TEST_F(CApiSession, NullAndBadArgumentsAreStatuses) {
  EXPECT_EQ(bantam_session_new(nullptr, nullptr), nullptr);
  EXPECT_EQ(bantam_last_error_code(), BANTAM_ERROR_INVALID_ARGUMENT);
  bantam_session_params unset{};
  EXPECT_EQ(bantam_session_new(model_, &unset), nullptr);
  EXPECT_NE(last_error().find("struct_size"), std::string::npos);
  bantam_session_params bad_kv = bantam_session_default_params();
  bad_kv.kv_type = static_cast<bantam_kv_type>(7);
  EXPECT_EQ(bantam_session_new(model_, &bad_kv), nullptr);
  EXPECT_NE(last_error().find("kv_type 7"), std::string::npos);
  bantam_session_params huge = bantam_session_default_params();
  huge.context_length = int64_t{1} << 40;
  EXPECT_EQ(bantam_session_new(model_, &huge), nullptr);
  EXPECT_NE(bantam_last_error_code(), BANTAM_OK);

  bantam_session* s = session();
  const bantam_generate_params params = greedy(4);
  EXPECT_EQ(bantam_session_generate(nullptr, prompt_.data(), 3, &params, nullptr, nullptr, nullptr),
            BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_session_generate(s, nullptr, 3, &params, nullptr, nullptr, nullptr), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_session_generate(s, prompt_.data(), 0, &params, nullptr, nullptr, nullptr), BANTAM_ERROR_GENERATION);
  EXPECT_NE(last_error().find("empty"), std::string::npos);
  bantam_generate_params no_stops = params;
  no_stops.n_stop = 2;
  EXPECT_EQ(bantam_session_generate(s, prompt_.data(), 3, &no_stops, nullptr, nullptr, nullptr),
            BANTAM_ERROR_INVALID_ARGUMENT);
  bantam_generate_result unset_result{};
  EXPECT_EQ(bantam_session_generate(s, prompt_.data(), 3, &params, nullptr, nullptr, &unset_result),
            BANTAM_ERROR_INVALID_ARGUMENT);
  std::vector<int32_t> too_long(300, 5);
  EXPECT_EQ(bantam_generate(s, too_long.data(), 300, &params, nullptr, nullptr), BANTAM_ERROR_GENERATION);
  EXPECT_NE(last_error().find("context"), std::string::npos) << last_error();
  EXPECT_EQ(bantam_session_tokens(nullptr, nullptr, 0), BANTAM_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(bantam_session_reset(nullptr), BANTAM_ERROR_INVALID_ARGUMENT);
  bantam_session_cancel(nullptr);
  bantam_session_free(nullptr);
}

}  // namespace
