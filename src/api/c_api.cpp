// The C API: thin wrappers over bantam.hpp that turn exceptions into bantam_last_error().
#include "bantam/bantam.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "bantam/bantam.hpp"
#include "bantam/error.hpp"

struct bantam_model {
  std::shared_ptr<const bantam::Model> model;
};

struct bantam_adapter {
  std::shared_ptr<const bantam::Adapter> adapter;
};

struct bantam_session {
  std::unique_ptr<bantam::Session> session;
};

namespace {

thread_local std::string g_last_error;

template <typename F>
auto guarded(F&& body, decltype(body()) on_error) noexcept -> decltype(body()) {
  try {
    g_last_error.clear();
    return body();
  } catch (const std::exception& e) {
    g_last_error = e.what();
  } catch (...) {
    g_last_error = "unknown error";
  }
  return on_error;
}

}  // namespace

extern "C" {

const char* bantam_last_error(void) { return g_last_error.c_str(); }
void bantam_free(void* p) { std::free(p); }

bantam_model* bantam_model_load(const char* path) {
  return guarded([&] { return new bantam_model{bantam::Model::load(path ? path : "")}; },
                 static_cast<bantam_model*>(nullptr));
}

void bantam_model_free(bantam_model* model) { delete model; }

int32_t bantam_model_n_vocab(const bantam_model* model) { return model ? model->model->info().n_vocab : 0; }

int32_t bantam_tokenize(const bantam_model* model, const char* text, int32_t add_special, int32_t* ids,
                        int32_t capacity) {
  return guarded(
      [&] {
        const auto tokens = model->model->tokenize(text ? text : "", add_special != 0, true);
        for (size_t i = 0; i < tokens.size() && static_cast<int32_t>(i) < capacity; ++i) ids[i] = tokens[i];
        return static_cast<int32_t>(tokens.size());
      },
      -1);
}

char* bantam_detokenize(const bantam_model* model, const int32_t* ids, int32_t n_ids) {
  return guarded(
      [&] {
        const std::string text = model->model->detokenize(std::span(ids, static_cast<size_t>(std::max(0, n_ids))));
        char* out = static_cast<char*>(std::malloc(text.size() + 1));
        if (!out) throw std::bad_alloc();
        std::memcpy(out, text.c_str(), text.size() + 1);
        return out;
      },
      static_cast<char*>(nullptr));
}

bantam_adapter* bantam_adapter_load(const bantam_model* model, const char* path) {
  return guarded(
      [&] {
        if (!model) throw bantam::Error("bantam_adapter_load: no model given");
        return new bantam_adapter{bantam::Adapter::load(path ? path : "", *model->model)};
      },
      static_cast<bantam_adapter*>(nullptr));
}

void bantam_adapter_free(bantam_adapter* adapter) { delete adapter; }

bantam_session* bantam_session_new_with_adapters(const bantam_model* model, const bantam_session_params* params,
                                                 const bantam_adapter* const* adapters, const float* scales,
                                                 int32_t n_adapters) {
  return guarded(
      [&] {
        if (!model) throw bantam::Error("bantam_session_new: no model given");
        bantam::SessionOptions options;
        if (params && params->context_length > 0) options.context_length = params->context_length;
        if (params) options.threads = params->threads;
        if (params && params->batch_size > 0) options.batch_size = params->batch_size;
        for (int32_t i = 0; i < n_adapters; ++i) {
          if (!adapters || !adapters[i]) throw bantam::Error(fmt::format("bantam_session_new: adapter {} is NULL", i));
          options.adapters.push_back({adapters[i]->adapter, scales ? scales[i] : 1.0f});
        }
        return new bantam_session{std::make_unique<bantam::Session>(model->model, options)};
      },
      static_cast<bantam_session*>(nullptr));
}

bantam_session* bantam_session_new(const bantam_model* model, const bantam_session_params* params) {
  return bantam_session_new_with_adapters(model, params, nullptr, nullptr, 0);
}

void bantam_session_free(bantam_session* session) { delete session; }

void bantam_session_cancel(bantam_session* session) {
  if (session) session->session->cancel();
}

bantam_generate_params bantam_generate_default_params(void) {
  const bantam::GenerateOptions defaults;
  const bantam::SamplingOptions& s = defaults.sampling;
  return {defaults.max_tokens, s.temperature, s.top_k, s.top_p, s.min_p, s.repeat_penalty, s.seed, nullptr, 0};
}

int32_t bantam_generate(bantam_session* session, const int32_t* prompt, int32_t n_prompt,
                        const bantam_generate_params* params, bantam_token_callback callback, void* user_data) {
  return guarded(
      [&] {
        const bantam_generate_params p = params ? *params : bantam_generate_default_params();
        bantam::GenerateOptions options;
        options.max_tokens = p.max_tokens;
        options.sampling.temperature = p.temperature;
        options.sampling.top_k = p.top_k;
        options.sampling.top_p = p.top_p;
        options.sampling.min_p = p.min_p;
        options.sampling.repeat_penalty = p.repeat_penalty;
        options.sampling.seed = p.seed;
        for (int32_t i = 0; i < p.n_stop; ++i) options.stop.emplace_back(p.stop[i]);
        const auto result = session->session->generate(
            std::span(prompt, static_cast<size_t>(std::max(0, n_prompt))), options,
            [&](const bantam::TokenEvent& e) {
              return !callback || callback(user_data, e.id, e.text.data(), e.text.size(), e.logprob) != 0;
            });
        return static_cast<int32_t>(result.tokens.size());
      },
      -1);
}

}  // extern "C"
