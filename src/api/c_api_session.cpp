// The C API, session side: sessions, generation (plain and chat), and saving/restoring state.
#include <fmt/format.h>

#include "api/c_api_impl.hpp"

using namespace bantam::c_api;

namespace {

bantam::KvCacheType kv_cache_type(bantam_kv_type type) {
  switch (type) {
    case BANTAM_KV_F16: return bantam::KvCacheType::F16;
    case BANTAM_KV_F32: return bantam::KvCacheType::F32;
    case BANTAM_KV_Q8_0: return bantam::KvCacheType::Q8_0;
    case BANTAM_KV_Q4_0: return bantam::KvCacheType::Q4_0;
  }
  throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("kv_type {} is not a bantam_kv_type", static_cast<int>(type)));
}

void add_adapters(bantam::SessionOptions& options, const bantam_adapter* const* adapters, const float* scales,
                  int32_t n_adapters) {
  if (n_adapters < 0 || (n_adapters > 0 && !adapters)) {
    throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("{} adapters at {}", n_adapters, adapters ? "an address" : "NULL"));
  }
  for (int32_t i = 0; i < n_adapters; ++i) {
    if (!adapters[i]) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("bantam_session_new: adapter {} is NULL", i));
    options.adapters.push_back({adapters[i]->adapter, scales ? scales[i] : 1.0f});
  }
}

bantam::GenerateOptions generate_options(const bantam_generate_params* given) {
  const bantam_generate_params p = read_params(given, bantam_generate_default_params(), "bantam_generate_params");
  bantam::GenerateOptions options;
  options.max_tokens = p.max_tokens;
  bantam::SamplingOptions& s = options.sampling;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repeat_penalty = p.repeat_penalty;
  s.frequency_penalty = p.frequency_penalty;
  s.presence_penalty = p.presence_penalty;
  s.penalty_last_n = p.penalty_last_n;
  s.seed = p.seed;
  if (p.n_stop < 0 || (p.n_stop > 0 && !p.stop)) {
    throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("{} stop strings at {}", p.n_stop, p.stop ? "an address" : "NULL"));
  }
  for (int32_t i = 0; i < p.n_stop; ++i) options.stop.emplace_back(require_text(p.stop[i], "a stop string"));
  if (p.json_schema) options.json_schema = p.json_schema;
  return options;
}

bantam_finish_reason finish_reason(bantam::StopReason reason) {
  switch (reason) {
    case bantam::StopReason::EndOfGeneration:
    case bantam::StopReason::GrammarComplete: return BANTAM_FINISH_END_OF_GENERATION;
    case bantam::StopReason::MaxTokens: return BANTAM_FINISH_MAX_TOKENS;
    case bantam::StopReason::StopString: return BANTAM_FINISH_STOP_STRING;
    case bantam::StopReason::ContextFull: return BANTAM_FINISH_CONTEXT_FULL;
    case bantam::StopReason::Cancelled: break;
    case bantam::StopReason::Error: break;  // Session::generate throws instead of returning it
  }
  return BANTAM_FINISH_CANCELLED;
}

// Generates after prompt and fills *result (up to its struct_size) when given.
void run_generate(bantam_session* session, std::span<const int32_t> prompt, const bantam_generate_params* params,
                  bantam_token_callback callback, void* user_data, bantam_generate_result* result) {
  bantam::Session& s = *require(session, "session").session;
  if (result && result->struct_size < sizeof(size_t)) {
    throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, "result: struct_size is not set");
  }
  const auto r = s.generate(prompt, generate_options(params), [&](const bantam::TokenEvent& e) {
    return !callback || callback(user_data, e.id, e.text.data(), e.text.size(), e.logprob) != 0;
  });
  if (!result) return;
  const bantam_generate_result filled{sizeof(bantam_generate_result),
                                      static_cast<int32_t>(r.tokens.size()),
                                      finish_reason(r.stop_reason),
                                      static_cast<int32_t>(r.prompt_tokens),
                                      static_cast<int32_t>(r.reused_tokens),
                                      r.prompt_seconds,
                                      r.generation_seconds};
  const size_t size = std::min(result->struct_size, sizeof(bantam_generate_result));
  std::memcpy(static_cast<void*>(result), &filled, size);
  result->struct_size = size;
}

std::span<const int32_t> prompt_span(const int32_t* prompt, int32_t n_prompt) {
  if (n_prompt < 0 || (n_prompt > 0 && !prompt)) {
    throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, fmt::format("prompt: {} ids at {}", n_prompt, prompt ? "an address" : "NULL"));
  }
  return {prompt, static_cast<size_t>(n_prompt)};
}

}  // namespace

extern "C" {

bantam_session_params bantam_session_default_params(void) {
  const bantam::SessionOptions defaults;
  return {sizeof(bantam_session_params), defaults.context_length, defaults.threads, defaults.batch_size,
          BANTAM_KV_F16, nullptr, nullptr, 0};
}

bantam_session* bantam_session_new_with_adapters(const bantam_model* model, const bantam_session_params* params,
                                                 const bantam_adapter* const* adapters, const float* scales,
                                                 int32_t n_adapters) {
  bantam_session* result = nullptr;
  guarded(BANTAM_ERROR_INVALID_ARGUMENT, [&] {
    const auto& m = require(model, "model").model;
    const bantam_session_params defaults = bantam_session_default_params();
    const bantam_session_params p = read_params(params, defaults, "bantam_session_params");
    bantam::SessionOptions options;
    options.context_length = p.context_length > 0 ? p.context_length : defaults.context_length;
    options.threads = p.threads;
    options.batch_size = p.batch_size > 0 ? p.batch_size : defaults.batch_size;
    options.kv_type = kv_cache_type(p.kv_type);
    add_adapters(options, p.adapters, p.adapter_scales, p.n_adapters);
    add_adapters(options, adapters, scales, n_adapters);
    result = new bantam_session{std::make_unique<bantam::Session>(m, options)};
  });
  return result;
}

bantam_session* bantam_session_new(const bantam_model* model, const bantam_session_params* params) {
  return bantam_session_new_with_adapters(model, params, nullptr, nullptr, 0);
}

void bantam_session_free(bantam_session* session) { delete session; }

void bantam_session_cancel(bantam_session* session) {
  if (session) session->session->cancel();
}

bantam_status bantam_session_reset(bantam_session* session) {
  return guarded(BANTAM_ERROR_INVALID_ARGUMENT, [&] { require(session, "session").session->reset(); });
}

int32_t bantam_session_tokens(const bantam_session* session, int32_t* ids, int32_t capacity) {
  int32_t n = 0;
  const auto status = guarded(BANTAM_ERROR_INVALID_ARGUMENT, [&] {
    n = copy_out<int32_t>(require(session, "session").session->tokens(), ids, capacity);
  });
  return count_or_status(status, n);
}

bantam_generate_params bantam_generate_default_params(void) {
  const bantam::GenerateOptions defaults;
  const bantam::SamplingOptions& s = defaults.sampling;
  return {sizeof(bantam_generate_params),
          defaults.max_tokens,
          s.temperature,
          s.top_k,
          s.top_p,
          s.min_p,
          s.repeat_penalty,
          s.frequency_penalty,
          s.presence_penalty,
          s.penalty_last_n,
          s.seed,
          nullptr,
          0,
          nullptr};
}

bantam_status bantam_session_generate(bantam_session* session, const int32_t* prompt, int32_t n_prompt,
                                      const bantam_generate_params* params, bantam_token_callback callback,
                                      void* user_data, bantam_generate_result* result) {
  return guarded(BANTAM_ERROR_GENERATION, [&] {
    run_generate(session, prompt_span(prompt, n_prompt), params, callback, user_data, result);
  });
}

bantam_status bantam_session_chat(bantam_session* session, const bantam_chat_message* messages, int32_t n_messages,
                                  const char* tools_json, const char* template_source,
                                  const bantam_generate_params* params, bantam_token_callback callback,
                                  void* user_data, bantam_generate_result* result) {
  return guarded(BANTAM_ERROR_GENERATION, [&] {
    const bantam::Model& m = require(session, "session").session->model();
    std::vector<int32_t> prompt;
    try {
      prompt = m.chat_tokens(chat_messages(messages, n_messages), chat_options(tools_json, template_source));
    } catch (const Failure&) {
      throw;
    } catch (const bantam::Error& e) {
      throw Failure(BANTAM_ERROR_TEMPLATE, e.what());
    }
    run_generate(session, prompt, params, callback, user_data, result);
  });
}

int32_t bantam_generate(bantam_session* session, const int32_t* prompt, int32_t n_prompt,
                        const bantam_generate_params* params, bantam_token_callback callback, void* user_data) {
  bantam_generate_result result{sizeof(bantam_generate_result), 0, BANTAM_FINISH_MAX_TOKENS, 0, 0, 0, 0};
  const auto status = bantam_session_generate(session, prompt, n_prompt, params, callback, user_data, &result);
  return count_or_status(status, result.n_tokens);
}

bantam_status bantam_session_save_state(const bantam_session* session, void* buffer, size_t capacity, size_t* size) {
  return guarded(BANTAM_ERROR_INVALID_ARGUMENT, [&] {
    const std::vector<uint8_t> state = require(session, "session").session->save_state();
    if (size) *size = state.size();
    if (!buffer || capacity < state.size()) {
      throw Failure(BANTAM_ERROR_BUFFER_TOO_SMALL,
                    fmt::format("the session state needs {} bytes, the buffer holds {}", state.size(), buffer ? capacity : 0));
    }
    std::memcpy(buffer, state.data(), state.size());
  });
}

bantam_status bantam_session_restore_state(bantam_session* session, const void* buffer, size_t size) {
  return guarded(BANTAM_ERROR_STATE_MISMATCH, [&] {
    bantam::Session& s = *require(session, "session").session;
    if (!buffer && size > 0) throw Failure(BANTAM_ERROR_INVALID_ARGUMENT, "buffer is NULL");
    s.restore_state({static_cast<const uint8_t*>(buffer), size});
  });
}

}  // extern "C"
